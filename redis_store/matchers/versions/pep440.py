"""PEP 440 as claircore's ``pkg/pep440`` reads it (the ``python`` matcher's scheme).

claircore is not PEP 440, and the port must not be either: a record is vulnerable here exactly
when claircore says so. Kept on purpose:

* the regex is searched, not anchored, and is case-sensitive: ``1.0RC1`` reads as ``1.0``,
  ``2.1.0.wr1.2.0`` as ``2.1.0``, ``1.0 local.2`` as ``1.0``; alternatives are tried in
  order, so ``1.0alpha1`` reads as ``1.0a0`` (``a`` matches before ``alpha``);
* a zero or missing post or dev number is dropped (``1.0.dev0 == 1.0``, ``1.0.post == 1.0``);
* only 5 release numbers are kept; every number is cast to int32 and wraps;
* the local version is ignored;
* a number beyond int64 (Go's ``strconv.Atoi``) is a parse error.

Comparison is claircore's ``Version.Compare`` on the 10-int vector
``[epoch, r1..r5, pre label, pre number, post, dev]``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from redis_store.matchers.versions import InvalidVersion
from redis_store.models import Version

__all__ = ["KIND", "compare", "parse"]

KIND: Final = "pep440"

# claircore's pattern (itself from the "packaging" project), group for group.
_PATTERN: Final = re.compile(
    r"v?"
    r"(?:"
    r"(?:(?P<epoch>[0-9]+)!)?"
    r"(?P<release>[0-9]+(?:\.[0-9]+)*)"
    r"(?P<pre>[-_\.]?(?P<pre_l>(a|b|c|rc|alpha|beta|pre|preview))[-_\.]?(?P<pre_n>[0-9]+)?)?"
    r"(?P<post>(?:-(?P<post_n1>[0-9]+))"
    r"|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?))?"
    r"(?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?"
    r")"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?"
)
_G_EPOCH, _G_RELEASE, _G_PRE_L, _G_PRE_N, _G_POST_N1, _G_POST_N2, _G_DEV_N = (
    _PATTERN.groupindex[n]
    for n in ("epoch", "release", "pre_l", "pre_n", "post_n1", "post_n2", "dev_n")
)

#: Pre-release label (after claircore's spelling normalisation) -> vector slot 6.
_PRE_LABEL: Final[dict[str, int]] = {
    "a": -3,
    "alpha": -3,
    "b": -2,
    "beta": -2,
    "c": -1,
    "rc": -1,
    "pre": -1,
    "preview": -1,
}
_INT64_MAX: Final = 2**63 - 1
_INT32_MIN: Final = -(2**31)


def _i32(x: int) -> int:
    """Go's ``int32(x)``: keep the low 32 bits, two's complement."""
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def _atoi(digits: str, s: str) -> int:
    """Go's ``strconv.Atoi`` on a run of ASCII digits: anything beyond int64 is an error."""
    if len(digits) < 19:
        return int(digits)
    stripped = digits.lstrip("0")
    if len(stripped) > 19 or (n := int(stripped or "0")) > _INT64_MAX:
        raise InvalidVersion(f"invalid pep440 version {s!r}: {digits} is out of range")
    return n


@lru_cache(maxsize=16384)
def parse(s: str) -> Version:
    """The ``pep440`` normalized Version claircore's ``Parse(s).Version()`` gives.

    Raises :class:`InvalidVersion` when nothing in ``s`` looks like a version (no digits) or
    when a number does not fit in int64. Cached: the same versions recur across records.
    """
    m = _PATTERN.search(s)
    if m is None:
        raise InvalidVersion(f"invalid pep440 version {s!r}")
    epoch, release, pre_l, pre_n, post_n1, post_n2, dev_n = m.group(
        _G_EPOCH, _G_RELEASE, _G_PRE_L, _G_PRE_N, _G_POST_N1, _G_POST_N2, _G_DEV_N
    )
    v = [0] * 10
    if epoch is not None:
        v[0] = _i32(_atoi(epoch, s))
    # All release numbers are parsed (so any may be out of range), the first 5 kept.
    for i, n in enumerate(release.split(".")):
        x = _atoi(n, s)
        if i < 5:
            v[1 + i] = _i32(x)
    if pre_l is not None:
        v[6] = _PRE_LABEL[pre_l]
    if pre_n is not None:
        v[7] = _i32(_atoi(pre_n, s))
    post = 0
    if post_n1 is not None:
        post = _atoi(post_n1, s)
    elif post_n2 is not None:
        post = _atoi(post_n2, s)
    v[8] = _i32(post)
    dev = _atoi(dev_n, s) if dev_n is not None else 0
    # The tests are on the untruncated ints, as in Go (``v.Dev != 0``, ``v.Post != 0``).
    if dev != 0:
        if post != 0 or v[6] != 0:
            v[9] = _i32(-_i32(dev))
        else:
            v[6] = _i32(_INT32_MIN + _i32(dev))
    return Version(KIND, tuple(v))


def compare(a: str, b: str) -> int:
    """-1, 0 or 1: claircore's ``pep440.Version.Compare`` (vector order) of two strings.

    Raises :class:`InvalidVersion` if either does not parse.
    """
    x = parse(a).v
    y = parse(b).v
    return (x > y) - (x < y)
