"""RubyGems versions as claircore's ``ruby/version.go`` reads them (the ``ruby-gem`` scheme).

claircore's port differs from RubyGems, and so does this one, on purpose: segments are split
on ``.`` only (``-`` first becomes ``.pre.``), an all-digit segment is a number and anything
else is one string compared byte-wise, and strings sort before numbers. Hence
``1.0.0.beta10 < 1.0.0.beta9``, ``2.0.0.b2 > 2.0.0.b10`` and ``0.8.11.6.rc0 > 0.8.11.6.rc``
(RubyGems splits ``beta10`` into ``beta``, ``10``). As in claircore, trailing zero numbers are
dropped, and in a version with a letter the zeros just before the first string are dropped.

Comparison pads the shorter version with zeros. :func:`parse` turns a version into a key
whose plain tuple order is exactly that comparison, so :func:`compare` is one tuple compare.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, TypeAlias

from redis_store.matchers.versions import InvalidVersion

__all__ = ["Key", "compare", "parse"]

#: One block of a key: a string or non-zero number and how many zeros stand before it, or
#: the end marker (zeros for ever). See :func:`parse`.
Block: TypeAlias = "tuple[int, int, str] | tuple[int, int, int] | tuple[int]"
Key: TypeAlias = "tuple[Block, ...]"

# claircore's anchoredVersion; Go's \s is [\t\n\f\r ] (no \v, nothing beyond ASCII).
_ANCHORED: Final = re.compile(
    r"[\t\n\f\r ]*([0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?[\t\n\f\r ]*"
)
_SPACE: Final = "\t\n\f\r "
_END: Final[Block] = (1,)
_INT_DIGITS_CHUNK: Final = 4000


def _number(digits: str) -> int:
    """The value of a run of ASCII digits, any length (Go compares them as padded strings)."""
    if len(digits) <= _INT_DIGITS_CHUNK:
        return int(digits)
    n = 0
    for i in range(0, len(digits), _INT_DIGITS_CHUNK):
        chunk = digits[i : i + _INT_DIGITS_CHUNK]
        n = n * 10 ** len(chunk) + int(chunk)
    return n


@lru_cache(maxsize=16384)
def parse(s: str) -> Key:
    """claircore's ``ruby.NewVersion``, as a sort key; :class:`InvalidVersion` if rejected.

    The canonical segments ``z^k1 e1 z^k2 e2 … en`` (``z`` a zero, ``e`` a string or non-zero
    number) become blocks ``(0, k, string)`` or ``(2, -k, number)`` and a final ``(1,)``.
    Block order is the zero-padded segment order: at the first difference, a string loses to
    a zero and a number beats it, whichever side has fewer zeros before it meets it first.
    """
    if _ANCHORED.fullmatch(s) is None:
        raise InvalidVersion(f"invalid ruby gem version {s!r}")
    v = s.strip(_SPACE) or "0"  # the pattern leaves only ASCII blanks at the ends
    segs: list[int | str] = []
    prerelease = False
    for p in v.replace("-", ".pre.").split("."):
        if not p:
            continue
        if p.isdigit():  # the pattern allows ASCII only
            segs.append(_number(p))
        else:
            prerelease = True
            segs.append(p)
    # Remove trailing zero segments.
    while segs and segs[-1] == 0:
        segs.pop()
    # In a prerelease, remove the zeros that stand just before the first string.
    if prerelease:
        end = next((i for i, x in enumerate(segs) if type(x) is str), -1)
        if end != -1:
            start = end
            while start > 0 and segs[start - 1] == 0:
                start -= 1
            del segs[start:end]
    key: list[Block] = []
    zeros = 0
    for x in segs:
        if isinstance(x, str):
            key.append((0, zeros, x))
            zeros = 0
        elif x == 0:
            zeros += 1
        else:
            key.append((2, -zeros, x))
            zeros = 0
    key.append(_END)
    return tuple(key)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1: claircore's ``ruby.Version.Compare`` of two version strings.

    Raises :class:`InvalidVersion` if either does not parse.
    """
    x = parse(a)
    y = parse(b)
    return (x > y) - (x < y)
