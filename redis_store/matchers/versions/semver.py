"""Semantic versions as claircore normalizes them: the ``semver`` Version kind (gobin, OSV).

Two readers produce ``Version("semver", (0, major, minor, patch, 0, 0, 0, 0, 0, 0))``, both
dropping the pre-release and build metadata (``v2.0.0-rc.1`` is ``2.0.0``, a pseudo-version
``v0.0.0-2020…-abc`` is ``0.0.0``):

* :func:`parse` is gobin's ``ParseVersion`` (what the indexer stores for a Go module). It
  keeps only the first 9 characters of each number (``v1.2.2023071210521689159162`` has
  patch ``202307121``; leading zeros count), so it never fails on size.
* :func:`parse_semver_v1` + :func:`from_semver` are Masterminds semver v1.5.0's
  ``NewVersion`` and claircore's ``FromSemver`` (what the OSV updater stores in a
  vulnerability's Range): numbers are read as int64 (larger is an error) and cast to int32,
  which wraps. :func:`inc_patch` is ``IncPatch``, used for ``last_affected`` bounds.

Comparison is the plain Version order (``Version.Compare``); a Range is ``[lower, upper)``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, NamedTuple

from redis_store.matchers.versions import InvalidVersion
from redis_store.models import Version

__all__ = [
    "KIND",
    "SemverV1",
    "compare",
    "from_semver",
    "inc_patch",
    "last_affected_upper",
    "parse",
    "parse_semver_v1",
    "unbounded_upper",
]

KIND: Final = "semver"

# The same pattern in gobin (exe.go) and Masterminds v1.5.0 (SemVerRegex, anchored).
_PATTERN: Final = re.compile(
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_INT64_MAX: Final = 2**63 - 1
_TAIL: Final = (0,) * 6


def _i32(x: int) -> int:
    """Go's ``int32(x)``: keep the low 32 bits, two's complement."""
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def _i64(x: int) -> int:
    """Go's int64 overflow: keep the low 64 bits, two's complement."""
    return ((x + 2**63) & 0xFFFFFFFFFFFFFFFF) - 2**63


def _fit_int32(seg: str) -> int:
    """gobin's ``fitInt32``: the first 9 characters, so at most 999999999."""
    return int(seg[:9]) if seg else 0


@lru_cache(maxsize=16384)
def parse(s: str) -> Version:
    """gobin's ``ParseVersion``: ``^v?N(.N)?(.N)?(-pre)?(+build)?$`` to a ``semver`` Version.

    Raises :class:`InvalidVersion` for anything else (``(devel)``, ``1.2.3.4``, ``V1``).
    """
    m = _PATTERN.fullmatch(s)
    if m is None:
        raise InvalidVersion(f"invalid semver version {s!r}")
    major, minor, patch = m.group(1, 2, 3)
    return Version(
        KIND,
        (
            0,
            _fit_int32(major),
            _fit_int32(minor[1:]) if minor else 0,
            _fit_int32(patch[1:]) if patch else 0,
            *_TAIL,
        ),
    )


def compare(a: str, b: str) -> int:
    """-1, 0 or 1: the order of the two versions' gobin normalized forms."""
    x = parse(a).v
    y = parse(b).v
    return (x > y) - (x < y)


class SemverV1(NamedTuple):
    """Masterminds semver v1.5.0's ``Version``: int64 numbers, pre-release, metadata."""

    major: int
    minor: int
    patch: int
    pre: str = ""
    metadata: str = ""
    original: str = ""

    def __str__(self) -> str:
        """``String()``: ``M.m.p[-pre][+metadata]``, without a ``v``."""
        out = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            out += f"-{self.pre}"
        if self.metadata:
            out += f"+{self.metadata}"
        return out


def _parse_int64(digits: str, s: str) -> int:
    """``strconv.ParseInt(digits, 10, 64)`` on ASCII digits; out of range is an error."""
    stripped = digits.lstrip("0")
    if len(stripped) > 19 or (n := int(stripped or "0")) > _INT64_MAX:
        raise InvalidVersion(f"invalid semver version {s!r}: {digits} is out of range")
    return n


def parse_semver_v1(s: str) -> SemverV1:
    """Masterminds v1.5.0 ``NewVersion``; :class:`InvalidVersion` if it fails."""
    m = _PATTERN.fullmatch(s)
    if m is None:
        raise InvalidVersion(f"invalid semver version {s!r}")
    major, minor, patch, _, pre, _, _, metadata, _ = m.groups(default="")
    return SemverV1(
        _parse_int64(major, s),
        _parse_int64(minor[1:], s) if minor else 0,
        _parse_int64(patch[1:], s) if patch else 0,
        pre,
        metadata,
        s,
    )


def inc_patch(v: SemverV1) -> SemverV1:
    """``IncPatch``: drop pre-release and metadata; bump the patch only if there was no
    pre-release (build metadata alone still bumps, whatever v1.5.0's comment says)."""
    patch = v.patch if v.pre else _i64(v.patch + 1)
    nxt = v._replace(patch=patch, pre="", metadata="")
    prefix = "v" if v.original[:1] == "v" else ""
    return nxt._replace(original=prefix + str(nxt))


def from_semver(v: SemverV1) -> Version:
    """claircore's ``FromSemver``: ``[0, int32(major), int32(minor), int32(patch), 0…]``."""
    return Version(KIND, (0, _i32(v.major), _i32(v.minor), _i32(v.patch), *_TAIL))


def last_affected_upper(s: str) -> Version:
    """The exclusive upper bound the OSV updater stores for ``last_affected: s``."""
    return from_semver(inc_patch(parse_semver_v1(s)))


def unbounded_upper(kind: str = KIND) -> Version:
    """The upper bound for a range with no end: ``V[0] = 65535``, the lower bound's kind."""
    return Version(kind, (65535, 0, 0, 0, 0, 0, 0, 0, 0, 0))
