"""The OSV rule claircore's ``python``, ``java-maven`` and ``ruby-gem`` matchers share.

claircore's OSV updater writes an ECOSYSTEM range into ``fixed_in_version`` as a URL query,
``introduced=…&fixed=…`` or ``introduced=…&lastAffected=…``, and each matcher reads it back
with Go's ``url.ParseQuery`` and its own version scheme. Go's query rules are kept, since
they decide what a bound is: ``&`` separates pairs, a ``;`` anywhere is an error, ``+`` is a
space (so ``fixed=1.0+local.2`` has the bound ``1.0 local.2``), ``%xx`` is decoded and a bad
escape is an error, the first value of a repeated key wins and an empty value is no bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from redis_store.matchers.versions import InvalidVersion

__all__ = ["bounds", "parse_query", "vulnerable"]

_HEX: Final = frozenset("0123456789abcdefABCDEF")
#: surrogateescape's stand-ins for undecodable bytes -> U+FFFD, one per byte, as Go reads them.
_UNDECODABLE: Final = {c: 0xFFFD for c in range(0xDC80, 0xDD00)}


def _unescape(s: str, query: str) -> str:
    """Go's ``url.QueryUnescape``: check every ``%xx``, then decode it and ``+``."""
    if "%" not in s:
        return s.replace("+", " ")
    parts = s.replace("+", " ").split("%")
    out = bytearray(parts[0].encode("utf-8", "surrogatepass"))
    for p in parts[1:]:
        if len(p) < 2 or p[0] not in _HEX or p[1] not in _HEX:
            raise InvalidVersion(
                f"invalid OSV range {query!r}: invalid URL escape {('%' + p)[:3]!r}"
            )
        out.append(int(p[:2], 16))
        out += p[2:].encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "surrogateescape").translate(_UNDECODABLE)


@lru_cache(maxsize=8192)
def parse_query(query: str) -> Mapping[str, str]:
    """Go's ``url.ParseQuery`` reduced to ``Values.Get``: each key's first value.

    Raises :class:`InvalidVersion` where Go returns an error (a ``;``, a bad ``%`` escape);
    as in Go, that error wins even when other pairs decoded. Cached, hence read-only.
    """
    out: dict[str, str] = {}
    error: InvalidVersion | None = None
    for pair in query.split("&"):
        if ";" in pair:
            error = error or InvalidVersion(
                f"invalid OSV range {query!r}: invalid semicolon separator in query"
            )
            continue
        if not pair:
            continue
        key, _, value = pair.partition("=")
        try:
            key = _unescape(key, query)
            value = _unescape(value, query)
        except InvalidVersion as e:
            error = error or e
            continue
        out.setdefault(key, value)
    if error is not None:
        raise error
    return MappingProxyType(out)


def bounds(fixed_in_version: str) -> tuple[str, str, str]:
    """``(introduced, fixed, lastAffected)`` from a ``fixed_in_version``; ``""`` = not set."""
    q = parse_query(fixed_in_version)
    return q.get("introduced", ""), q.get("fixed", ""), q.get("lastAffected", "")


def vulnerable(
    record_version: str, fixed_in_version: str, compare: Callable[[str, str], int]
) -> bool:
    """claircore's OSV ``Vulnerable``: is ``record_version`` inside the encoded range?

    ``""`` is always vulnerable. Otherwise the record version must parse (checked first, as
    claircore does, even when no bound follows), then: below ``introduced`` is not
    vulnerable; else below ``fixed``, or else at most ``lastAffected``, or else (no upper
    bound) vulnerable. ``compare`` is the scheme's comparison of two version strings and
    raises :class:`InvalidVersion` for one it cannot parse; so does a bad query.
    """
    if fixed_in_version == "":
        return True
    compare(record_version, record_version)  # parses the record version
    introduced, fixed, last_affected = bounds(fixed_in_version)
    if introduced and compare(record_version, introduced) < 0:
        return False
    if fixed:
        return compare(record_version, fixed) < 0
    if last_affected:
        return compare(record_version, last_affected) <= 0
    return True
