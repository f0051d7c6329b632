"""claircore's normalized ``Version`` and ``Range``, plus the ``ArchOp`` and ``Severity`` enums.

Text forms follow claircore's ``MarshalText`` so the JSON wire format and stored values are the
ones claircore writes. Where claircore's decoders panic (more than 10 version components) or
accept fragments by substring search (enum names), these raise or use exact names instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Final

from redis_store.errors import InvalidInputError

__all__ = ["ZERO_VERSION", "ArchOp", "Range", "Severity", "Version", "parse_version"]

_NCOMP: Final = 10
_ZEROS: Final[tuple[int, ...]] = (0,) * _NCOMP
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
#: What Go's ``strconv.ParseInt(s, 10, 32)`` accepts, syntactically.
_INT_RE: Final = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """A normalized version: a kind and 10 int32 components, ordered kind-first.

    Ordering is claircore's ``Version.Compare``: kinds compare lexicographically, then the
    components element by element (``order=True`` on ``(kind, v)`` gives exactly that).
    ``v`` shorter than 10 is padded with zeros; longer, or non-int32 values, raise.
    """

    kind: str = ""
    v: tuple[int, ...] = _ZEROS

    def __post_init__(self) -> None:
        if type(self.kind) is not str:
            raise InvalidInputError(f"version kind: expected str, got {type(self.kind).__name__}")
        v = self.v
        if v is _ZEROS:
            return
        if not isinstance(v, tuple | list):
            raise InvalidInputError(f"version components: expected a tuple, got {type(v).__name__}")
        if len(v) > _NCOMP:
            raise InvalidInputError(f"version components: {len(v)} > {_NCOMP}")
        for x in v:
            if type(x) is not int or not _INT32_MIN <= x <= _INT32_MAX:
                raise InvalidInputError(f"version component {x!r} is not an int32")
        if type(v) is not tuple or len(v) != _NCOMP:
            object.__setattr__(self, "v", tuple(v) + (0,) * (_NCOMP - len(v)))

    @property
    def text(self) -> str:
        """``""`` when kind is empty, else ``kind:v0.v1.….v9``."""
        if not self.kind:
            return ""
        return f"{self.kind}:{'.'.join(map(str, self.v))}"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> Version:
        """claircore's ``UnmarshalText``: no ``:`` gives the zero Version, else ``kind:ints``.

        Fewer than 10 components are zero-padded; more than 10, or a component that is not a
        decimal int32, raise :class:`InvalidInputError` (claircore panics or errors).
        """
        return parse_version(text)

    def compare(self, other: Version) -> int:
        """-1, 0 or 1, as claircore's ``Version.Compare``."""
        if self.kind != other.kind:
            return -1 if self.kind < other.kind else 1
        a, b = self.v, other.v
        if a == b:
            return 0
        return -1 if a < b else 1


ZERO_VERSION: Final = Version()


def parse_version(text: str) -> Version:
    """:meth:`Version.parse`, memoised (the same normalized versions recur across reports)."""
    if type(text) is not str:
        raise InvalidInputError(f"normalized version: expected a string, got {type(text).__name__}")
    return _parse_cached(text)


@lru_cache(maxsize=8192)
def _parse_cached(text: str) -> Version:
    i = text.find(":")
    if i == -1:
        return ZERO_VERSION
    parts = text[i + 1 :].split(".")
    if len(parts) > _NCOMP:
        raise InvalidInputError(
            f"invalid normalized version {text!r}: {len(parts)} components, at most {_NCOMP}"
        )
    out = []
    for n, p in enumerate(parts):
        if _INT_RE.fullmatch(p) is None:
            raise InvalidInputError(
                f"invalid normalized version {text!r}: component {n} {p!r} is not an integer"
            )
        x = int(p)
        if not _INT32_MIN <= x <= _INT32_MAX:
            raise InvalidInputError(
                f"invalid normalized version {text!r}: component {n} {p!r} is out of int32 range"
            )
        out.append(x)
    out.extend([0] * (_NCOMP - len(out)))
    return Version(text[:i], tuple(out))


@dataclass(frozen=True, slots=True)
class Range:
    """The half-open interval ``[lower, upper)`` (JSON ``{"[": lower, ")": upper}``)."""

    lower: Version = ZERO_VERSION
    upper: Version = ZERO_VERSION

    def contains(self, v: Version) -> bool:
        """``lower <= v < upper`` with claircore's Version ordering (kinds compared too)."""
        return self.lower <= v < self.upper


class ArchOp(StrEnum):
    """How a vulnerability's ``package.arch`` is compared with a record's.

    Values are claircore's text forms. The zero value is ``INVALID``, which JSON omits.
    Decoding accepts the exact names only; anything else becomes ``INVALID`` (claircore does a
    substring search that accepts fragments such as ``"equal"`` and panics on some others).
    """

    INVALID = "invalid"
    EQUALS = "equals"
    NOT_EQUALS = "not equals"
    PATTERN_MATCH = "pattern match"

    @classmethod
    def from_text(cls, text: str) -> ArchOp:
        """The member named ``text``, else ``INVALID``."""
        return _ARCHOPS.get(text, ArchOp.INVALID)

    def cmp(self, record_arch: str, vuln_arch: str) -> bool:
        """claircore's ``ArchOp.Cmp``: does ``record_arch`` satisfy ``vuln_arch`` under self?

        An empty vulnerability arch always matches; an empty record arch never does
        (otherwise). ``PATTERN_MATCH`` searches with ``vuln_arch`` as a regular expression; an
        invalid expression does not match. ``INVALID`` never matches.
        """
        if vuln_arch == "":
            return True
        if record_arch == "":
            return False
        if self is ArchOp.EQUALS:
            return record_arch == vuln_arch
        if self is ArchOp.NOT_EQUALS:
            return record_arch != vuln_arch
        if self is ArchOp.PATTERN_MATCH:
            rx = _compile(vuln_arch)
            return rx is not None and rx.search(record_arch) is not None
        return False


_ARCHOPS: Final[dict[str, ArchOp]] = {m.value: m for m in ArchOp}


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


class Severity(IntEnum):
    """claircore's normalized severity, ordered from ``UNKNOWN`` (0) to ``CRITICAL`` (5)."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def text(self) -> str:
        """claircore's text form: ``Unknown``, ``Negligible``, ``Low``, … ``Critical``."""
        return _SEVERITY_TEXT[self]

    @classmethod
    def from_text(cls, text: str) -> Severity:
        """Exact claircore names (case-sensitive); ``""`` is ``UNKNOWN`` as in claircore.

        Anything else raises :class:`InvalidInputError` (claircore errors too, except that its
        substring search also accepts fragments such as ``"Neg"``).
        """
        try:
            return _SEVERITIES[text]
        except (KeyError, TypeError):
            raise InvalidInputError(f"unknown severity {text!r}") from None


_SEVERITY_TEXT: Final[dict[Severity, str]] = {s: s.name.capitalize() for s in Severity}
_SEVERITIES: Final[dict[str, Severity]] = {t: s for s, t in _SEVERITY_TEXT.items()}
_SEVERITIES[""] = Severity.UNKNOWN
