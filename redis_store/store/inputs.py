"""Inputs checked once and remembered: the hot calls validate a scanner or a digest once.

Every call names its scanners and digests again, and checking them (three strings and a
JSON encoding per scanner, a pattern per digest) cost more than the rest of a call answered
from the local cache. What passed :mod:`redis_store.store.validate` once is remembered here
by value: a scanner by its three exact strings (``str`` subclasses are checked every time,
since they are taken as their plain value), a digest string by the string. Whatever is not
remembered goes through the full check, which raises the same errors as before.
"""

from __future__ import annotations

from typing import Final

from redis_store.errors import DigestError
from redis_store.models import Digest, Layer, Manifest
from redis_store.models.digest import parse_digest
from redis_store.store import validate

#: Scanner identities remembered; past this many the table starts again.
MAX_IDENTITIES: Final = 4096

_identities: dict[tuple[str, str, str], bytes] = {}


def scanner_identity(scanner: object, what: str) -> bytes:
    """``validate.scanner_identity``, remembered for scanners of plain strings."""
    try:
        key = (scanner.name, scanner.version, scanner.kind)  # type: ignore[attr-defined]
    except AttributeError:
        return validate.scanner_identity(scanner, what)  # raises, naming what is wrong
    if type(key[0]) is str and type(key[1]) is str and type(key[2]) is str:
        found = _identities.get(key)
        if found is None:
            found = validate.scanner_identity(scanner, what)
            if len(_identities) >= MAX_IDENTITIES:
                _identities.clear()
            _identities[key] = found
        return found
    return validate.scanner_identity(scanner, what)


def scanner_identities(scanners: object, what: str = "scanners") -> list[bytes]:
    """``validate.scanner_identities``, each scanner remembered as above."""
    items = validate.sequence(scanners, what)
    return [scanner_identity(s, f"{what}[{i}]") for i, s in enumerate(items)]


def known_identity(scanner: object) -> bytes | None:
    """The identity of a scanner checked before, or None (never raises)."""
    try:
        key = (scanner.name, scanner.version, scanner.kind)  # type: ignore[attr-defined]
    except Exception:
        return None
    if type(key[0]) is str and type(key[1]) is str and type(key[2]) is str:
        return _identities.get(key)
    return None


def digest(value: object, what: str) -> Digest:
    """``validate.digest``, with digest strings parsed once (``parse_digest``)."""
    kind = type(value)
    if kind is Digest:
        return value  # type: ignore[return-value]  # just checked
    if kind is Layer or kind is Manifest:
        inner = value.hash  # type: ignore[attr-defined]
        if type(inner) is Digest:
            return inner
    elif kind is str:
        try:
            return parse_digest(value)
        except DigestError:
            pass  # the full check names the argument
    return validate.digest(value, what)


def known_digest(value: object) -> Digest | None:
    """The digest of a valid digest argument (a Digest, a Layer or Manifest holding one, a
    digest string), or None (never raises)."""
    kind = type(value)
    if kind is Digest:
        return value  # type: ignore[return-value]  # just checked
    if kind is Layer or kind is Manifest:
        inner = value.hash  # type: ignore[attr-defined]
        return inner if type(inner) is Digest else None
    if kind is str:
        try:
            return parse_digest(value)
        except Exception:
            return None
    return None


__all__ = [
    "digest",
    "known_digest",
    "known_identity",
    "scanner_identities",
    "scanner_identity",
]
