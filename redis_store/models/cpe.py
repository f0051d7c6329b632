"""CPE 2.3 well-formed names (NISTIR 7695) and name comparison (NISTIR 7696), as claircore.

claircore stores and serialises a CPE as its CPE 2.3 *formatted string* binding, whatever form it
was read in (a CPE 2.2 URI such as ``cpe:/o:redhat:enterprise_linux:8::baseos`` or a formatted
string). Identity (e.g. of a Distribution) is equality of that bound string, so the models keep
CPEs as canonical bound ``str`` and :func:`canonical_cpe` turns any accepted input into it.

Values inside a :class:`WFN` are kept in WFN form: reserved characters are backslash-escaped
(``8\\.0``), ``*`` and ``?`` unescaped are wildcards. The unbinding, validation and comparison
state machines follow claircore's ``toolkit/types/cpe`` behaviour, quirks included (noted where
they differ from the NIST text), so that identities and matcher answers agree with claircore.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from enum import IntEnum
from functools import lru_cache
from typing import Final

from redis_store.errors import InvalidInputError

__all__ = [
    "ANY",
    "ATTRIBUTES",
    "NA",
    "UNSET",
    "WFN",
    "AttrValue",
    "Relation",
    "ValueKind",
    "bind_cpe",
    "canonical_cpe",
    "compare_wfn",
    "is_disjoint",
    "is_equal",
    "is_subset",
    "is_superset",
    "parse_cpe",
]

#: The 11 WFN attributes in CPE 2.3 binding order.
ATTRIBUTES: Final = (
    "part",
    "vendor",
    "product",
    "version",
    "update",
    "edition",
    "language",
    "sw_edition",
    "target_sw",
    "target_hw",
    "other",
)
_NATTR: Final = len(ATTRIBUTES)
_URI_PREFIX: Final = "cpe:/"
_FS_PREFIX: Final = "cpe:2.3:"


class ValueKind(IntEnum):
    """The state of one WFN attribute. ``UNSET`` and ``ANY`` both bind to ``*``."""

    UNSET = 0
    ANY = 1
    NA = 2
    SET = 3


@dataclass(frozen=True, slots=True)
class AttrValue:
    """One attribute: its kind, and for ``SET`` the value in escaped WFN form."""

    kind: ValueKind = ValueKind.UNSET
    v: str = ""

    @classmethod
    def of(cls, value: str) -> AttrValue:
        """A ``SET`` value (already WFN-escaped); raises if the escaping is not well-formed."""
        err = _validate(value)
        if err is not None:
            raise InvalidInputError(f"invalid CPE attribute value {value!r}: {err}")
        return cls(ValueKind.SET, value)

    def __str__(self) -> str:
        return _bind_value(self)


UNSET: Final = AttrValue()
ANY: Final = AttrValue(ValueKind.ANY)
NA: Final = AttrValue(ValueKind.NA)


@dataclass(frozen=True, slots=True)
class WFN:
    """A well-formed CPE name: 11 attributes, each :class:`AttrValue` (default unset)."""

    part: AttrValue = UNSET
    vendor: AttrValue = UNSET
    product: AttrValue = UNSET
    version: AttrValue = UNSET
    update: AttrValue = UNSET
    edition: AttrValue = UNSET
    language: AttrValue = UNSET
    sw_edition: AttrValue = UNSET
    target_sw: AttrValue = UNSET
    target_hw: AttrValue = UNSET
    other: AttrValue = UNSET

    @property
    def attrs(self) -> tuple[AttrValue, ...]:
        """The 11 attributes in binding order."""
        return (
            self.part,
            self.vendor,
            self.product,
            self.version,
            self.update,
            self.edition,
            self.language,
            self.sw_edition,
            self.target_sw,
            self.target_hw,
            self.other,
        )

    @classmethod
    def from_attrs(cls, attrs: Sequence[AttrValue]) -> WFN:
        """Build from 11 attributes in binding order."""
        if len(attrs) != _NATTR:
            raise InvalidInputError(f"a WFN has {_NATTR} attributes, got {len(attrs)}")
        return cls(*attrs)

    def is_unset(self) -> bool:
        """True for the zero WFN, which binds to ``""``."""
        return all(a.kind is ValueKind.UNSET for a in self.attrs)

    def validate(self) -> None:
        """claircore's ``WFN.Valid``: raise :class:`InvalidInputError` if not well-formed.

        The all-unset WFN is reported as invalid too (claircore's ``ErrUnset``).
        """
        err = _wfn_error(self.attrs)
        if err is not None:
            raise InvalidInputError(err)

    def __str__(self) -> str:
        """claircore's ``String()``: ``""`` when unset, else the formatted string (unchecked)."""
        if self.is_unset():
            return ""
        return _bind_fs(self.attrs)


_ATTR_NAMES: Final = tuple(f.name for f in fields(WFN))
assert _ATTR_NAMES == ATTRIBUTES


# --- validation ------------------------------------------------------------------------------


def _reserved(c: str) -> bool:
    """Characters that must be backslash-quoted inside a WFN value."""
    return not ("0" <= c <= "9" or "A" <= c <= "Z" or "a" <= c <= "z" or c == "_")


_SPACES: Final = frozenset("\t\n\v\f\r ")


def _validate(s: str) -> str | None:
    """NISTIR 7695 §5.3.2 value checks as claircore reads them; the problem, or None."""
    for c in s:
        if c >= "\x7f":
            return "string contains non-ASCII characters"
    for c in s:
        if c in _SPACES:
            return "string contains space characters"
    if s == "*":
        return "single asterisk MUST NOT be used by itself"
    if s == "\\-":
        return "quoted hyphen MUST NOT be used by itself"
    esc = False
    last = len(s) - 1
    q_run, at_start = False, True
    for i, c in enumerate(s):
        if c == "*":
            if not esc and i != 0 and i != last:
                return f"invalid position for special character '*' at {i}"
        elif c == "?":
            if not esc:
                q_run = True
        elif c == "\\":
            # claircore keeps the escaped state across a second backslash.
            esc = True
            continue
        elif _reserved(c) and not esc:
            return f"invalid unquoted character {c!r} at {i}"
        if c != "?":
            # A run of unquoted '?' is only allowed at the start and at the end.
            if q_run and not at_start:
                return f"invalid position for special character '?' at {i - 1}"
            q_run, at_start = False, False
        esc = False
    return None


def _wfn_error(attrs: Sequence[AttrValue]) -> str | None:
    unset = 0
    for name, a in zip(ATTRIBUTES, attrs, strict=True):
        if a.v:
            err = _validate(a.v)
            if err is not None:
                return f"CPE attribute {name!r} is invalid: {err}"
        if a.kind is ValueKind.UNSET:
            unset += 1
    if unset == _NATTR:
        return "CPE is empty (every attribute unset)"
    p = attrs[0]
    if p.kind is ValueKind.SET and p.v not in ("a", "o", "h"):
        return f"CPE attribute 'part' is invalid: {p.v!r} is a disallowed value"
    return None


# --- binding ---------------------------------------------------------------------------------

_FS_UNQUOTE: Final = re.compile(r"\\([.\-_])")


def _bind_value(a: AttrValue) -> str:
    k = a.kind
    if k is ValueKind.SET:
        return _FS_UNQUOTE.sub(r"\1", a.v) if "\\" in a.v else a.v
    if k is ValueKind.NA:
        return "-"
    return "*"


def _bind_fs(attrs: Iterable[AttrValue]) -> str:
    return "cpe:2.3:" + ":".join(_bind_value(a) for a in attrs)


def bind_cpe(w: WFN) -> str:
    """The CPE 2.3 formatted string of ``w``; ``""`` when every attribute is unset.

    Raises :class:`InvalidInputError` for a WFN that is not well-formed (claircore's
    ``MarshalText`` errors too).
    """
    attrs = w.attrs
    err = _wfn_error(attrs)
    if err is not None:
        if all(a.kind is ValueKind.UNSET for a in attrs):
            return ""
        raise InvalidInputError(err)
    return _bind_fs(attrs)


# --- unbinding -------------------------------------------------------------------------------

#: URI percent-encodings and the WFN escaping they become (NISTIR 7695 table 6-1); ``.``,
#: ``-`` and ``~`` are quoted. Unknown ``%xx`` pass through and then fail validation.
_URI_MAP: Final[dict[str, str]] = {
    ".": "\\.",
    "-": "\\-",
    "~": "\\~",
    "%01": "?",
    "%02": "*",
    **{f"%{ord(c):02x}": "\\" + c for c in "!\"#$%&'()*+,/:;<=>?@[\\]^`{|}~"},
}
_URI_TOKEN: Final = re.compile(r"%[0-9a-f]{2}|[.\-~]")
_URI_DISALLOWED: Final = frozenset("!\"#$&'()*+,/:;<=>?@[\\]^`{|}")
_URI_ORDER: Final = (0, 1, 2, 3, 4, 5, 6)  # part … language
_URI_PACKED: Final = (5, 7, 8, 9, 10)  # edition, sw_edition, target_sw, target_hw, other


def _uri_value(c: str, name: str, s: str) -> AttrValue:
    if c == "":
        return ANY
    if c == "-":
        return NA
    c = c.lower()
    for ch in c:
        if ch in _URI_DISALLOWED:
            raise InvalidInputError(f"invalid CPE {s!r}: {name}: disallowed character {ch!r}")
    return AttrValue(ValueKind.SET, _URI_TOKEN.sub(lambda m: _URI_MAP.get(m[0], m[0]), c))


def _unbind_uri(s: str) -> WFN:
    attrs: list[AttrValue] = [ANY] * 7 + [UNSET] * 4
    comp = s.split(":")
    comp[1] = comp[1].removeprefix("/")
    for i, c in enumerate(comp[1:]):
        if i >= len(_URI_ORDER):
            raise InvalidInputError(f"invalid CPE {s!r}: unexpected component {i} (at most 7)")
        if i == 5 and c.startswith("~"):
            # CPE 2.3 packs edition, sw_edition, target_sw, target_hw, other here.
            for j, p in enumerate(c.split("~", 5)[1:]):
                k = _URI_PACKED[j]
                attrs[k] = _uri_value(p, ATTRIBUTES[k], s)
            continue
        attrs[i] = _uri_value(c, ATTRIBUTES[i], s)
    return _checked(attrs, s)


def _split_fs(s: str) -> list[str]:
    """Split on unquoted ``:`` (claircore: a backslash escapes whatever follows the run)."""
    out: list[str] = []
    prev, esc = 0, False
    for i, c in enumerate(s):
        if c == "\\":
            esc = True
            continue
        if c == ":" and not esc:
            out.append(s[prev:i])
            prev = i + 1
        esc = False
    out.append(s[prev:])
    return out


def _fs_value(c: str) -> AttrValue:
    if c == "":
        return UNSET
    if c == "-":
        return NA
    if c == "*":
        return ANY
    b: list[str] = []
    esc = False
    for ch in c:
        if ch == "\\":
            esc = True
            b.append(ch)
            continue
        if ch in "*?" or esc or not _reserved(ch):
            b.append(ch)
        else:
            # Formatted strings leave '.', '-' ... unquoted; WFN values quote them.
            b.append("\\")
            b.append(ch)
        esc = False
    return AttrValue(ValueKind.SET, "".join(b))


def _unbind_fs(s: str) -> WFN:
    comp = _split_fs(s)
    if len(comp) != 13:
        raise InvalidInputError(
            f"invalid CPE {s!r}: formatted string has {len(comp)} components, want 13"
        )
    return _checked([_fs_value(c) for c in comp[2:]], s)


def _checked(attrs: list[AttrValue], s: str) -> WFN:
    err = _wfn_error(attrs)
    if err is not None:
        raise InvalidInputError(f"invalid CPE {s!r}: {err}")
    return WFN(*attrs)


_ZERO_WFN: Final = WFN()


def parse_cpe(s: str) -> WFN:
    """Unbind a CPE 2.2 URI (``cpe:/…``) or 2.3 formatted string (``cpe:2.3:…``).

    ``""`` gives the all-unset WFN. Anything else, or a name that is not well-formed, raises
    :class:`InvalidInputError`. URI values are lower-cased, as claircore does. Memoised.
    """
    if type(s) is not str:
        raise InvalidInputError(f"CPE: expected a string, got {type(s).__name__}")
    return _parse_cached(s)


@lru_cache(maxsize=4096)
def _parse_cached(s: str) -> WFN:
    if s == "":
        return _ZERO_WFN
    if s.startswith(_URI_PREFIX):
        return _unbind_uri(s)
    if s.startswith(_FS_PREFIX):
        return _unbind_fs(s)
    raise InvalidInputError(f"invalid CPE {s!r}: not a CPE URI (cpe:/) or formatted string")


def canonical_cpe(s: str) -> str:
    """``bind_cpe(parse_cpe(s))``: the form claircore stores, compares and serialises.

    Memoised, since the same few CPE strings recur in every report.
    """
    if type(s) is not str:
        raise InvalidInputError(f"CPE: expected a string, got {type(s).__name__}")
    return _canonical_cached(s) if s else ""


@lru_cache(maxsize=4096)
def _canonical_cached(s: str) -> str:
    return bind_cpe(_parse_cached(s))


# --- matching (NISTIR 7696) --------------------------------------------------------------------


class Relation(IntEnum):
    """Per-attribute relation of a source name to a target name."""

    INVALID = 0
    SUPERSET = 1
    SUBSET = 2
    EQUAL = 3
    DISJOINT = 4


def _has_wildcard(v: str) -> bool:
    # claircore also counts quoted '\*' / '\?' here; kept for parity.
    return "*" in v or "?" in v


def _pat_compare(s: str, t: str) -> bool:
    """claircore's ``patCompare``: case-insensitive glob of source ``s`` against ``t``.

    Parity quirks kept on purpose: only the first occurrence of the literal part is tried, and
    the trailing check computes ``len(t) - idx + len(s)``, so a pattern without a trailing
    ``*`` (e.g. ``*bar`` or ``foo??``) practically never matches.
    """
    s, t = s.lower(), t.lower()
    pref = suf = 0
    if s.startswith("*"):
        pref = -1
        s = s[1:]
    elif s.startswith("?"):
        n = len(s) - len(s.lstrip("?"))
        pref, s = n, s[n:]
    if s.endswith("*"):
        suf = -1
        s = s[:-1]
    elif s.endswith("?"):
        n = len(s) - len(s.rstrip("?"))
        suf, s = n, s[: len(s) - n]
    idx = t.find(s)
    if idx == -1:
        return False
    if pref != -1 and idx != pref:
        return False
    return suf == -1 or len(t) - idx + len(s) == suf


def _relation(sv: AttrValue, tv: AttrValue) -> Relation:
    sk, tk = sv.kind, tv.kind
    if tk is ValueKind.SET and _has_wildcard(tv.v):
        return Relation.INVALID
    t_any = tk is ValueKind.ANY or tk is ValueKind.UNSET
    if sk is ValueKind.ANY or sk is ValueKind.UNSET:
        return Relation.EQUAL if t_any else Relation.SUPERSET
    if sk is ValueKind.NA:
        if t_any:
            return Relation.SUBSET
        return Relation.EQUAL if tk is ValueKind.NA else Relation.DISJOINT
    # source is SET
    if t_any:
        return Relation.SUBSET
    if tk is ValueKind.NA:
        return Relation.DISJOINT
    if _has_wildcard(sv.v):
        return Relation.SUPERSET if _pat_compare(sv.v, tv.v) else Relation.DISJOINT
    return Relation.EQUAL if sv.v.lower() == tv.v.lower() else Relation.DISJOINT


def _wfn(x: WFN | str) -> WFN:
    return x if isinstance(x, WFN) else parse_cpe(x)


def compare_wfn(source: WFN | str, target: WFN | str) -> tuple[Relation, ...]:
    """NISTIR 7696 attribute comparison (table 6-2) as claircore's ``cpe.Compare``.

    ``source`` may hold wildcards; ``ANY`` and unset are the same. A target value with a
    wildcard gives ``INVALID`` for that attribute. Strings are parsed with :func:`parse_cpe`.
    """
    s, t = _wfn(source).attrs, _wfn(target).attrs
    return tuple(_relation(a, b) for a, b in zip(s, t, strict=True))


def is_superset(a: WFN | str, b: WFN | str) -> bool:
    """Is ``a`` a (non-proper) superset of ``b``: every attribute EQUAL or SUPERSET."""
    return all(r is Relation.EQUAL or r is Relation.SUPERSET for r in compare_wfn(a, b))


def is_subset(a: WFN | str, b: WFN | str) -> bool:
    """Is ``a`` a (non-proper) subset of ``b``: every attribute EQUAL or SUBSET."""
    return all(r is Relation.EQUAL or r is Relation.SUBSET for r in compare_wfn(a, b))


def is_equal(a: WFN | str, b: WFN | str) -> bool:
    """Every attribute EQUAL."""
    return all(r is Relation.EQUAL for r in compare_wfn(a, b))


def is_disjoint(a: WFN | str, b: WFN | str) -> bool:
    """Some attribute DISJOINT."""
    return any(r is Relation.DISJOINT for r in compare_wfn(a, b))
