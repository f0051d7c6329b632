"""Debian versions as claircore reads them (``debian-matcher``, ``ubuntu-matcher``).

claircore uses ``knqyf263/go-deb-version`` pinned at 09fca49. Parsing follows that library
exactly, because a parse failure is an error that aborts ``AffectedManifests``:

* surrounding whitespace is trimmed; the epoch is the text before the first ``:`` and must be
  a base-10 int64 (Go's ``strconv.Atoi``: an optional sign, ASCII digits) that is not negative;
* upstream is the rest up to the last ``-``; it must be non-empty, start with an ASCII digit and
  hold only letters, digits and ``.-+~:_`` (letters and digits in the Unicode sense);
* the revision (after the last ``-``) may be empty and may hold letters, digits and ``+.~_``.

So ``_`` and an empty revision (``1.0-``) are accepted where dpkg refuses them, and ``:`` in
the revision or an upstream starting with a letter are refused.

Comparison is dpkg's: epoch as an integer, then upstream, then revision, each as alternating
non-digit runs (``~`` before the end, before letters, before other characters; byte-wise on
UTF-8 as the Go code does) and digit runs (as integers, saturated at int64 like ``Atoi``).

One deliberate difference: the pinned library loops forever when two upstreams (or two
revisions) differ in spelling but not in value (``1.0-1`` vs ``1.00-1``, ``2.0`` vs
``2.0-0``). Here such parts compare equal and the comparison moves on, as dpkg and the fixed
library do; :func:`claircore_hangs` tells when claircore would not have returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from redis_store.matchers.versions import InvalidVersion

__all__ = ["DebVersion", "claircore_hangs", "compare", "is_zero", "parse", "valid"]

_INT64_MAX: Final = (1 << 63) - 1

# Go's unicode.IsSpace, which strings.TrimSpace uses (Python's isspace also has \x1c-\x1f).
_GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ATOI: Final = re.compile(r"[+-]?[0-9]+")
_DIGITS: Final = re.compile(r"[0-9]+")
_ASCII_UPSTREAM: Final = re.compile(r"[0-9A-Za-z.+~:_-]*")
_ASCII_REVISION: Final = re.compile(r"[0-9A-Za-z.+~_]*")
_UPSTREAM_SYMBOLS: Final = frozenset(".-+~:_")
_REVISION_SYMBOLS: Final = frozenset("+.~_")
# The end of a non-digit run: after "~", before everything else.
_END: Final = "\x02"


def _order_table() -> dict[int, str]:
    """Map each UTF-8 byte (read as Latin-1) to a character ordered as go-deb-version's order().

    order() ranks ``~`` as -1, the end of the run as 0, letters by their value and any other
    byte by value + 256; it tests ``unicode.IsLetter(rune(byte))``, i.e. Latin-1 letters.
    """
    table: dict[int, str] = {}
    for b in range(256):
        if b == ord("~"):
            table[b] = "\x01"
        elif chr(b).isalpha():
            table[b] = chr(b)
        else:
            table[b] = chr(b + 256)
    return table


_ORDER: Final = _order_table()

# A part's key: alternating non-digit-run keys (str) and digit-run values (int).
_PartKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class DebVersion:
    """A parsed Debian version; ``key`` orders versions as dpkg does."""

    epoch: int
    upstream: str
    revision: str
    key: tuple[int, _PartKey, _PartKey] = field(repr=False, compare=False)

    def __str__(self) -> str:
        """go-deb-version's ``String()``: the epoch only when positive, ``-rev`` only if set."""
        out = f"{self.epoch}:{self.upstream}" if self.epoch > 0 else self.upstream
        return f"{out}-{self.revision}" if self.revision else out


def _part_key(part: str) -> _PartKey:
    """The alternating (non-digit key, number) sequence of one part, ready for tuple order.

    Go pads the shorter sequence with ("", 0) pairs. A trailing ``_END`` reproduces that: after
    the first pair no non-digit run is empty, so its key never equals ``_END`` and padding is
    decided at the first extra pair. The only pair that can equal the padding is a leading
    zero-valued digit run, so an empty part is given that pair explicitly.
    """
    if part == "":
        return (_END, 0, _END)
    out: list[str | int] = []
    pos = 0
    if not part[0].isascii() or not part[0].isdigit():
        # Non-digit run first; a leading digit gets an empty run (Go prepends "").
        m = _DIGITS.search(part)
        end = m.start() if m else len(part)
        out.append(part[:end].encode().decode("latin-1").translate(_ORDER) + _END)
        pos = end
    else:
        out.append(_END)
    while pos < len(part):
        m = _DIGITS.match(part, pos)
        if m is None:  # cannot happen: runs alternate
            raise AssertionError(part)
        out.append(min(int(m.group()), _INT64_MAX))
        pos = m.end()
        if pos == len(part):
            break
        nxt = _DIGITS.search(part, pos)
        end = nxt.start() if nxt else len(part)
        out.append(part[pos:end].encode().decode("latin-1").translate(_ORDER) + _END)
        pos = end
    if isinstance(out[-1], str):
        out.append(0)  # a trailing non-digit run is followed by the padding number 0
    out.append(_END)
    return tuple(out)


def _allowed(text: str, symbols: frozenset[str]) -> bool:
    """Go's check: every character a Unicode letter (L*), decimal digit (Nd) or a symbol."""
    return all(c.isalpha() or c.isdecimal() or c in symbols for c in text)


def _invalid(version: str, why: str) -> InvalidVersion:
    return InvalidVersion(f"deb: invalid version {version!r}: {why}")


@lru_cache(maxsize=65536)
def parse(s: str) -> DebVersion:
    """Parse ``s`` as go-deb-version's ``NewVersion`` does; raise InvalidVersion where it errs."""
    ver = s.strip(_GO_SPACE)
    epoch = 0
    if ":" in ver:
        text, ver = ver.split(":", 1)
        if not _ATOI.fullmatch(text):
            raise _invalid(s, "epoch is not a number")
        epoch = int(text)
        if epoch > _INT64_MAX or epoch < -_INT64_MAX - 1:
            raise _invalid(s, "epoch out of range")
        if epoch < 0:
            raise _invalid(s, "epoch is negative")
    upstream, sep, revision = ver.rpartition("-")
    if not sep:
        upstream, revision = ver, ""
    if upstream == "":
        raise _invalid(s, "upstream_version is empty")
    if not ("0" <= upstream[0] <= "9"):
        raise _invalid(s, "upstream_version must start with digit")
    if not _ASCII_UPSTREAM.fullmatch(upstream) and not _allowed(upstream, _UPSTREAM_SYMBOLS):
        raise _invalid(s, "upstream_version includes invalid character")
    if not _ASCII_REVISION.fullmatch(revision) and not _allowed(revision, _REVISION_SYMBOLS):
        raise _invalid(s, "debian_revision includes invalid character")
    return DebVersion(epoch, upstream, revision, (epoch, _part_key(upstream), _part_key(revision)))


def valid(s: str) -> bool:
    """go-deb-version's ``Valid``: does ``s`` parse?"""
    try:
        parse(s)
    except InvalidVersion:
        return False
    return True


def _as_version(v: str | DebVersion) -> DebVersion:
    return v if isinstance(v, DebVersion) else parse(v)


def compare(a: str | DebVersion, b: str | DebVersion) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with or after ``b`` (strings are parsed first)."""
    ka = _as_version(a).key
    kb = _as_version(b).key
    if ka == kb:
        return 0
    return -1 if ka < kb else 1


def is_zero(v: str | DebVersion) -> bool:
    """Is ``String()`` of the parsed version ``"0"``? The ubuntu matcher's "every version" mark.

    True for ``0``, ``0:0``, ``00:0`` and ``0-`` alike, since String() drops a zero epoch and an
    empty revision.
    """
    p = _as_version(v)
    return p.epoch == 0 and p.upstream == "0" and p.revision == ""


def claircore_hangs(a: str | DebVersion, b: str | DebVersion) -> bool:
    """Would claircore's pinned go-deb-version loop forever comparing ``a`` with ``b``?

    It does when the versions are not identical, the epochs are equal, and the upstreams differ
    in text but not in value (then the revisions are never reached), or the upstreams are
    identical and the revisions differ in text but not in value.
    """
    pa, pb = _as_version(a), _as_version(b)
    if pa.epoch != pb.epoch or (pa.upstream, pa.revision) == (pb.upstream, pb.revision):
        return False
    if pa.upstream != pb.upstream:
        return pa.key[1] == pb.key[1]
    return pa.key[2] == pb.key[2]
