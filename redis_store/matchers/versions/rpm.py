"""RPM versions as claircore reads them (``internal/rpmver``), and the shared RPM matcher rule.

Used by the aws, oracle, photon, suse, rhel and rhel-container matchers. Parsing follows
``rpmver.Parse``:

* no ``-`` at all is a parse error (claircore's matchers then return an error);
* with two or more ``-`` everything before the second-to-last ``-`` is the name;
* ``E:`` before the version is the epoch, ``"0"`` when absent or empty; the epoch stays a
  string and is compared with rpmvercmp, not as an integer;
* a known ``.arch`` suffix (aarch64, i686, noarch, ppc64le, riscv, s390x, src, x86_64) is
  split off the release.

``compare`` is ``rpmver.Compare``: name (an absent name sorts first), epoch, version,
release, architecture (absent first), each with claircore's Go ``rpmvercmp``. That port
lacks the ``continue`` after a shared ``~`` or ``^``, so the separators after it are not
skipped and it differs from C rpm there; it is kept: ``1~~b < 1~~a`` *and* ``1~~a < 1~~b``,
``1~.2 < 1~.1``, ``1~~ > 1~``. Strings without ``~`` or ``^`` take a precomputed-key fast path
that gives the same answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from redis_store.matchers.versions import InvalidVersion
from redis_store.models import ArchOp

__all__ = ["ARCHITECTURES", "RpmVersion", "compare", "match_vulnerable", "parse", "rpmvercmp"]

#: The ``.arch`` suffixes rpmver.Parse moves out of the release.
ARCHITECTURES: Final = frozenset(
    {"aarch64", "i686", "noarch", "ppc64le", "riscv", "s390x", "src", "x86_64"}
)

_SEGMENT: Final = re.compile(r"[0-9]+|[A-Za-z]+")

# One alphanumeric segment: (0, 0, letters) or (1, digit count, digits without leading zeros);
# letters sort before digits, longer numbers after shorter ones.
_Segments = tuple[tuple[int, int, str], ...]
# name, epoch, version, release, arch; an absent name or arch is () and sorts first.
_Key = tuple[tuple[_Segments, ...], _Segments, _Segments, _Segments, tuple[_Segments, ...]]


def _segments(s: str) -> _Segments | None:
    """rpmvercmp's view of ``s`` as a sortable tuple, or None if ``s`` has ``~`` or ``^``.

    Without those two, rpmvercmp skips every other character and compares the alphanumeric
    segments in order, a longer list winning: exactly tuple order on this key.
    """
    if "~" in s or "^" in s:
        return None
    out: list[tuple[int, int, str]] = []
    for seg in _SEGMENT.findall(s):
        if seg[0].isdigit():
            digits = seg.lstrip("0")
            out.append((1, len(digits), digits))
        else:
            out.append((0, 0, seg))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class RpmVersion:
    """A parsed (N)EVR(A); ``name``/``arch`` are None when absent, ``epoch`` defaults to "0"."""

    name: str | None
    epoch: str
    version: str
    release: str
    arch: str | None
    # Whole-version sort key when no field has "~" or "^", else None (slow path).
    key: _Key | None = field(repr=False, compare=False)

    def __str__(self) -> str:
        """rpmver's ``String()``: the epoch only when not "0"."""
        out = f"{self.name}-" if self.name is not None else ""
        if self.epoch != "0":
            out += f"{self.epoch}:"
        out += f"{self.version}-{self.release}"
        return f"{out}.{self.arch}" if self.arch is not None else out


def _make_key(
    name: str | None, epoch: str, version: str, release: str, arch: str | None
) -> _Key | None:
    segs = [_segments(x) for x in (name or "", epoch, version, release, arch or "")]
    if any(s is None for s in segs):
        return None
    n, e, v, r, a = (s or () for s in segs)
    return ((n,) if name is not None else (), e, v, r, (a,) if arch is not None else ())


@lru_cache(maxsize=65536)
def parse(s: str) -> RpmVersion:
    """``rpmver.Parse``: split ``[name-][epoch:]version-release[.arch]``; needs one ``-``."""
    dashes = s.count("-")
    if dashes == 0:
        raise InvalidVersion(f"rpm: invalid version {s!r}: missing separators")
    name: str | None = None
    rest = s
    if dashes > 1:
        i = s.rindex("-", 0, s.rindex("-"))
        name, rest = s[:i], s[i + 1 :]
    ev, _, release = rest.partition("-")
    epoch, version = "0", ev
    if ":" in ev:
        e, _, version = ev.partition(":")
        if e:
            epoch = e
    arch: str | None = None
    dot = release.rfind(".")
    if dot != -1 and release[dot + 1 :] in ARCHITECTURES:
        arch, release = release[dot + 1 :], release[:dot]
    return RpmVersion(
        name, epoch, version, release, arch, _make_key(name, epoch, version, release, arch)
    )


def _is_separator(c: str) -> bool:
    """rpmvercmp skips anything that is not an ASCII letter or digit, ``~`` or ``^``."""
    return not (c.isascii() and c.isalnum()) and c != "~" and c != "^"


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_alpha(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z"


def rpmvercmp(a: str, b: str) -> int:
    """claircore's Go ``rpmvercmp`` step for step, missing ``continue`` included: -1, 0 or 1."""
    if a == b:
        return 0
    i, j, la, lb = 0, 0, len(a), len(b)
    while True:
        while i < la and _is_separator(a[i]):
            i += 1
        while j < lb and _is_separator(b[j]):
            j += 1
        # Tilde sorts before everything, the end included.
        ta, tb = i < la and a[i] == "~", j < lb and b[j] == "~"
        if ta and tb:
            i, j = i + 1, j + 1  # Go does not "continue" here: no separator skip follows
        elif ta:
            return -1
        elif tb:
            return 1
        # Caret sorts after the end but before anything else.
        ca, cb = i < la and a[i] == "^", j < lb and b[j] == "^"
        if ca and cb:
            i, j = i + 1, j + 1  # nor here
        elif i == la and cb:
            return -1
        elif ca and j == lb:
            return 1
        elif ca:
            return -1
        elif cb:
            return 1
        if i == la or j == lb:
            break
        is_num = _is_digit(a[i])
        pred = _is_digit if is_num else _is_alpha
        i0, j0 = i, j
        while i < la and pred(a[i]):
            i += 1
        while j < lb and pred(b[j]):
            j += 1
        seg_a, seg_b = a[i0:i], b[j0:j]
        if seg_a == "":
            return -1  # reachable only after the quirk above (a at "~", "^" or a separator)
        if seg_b == "":
            return 1 if is_num else -1
        if is_num:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i == la and j == lb:
        return 0
    return 1 if i < la else -1


def _cmp_ptr(a: str | None, b: str | None) -> int:
    """rpmver's comparePtr: an absent value sorts before any present one."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    return rpmvercmp(a, b)


def _as_version(v: str | RpmVersion) -> RpmVersion:
    return v if isinstance(v, RpmVersion) else parse(v)


def compare(a: str | RpmVersion, b: str | RpmVersion) -> int:
    """``rpmver.Compare``: -1, 0 or 1 (strings are parsed first, raising InvalidVersion)."""
    pa, pb = _as_version(a), _as_version(b)
    ka, kb = pa.key, pb.key
    if ka is not None and kb is not None:
        if ka == kb:
            return 0
        return -1 if ka < kb else 1
    return (
        _cmp_ptr(pa.name, pb.name)
        or rpmvercmp(pa.epoch, pb.epoch)
        or rpmvercmp(pa.version, pb.version)
        or rpmvercmp(pa.release, pb.release)
        or _cmp_ptr(pa.arch, pb.arch)
    )


# What an unbounded vulnerability (no fixed version, no package version) is compared with.
_INFINITY: Final = "65535:65535-65535"


def match_vulnerable(
    record_version: str,
    record_arch: str,
    fixed_in_version: str,
    vuln_package_version: str,
    arch_op: ArchOp | str,
    vuln_arch: str,
) -> bool:
    """claircore's ``internal/rpm.MatchVulnerable``; parse errors raise InvalidVersion.

    Vulnerable iff the record is below ``fixed_in_version``, or else at or below
    ``vuln_package_version``, or else (neither set) at or below 65535:65535-65535; and
    ``arch_op`` accepts the record's arch against the vulnerability's.
    """
    p = parse(record_version)
    if fixed_in_version:
        hit = compare(p, parse(fixed_in_version)) == -1
    else:
        hit = compare(p, parse(vuln_package_version or _INFINITY)) != 1
    if not hit:
        return False
    op = arch_op if isinstance(arch_op, ArchOp) else ArchOp.from_text(arch_op)
    return op.cmp(record_arch, vuln_arch)
