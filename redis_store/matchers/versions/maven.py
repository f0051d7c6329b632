"""Maven versions as claircore's ``internal/maven`` reads them (the ``java-maven`` scheme).

A version is a tree: ``.`` separates items of a list, ``-`` and a switch between digits and
letters open a nested list. Trailing null items (``0``, ``""``, empty lists) are clipped.
Lists are compared item by item, a missing item comparing as null: ``0`` to a number, ``""``
to a string, item by item to a list. Kept from claircore on purpose:

* ``release``, ``ga`` and ``final`` are the empty qualifier, so ``2.0.10.RELEASE == 2.0.10``
  and ``1release == 1`` (Maven itself says ``RELEASE`` is newer);
* a version whose last item is an empty number (``1.0.``, ``1.0-``, ``1..``) is an error,
  which makes the ``java-maven`` matcher fail;
* an empty item between separators counts as ``0``, as a number after digits and as the
  string ``"0"`` (an unknown qualifier) after letters (``a..b``);
* numbers have no size limit; a non-ASCII digit is a digit that cannot be read, an error.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final, TypeAlias

from redis_store.matchers.versions import InvalidVersion

__all__ = ["Component", "compare", "parse"]

#: A parsed item: a number, a qualifier already mapped to its sort string, or a nested list.
Component: TypeAlias = "int | str | tuple[Component, ...]"
_Raw: TypeAlias = "int | str | list[_Raw]"

#: claircore's qualifier table (from Maven's ComparableVersion); unknown ones sort after all.
_QUALIFIERS: Final[dict[str, str]] = {
    "alpha": "0",
    "a": "0",
    "beta": "1",
    "b": "1",
    "milestone": "2",
    "m": "2",
    "rc": "3",
    "cr": "3",
    "snapshot": "4",
    "": "5",
    "ga": "5",
    "final": "5",
    "release": "5",
    "sp": "6",
}
#: What a missing string item compares as: the qualifier ``""``.
_NULL_STRING: Final = _QUALIFIERS[""]
_INT_DIGITS_CHUNK: Final = 4000


def _go_lower(s: str) -> str:
    """Go's ``strings.ToLower``: simple per-rune mapping (no ``İ`` -> ``i̇``, no final sigma)."""
    if s.isascii():
        return s.lower()
    return "".join("i" if c == "\u0130" else c.lower() for c in s)


def _ord_string(s: str) -> str:
    """claircore's ``ordString``: the string a qualifier sorts by."""
    low = _go_lower(s)
    q = _QUALIFIERS.get(low)
    return q if q is not None else "7-" + low


def _is_digit(c: str) -> bool:
    """Go's ``unicode.IsDigit``: 0-9 in Latin-1, any decimal digit (Nd) above it."""
    return "0" <= c <= "9" or (c > "\xff" and c.isdecimal())


def _big_int(tok: str, s: str) -> int:
    """``big.Int.SetString(tok, 10)``: ASCII digits only, any length."""
    if not tok or not tok.isascii():
        raise InvalidVersion(f"invalid maven version {s!r}: unable to parse number {tok!r}")
    if len(tok) <= _INT_DIGITS_CHUNK:
        return int(tok)
    # Python refuses int() on very long strings; Go does not.
    n = 0
    for i in range(0, len(tok), _INT_DIGITS_CHUNK):
        chunk = tok[i : i + _INT_DIGITS_CHUNK]
        n = n * 10 ** len(chunk) + int(chunk)
    return n


def _is_null(c: _Raw) -> bool:
    return c == 0 or c == "" or c == []


def _normalize(cs: list[_Raw]) -> None:
    """Walk backwards, dropping null items, until an item that is neither null nor a list.

    A non-null list is normalized in place but kept even if that empties it (as claircore).
    """
    i = len(cs) - 1
    while i >= 0:
        c = cs[i]
        if _is_null(c):
            del cs[i]
        elif isinstance(c, list):
            _normalize(c)
        else:
            break
        i -= 1


def _freeze(cs: list[_Raw]) -> tuple[Component, ...]:
    """Lists to tuples, qualifiers to their sort strings (after nullness was decided)."""
    return tuple(
        _freeze(c) if isinstance(c, list) else _ord_string(c) if isinstance(c, str) else c
        for c in cs
    )


@lru_cache(maxsize=16384)
def parse(s: str) -> tuple[Component, ...]:
    """claircore's ``maven.ParseVersion``: the normalized tree, ready for :func:`compare`.

    Raises :class:`InvalidVersion` when the version ends in an empty number (``1.0.``).
    Cached: the same versions recur across records.
    """
    root: list[_Raw] = []
    cur = root
    is_digit = False
    pos = 0
    for i, c in enumerate(s):
        if c == "." or c == "-":
            tok = s[pos:i] or "0"
            cur.append(_big_int(tok, s) if is_digit else tok)
            if c == "-":
                child: list[_Raw] = []
                cur.append(child)
                cur = child
            pos = i + 1
        elif _is_digit(c):
            if not is_digit and i > pos:
                cur.append(s[pos:i])
                child = []
                cur.append(child)
                cur = child
                pos = i
            is_digit = True
        else:
            if is_digit and i > pos:
                cur.append(_big_int(s[pos:i], s))
                child = []
                cur.append(child)
                cur = child
                pos = i
            is_digit = False
    tail = s[pos:]
    cur.append(_big_int(tail, s) if is_digit else tail)
    _normalize(root)
    return _freeze(root)


def _cmp(c: Component, o: Component | None) -> int:
    """``component.Compare``; ``o is None`` is a missing item."""
    if type(c) is int:
        if o is None:
            return 1 if c > 0 else 0  # numbers are never negative
        if type(o) is int:
            return (c > o) - (c < o)
        return 1  # a number is newer than a list or a qualifier
    if type(c) is str:
        if o is None:
            o = _NULL_STRING
        if type(o) is str:
            return (c > o) - (c < o)
        return -1  # a qualifier is older than a number or a list
    assert isinstance(c, tuple)
    if o is None:
        for x in c:
            r = _cmp(x, None)
            if r:
                return r
        return 0
    if type(o) is tuple:
        return _cmp_list(c, o)
    return -1 if type(o) is int else 1


def _cmp_list(a: tuple[Component, ...], b: tuple[Component, ...]) -> int:
    la, lb = len(a), len(b)
    for i in range(la if la > lb else lb):
        r = _cmp(a[i], b[i] if i < lb else None) if i < la else -_cmp(b[i], None)
        if r:
            return r
    return 0


def compare(a: str, b: str) -> int:
    """-1, 0 or 1: claircore's ``maven.Version.Compare`` of two version strings.

    Raises :class:`InvalidVersion` if either does not parse.
    """
    x = parse(a)
    y = parse(b)
    if x == y:
        return 0
    return _cmp_list(x, y)
