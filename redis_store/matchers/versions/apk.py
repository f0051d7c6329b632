"""Alpine (apk) versions as claircore reads them (``alpine-matcher``).

claircore uses ``knqyf263/go-apk-version`` (041fdbb8), a Go port of apk-tools 2.x's
tokenizer. This module reproduces that port token for token, including its reader
behaviour, because the alpine matcher's answers depend on its quirks:

* after a ``.0…`` run of zeros the next token is forced to DIGIT without reading the separator,
  so a following pre-release suffix is not seen: ``1.10.0_alpha1 > 1.10.0`` and
  ``0.2.0 < 0.2.0_rc1``; a zero run is worth minus its length (``1.0 > 1.00``);
* the character after ``-`` is skipped unchecked (``1.0-x2`` reads like ``1.0-r2``) and
  ``-r`` needs no number;
* digit runs accumulate in a wrapping int64 (Unicode decimal digits count as ``r - '0'``);
* the empty string is valid.

:func:`compare` orders any strings, valid or not, as the Go code does; claircore's matcher
checks :func:`valid` on both sides first and answers "not vulnerable" if either fails.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from redis_store.matchers.versions import InvalidVersion

__all__ = ["ApkVersion", "compare", "parse", "valid"]

# Token types, in go-apk-version's order (their order matters in compare).
_INVALID: Final = -1
_DIGIT_OR_ZERO: Final = 0
_DIGIT: Final = 1
_LETTER: Final = 2
_SUFFIX: Final = 3
_SUFFIX_NO: Final = 4
_REVISION_NO: Final = 5
_END: Final = 6

_PRE_SUFFIXES: Final = ("alpha", "beta", "pre", "rc")
_POST_SUFFIXES: Final = ("cvs", "svn", "git", "hg", "p")

# A token: (value of the token read, type of the token that follows).
_Stream = tuple[tuple[int, int], ...]


def _wrap64(n: int) -> int:
    """Two's-complement int64 wrap, as Go's int arithmetic does."""
    return ((n + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)


def _is_digit(c: str) -> bool:
    """Go's unicode.IsDigit: ASCII digits, or any Unicode decimal digit beyond Latin-1."""
    return "0" <= c <= "9" or (c > "\xff" and c.isdecimal())


def _is_lower(c: str) -> bool:
    """Go's unicode.IsLower: general category Ll (not Python's wider islower())."""
    if c < "\x80":
        return "a" <= c <= "z"
    return unicodedata.category(c) == "Ll"


class _Reader:
    """The subset of a Go bufio.Reader over a string that the tokenizer uses.

    Positions count characters, which matches Go's bytes here: every lookahead the tokenizer
    compares (suffix names) is ASCII. ``UnreadRune`` works only right after a successful
    ``ReadRune``; ``Peek`` and ``Discard`` cancel it, as in Go.
    """

    __slots__ = ("last", "pos", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.pos = 0
        self.last = False  # can UnreadRune undo the last read?

    def read(self) -> str:
        """ReadRune: the next character, or "" at the end (Go's rune 0 with io.EOF)."""
        if self.pos >= len(self.s):
            self.last = False
            return ""
        c = self.s[self.pos]
        self.pos += 1
        self.last = True
        return c

    def unread(self) -> None:
        if self.last:
            self.pos -= 1
            self.last = False

    def at_end(self) -> bool:
        """Peek(1) == io.EOF."""
        self.last = False
        return self.pos >= len(self.s)

    def starts_with(self, prefix: str) -> bool:
        """Peek(len(prefix)) equals prefix."""
        self.last = False
        return self.s.startswith(prefix, self.pos)

    def discard(self, n: int) -> None:
        self.last = False
        self.pos += n


def _next_token(rd: _Reader, token: int) -> int:
    """go-apk-version's nextToken: the type of the token after the one just read."""
    n = _INVALID
    r = rd.read()
    if r == "":
        n = _END
    if token in (_DIGIT, _DIGIT_OR_ZERO) and _is_lower(r):
        n = _LETTER
    elif token == _LETTER and _is_digit(r):
        n = _DIGIT
    elif token == _SUFFIX and _is_digit(r):
        n = _SUFFIX_NO
    elif r == ".":
        n = _DIGIT_OR_ZERO
    elif r == "_":
        n = _SUFFIX
    elif r == "-":
        # The character after "-" is consumed whatever it is; only the end is refused.
        n = _INVALID if rd.read() == "" else _REVISION_NO
    if n in (_END, _LETTER, _DIGIT, _SUFFIX_NO):
        rd.unread()
    if n < token:
        if (
            (n == _DIGIT_OR_ZERO and token == _DIGIT)
            or (n == _SUFFIX and token == _SUFFIX_NO)
            or (n == _DIGIT and token == _LETTER)
        ):
            return n
        return _INVALID
    return n


def _get_token(rd: _Reader, token: int) -> tuple[int, int]:
    """go-apk-version's getToken: (value of this token, type of the next one)."""
    value = 0
    forced = _INVALID
    r = rd.read()
    if token == _DIGIT_OR_ZERO and r == "0":
        # A run of leading zeros is worth minus its length, and forces DIGIT next without
        # reading what follows (the quirk that hides "_alpha" after ".0").
        while True:
            value -= 1
            r = rd.read()
            if r == "":
                break
            if r != "0":
                rd.unread()
                break
        forced = _DIGIT
    elif token in (_DIGIT_OR_ZERO, _DIGIT, _SUFFIX_NO, _REVISION_NO):
        while _is_digit(r):
            value = _wrap64(value * 10 + ord(r) - 48)
            r = rd.read()
            if r == "":
                break
        rd.unread()
    elif token == _LETTER:
        value = ord(r) if r else 0
    elif token == _SUFFIX:
        rd.unread()
        for i, name in enumerate(_PRE_SUFFIXES):
            if rd.starts_with(name):
                value = i - len(_PRE_SUFFIXES)
                rd.discard(len(name))
                break
        if value == 0:
            value = -1
            for i, name in enumerate(_POST_SUFFIXES):
                if rd.starts_with(name):
                    value = i
                    rd.discard(len(name))
                    break
            if value < 0:
                return -1, _INVALID
    else:
        return -1, _INVALID
    if rd.at_end():
        return value, _END
    if forced != _INVALID:
        return value, forced
    return value, _next_token(rd, token)


@lru_cache(maxsize=65536)
def _stream(s: str) -> _Stream:
    """Every (value, next type) getToken yields for ``s``, up to END or INVALID.

    Each string's tokens depend only on its own text, so the two sides of a comparison can
    be tokenized separately (and cached).
    """
    rd = _Reader(s)
    out: list[tuple[int, int]] = []
    token = _DIGIT
    while token not in (_END, _INVALID):
        value, token = _get_token(rd, token)
        out.append((value, token))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ApkVersion:
    """A version that go-apk-version's ``Valid`` accepts."""

    text: str
    tokens: _Stream = field(repr=False, compare=False)

    def __str__(self) -> str:
        return self.text


def valid(s: str) -> bool:
    """go-apk-version's ``Valid``: do the tokens run to the end without an invalid one?"""
    return _stream(s)[-1][1] == _END


@lru_cache(maxsize=65536)
def parse(s: str) -> ApkVersion:
    """``NewVersion``: the version if :func:`valid`, else InvalidVersion."""
    tokens = _stream(s)
    if tokens[-1][1] != _END:
        raise InvalidVersion(f"apk: invalid version {s!r}")
    return ApkVersion(s, tokens)


def compare(a: str | ApkVersion, b: str | ApkVersion) -> int:
    """go-apk-version's ``Compare``: -1, 0 or 1; any strings, valid or not, can be ordered."""
    ta = a.tokens if isinstance(a, ApkVersion) else _stream(a)
    tb = b.tokens if isinstance(b, ApkVersion) else _stream(b)
    if ta == tb:
        return 0
    at = bt = _DIGIT
    av = bv = 0
    i = 0
    while at == bt and at != _END and at != _INVALID and av == bv:
        av, at = ta[i]
        bv, bt = tb[i]
        i += 1
    if av != bv:
        return -1 if av < bv else 1
    if at == bt:
        return 0
    # Equal so far: the longer version wins, unless what follows is a pre-release suffix.
    if at == _SUFFIX and ta[i][0] < 0:
        return -1
    if bt == _SUFFIX and tb[i][0] < 0:
        return 1
    if at > bt:
        return -1
    return 1 if at < bt else 0
