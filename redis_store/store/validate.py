"""Input checks shared by every store method: clear errors before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, TypeVar

import orjson

from redis_store.errors import DigestError, InvalidInputError
from redis_store.models import Digest, IndexReport, Layer, Manifest, Vulnerability

T = TypeVar("T")
_U64_MAX: Final = 2**64 - 1


def digest(value: object, what: str) -> Digest:
    """A manifest or layer argument as a canonical Digest (Layer and Manifest accepted)."""
    if type(value) is Digest:
        return value
    if isinstance(value, Layer | Manifest):
        value = value.hash
    if isinstance(value, str):
        try:
            return Digest(value)
        except DigestError as e:
            raise DigestError(f"{what}: {e}") from None
    raise DigestError(f"{what}: expected a digest string, got {type(value).__name__}")


def scanner_identity(scanner: object, what: str) -> bytes:
    """The registry key of a scanner: any object with str name, version and kind."""
    try:
        fields = [scanner.name, scanner.version, scanner.kind]  # type: ignore[attr-defined]
    except AttributeError:
        raise InvalidInputError(
            f"{what}: a scanner needs name, version and kind, got {type(scanner).__name__}"
        ) from None
    if not all(isinstance(f, str) for f in fields):
        raise InvalidInputError(f"{what}: scanner name, version and kind must be strings")
    return orjson.dumps(fields)


def scanner_identities(scanners: object, what: str = "scanners") -> list[bytes]:
    items = sequence(scanners, what)
    return [scanner_identity(s, f"{what}[{i}]") for i, s in enumerate(items)]


def sequence(value: object, what: str) -> list[Any]:
    """Any iterable but a string, as a list."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInputError(f"{what}: expected a list, got {type(value).__name__}")
    return list(value)


def items_of(value: object, cls: type[T], what: str) -> list[T]:
    """A list whose every element is a ``cls``."""
    items = sequence(value, what)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise InvalidInputError(
                f"{what}[{i}]: expected {cls.__name__}, got {type(item).__name__}"
            )
    return items


def entity_id(value: object, what: str) -> int:
    """An ID the store assigned: a decimal string of a non-zero unsigned 64-bit integer."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise InvalidInputError(f"{what}: {value!r} is not an ID this store assigned")
    n = int(value)
    if n == 0 or n > _U64_MAX:
        raise InvalidInputError(f"{what}: {value!r} is not an ID this store assigned")
    return n


def report(value: object, what: str = "report") -> IndexReport:
    """A report the store can keep: it must have a manifest digest and decode back."""
    if not isinstance(value, IndexReport):
        raise InvalidInputError(f"{what}: expected IndexReport, got {type(value).__name__}")
    if value.hash is None or value.hash == "":
        raise DigestError(f"{what}.hash: a report needs its manifest digest")
    digest(value.hash, f"{what}.hash")
    for pid, pkg in (value.packages or {}).items():
        for p, where in ((pkg, ""), (pkg.source, ".source")):
            det = p.detector if p is not None else None
            if det is not None and any(":" in f for f in (det.name, det.version, det.kind)):
                raise InvalidInputError(
                    f"{what}.packages[{pid!r}]{where}.detector: a ':' in a detector's name,"
                    " version or kind would make the stored report unreadable"
                )
    for pid, envs in (value.environments or {}).items():
        for i, env in enumerate(envs or ()):
            if env is not None and not env.introduced_in:
                raise DigestError(
                    f"{what}.environments[{pid!r}][{i}].introduced_in: missing layer digest"
                )
    return value


def vulnerability(value: object, what: str = "vulnerability") -> Vulnerability:
    """A vulnerability AffectedManifests can answer: it must name a package."""
    if not isinstance(value, Vulnerability):
        raise InvalidInputError(f"{what}: expected Vulnerability, got {type(value).__name__}")
    if value.package is None:
        raise InvalidInputError(f"{what}.package: a vulnerability needs a package")
    if not isinstance(value.package.name, str) or not value.package.name:
        raise InvalidInputError(f"{what}.package.name: a vulnerability needs a package name")
    return value
