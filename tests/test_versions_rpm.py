"""RPM versions as claircore reads them (``internal/rpmver``) and ``internal/rpm.MatchVulnerable``.

Expected values are claircore's, quirks included: its Go rpmvercmp differs from C rpm after a
shared ``~`` or ``^``, and ``Parse`` needs a ``-``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.matchers.versions import InvalidVersion, rpm
from redis_store.models import ArchOp

SHARED_DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "docs"
OPS = {"<": -1, "==": 0, ">": 1}

# rpmvercmp on single strings: (a, op, b).
VERCMP = [
    ("1.0", "==", "1.0"),
    ("1.0", "<", "2.0"),
    ("2.0.1", ">", "2.0"),
    ("2.0.1a", ">", "2.0.1"),
    ("5.5p1", "<", "5.5p2"),
    ("5.5p10", ">", "5.5p9"),
    ("10xyz", "<", "10.1xyz"),
    ("xyz10", "<", "xyz10.1"),
    ("1.0", "<", "1.0.0"),
    ("1", "==", "01"),
    ("1.0", "==", "1_0"),
    ("1.0", "==", "1..0"),
    ("1.0.", "==", "1.0"),
    ("1.a", "<", "1.1"),  # letters before digits
    ("a", "<", "b"),
    ("A", "<", "a"),  # plain strcmp
    ("abc", ">", "ab"),
    ("1.001", "==", "1.1"),
    ("12345678901234567890", ">", "9999999999999999999"),  # longer number wins, no overflow
    ("1.é", "==", "1."),  # any non-ASCII character is a separator
    ("el8", "<", "el8_6"),
    ("el8_6", "<", "el8_10"),
    # tilde sorts before everything, the end included
    ("1.0~rc1", "<", "1.0"),
    ("1.0~rc1", "<", "1.0~rc2"),
    ("1.0~rc1", ">", "1.0~beta"),
    ("1.0~", "<", "1.0"),
    ("1.0~rc1", "<", "1.0.1~rc1"),
    # caret sorts after the end but before anything else
    ("1.0^", ">", "1.0"),
    ("1.0^git1", ">", "1.0"),
    ("1.0^git1", "<", "1.0.1"),
    ("1.0^git1", "<", "1.0^git2"),
    ("1.0^20160101", "<", "1.0.1^20160101"),
    ("1.0^git1", "<", "1.01"),
    ("1.0~rc1^git1", "<", "1.0~rc1^git2"),
    ("1.0~rc1^git1", ">", "1.0~rc1"),
    ("1.0^git1~pre", "<", "1.0^git1"),
    # claircore's missing "continue": after a shared "~" (or "^") the following separators
    # are not skipped, and a segment that starts with one is "less" whichever side it is on
    ("1~~", ">", "1~"),  # C rpm: <
    ("1~.2", "<", "1~.1"),  # C rpm: >
    ("1~.1", "<", "1~.2"),  # C rpm: <; so both orders say "<"
    ("1.0~~rc2", "<", "1.0~~rc1"),  # C rpm: >
    ("1.0~~rc1", "<", "1.0~~rc2"),
    ("1~~b", "<", "1~~a"),  # C rpm: >
    ("1~~a", "<", "1~~b"),
    ("1^^b", "<", "1^^a"),
    ("1^^a", "<", "1^^b"),
    ("1~.a", "<", "1~1"),
    ("1~1", ">", "1~.a"),
    ("1~a", "<", "1~.1"),  # an alpha segment against a separator: "<" both ways
    ("1~.1", "<", "1~a"),
]

# rpmver.Compare on whole (N)EVR(A) strings.
COMPARE = [
    ("fonts-filesystem-1:2.0.5-12.fc39.noarch", "==", "fonts-filesystem-1:2.0.5-12.fc39.noarch"),
    ("fonts-filesystem-0:2.0.5-12.fc39.noarch", "==", "fonts-filesystem-2.0.5-12.fc39.noarch"),
    ("fonts-filesystem-1:2.0.6-12.fc39.noarch", ">", "fonts-filesystem-1:2.0.5-12.fc39.noarch"),
    ("1:1-1", ">", "0:99-99"),
    ("1:1.0-1", ">", "9.9-9"),
    ("1.0-1", "<", "0:1.0-2"),
    ("1-1", "<", "1-2"),
    (":1.0-1", "==", "1.0-1"),  # an empty epoch is "0"
    ("00:1.0-1", "==", "1.0-1"),  # epochs compare with rpmvercmp, not as integers
    ("a:1.0-1", "<", "1.0-1"),  # ...so a letter epoch is below "0"
    ("10:3.1.0-8.amzn2.0.8", "<", "10:3.1.0-9.amzn2.0.8"),
    ("10:3.1.0-9.amzn2.0.8", ">", "9:3.1.0-9.amzn2.0.8"),
    ("0.33.0-6.el8", ">", "0.33.0-5.el8"),
    ("10.32-3.el8_6", "<", "10.32-4.el8_6"),
    ("1.0~rc1-1", "<", "1.0-1"),
    ("1.0^git1-1", ">", "1.0-1"),
    # an optional part that is present sorts later
    ("a-1-1", ">", "1-1"),
    ("1-1", "<", "1-1-a"),
    ("1-1.aarch64", ">", "1-1"),
    ("1.0-1.el8", "<", "1.0-1.el8.x86_64"),
    ("1-1.x86_64", "==", "1-1.x86_64"),
    # names and arches compare with rpmvercmp too
    ("a-1-1", "<", "b-1-1"),
    ("a-1-1.aarch64", "<", "a-1-1.riscv"),
    ("a-1-1.x86_64", ">", "a-1-1.s390x"),
    ("pkg2-1-1", "<", "pkg10-0-0"),
    ("pkg-name-2-1", ">", "pkg-name-1-9"),
    # an unknown suffix stays in the release
    ("1-1.el8.arm", ">", "1-1.el8"),
    ("1-1.el8.x86", ">", "1-1.el8.x86_64"),
    # release and version are split at the first "-" of the last two
    ("1.0-1-2", "<", "1.0-1-10"),
    ("65535:65535-65535", ">", "9999:1.0-1"),
]

# input -> (name, epoch, version, release, arch); None means absent.
PARSE = [
    ("fonts-1:2.0.5-12.fc39.noarch", "fonts", "1", "2.0.5", "12.fc39", "noarch"),
    ("fonts-filesystem-1:2.0.5-12.fc39", "fonts-filesystem", "1", "2.0.5", "12.fc39", None),
    ("fonts-filesystem-2.0.5-12.fc39", "fonts-filesystem", "0", "2.0.5", "12.fc39", None),
    ("1:2.0.5-12.fc39", None, "1", "2.0.5", "12.fc39", None),
    ("2.0.5-12.fc39.src", None, "0", "2.0.5", "12.fc39", "src"),
    ("1.0-1.i686", None, "0", "1.0", "1", "i686"),
    ("1.0-1.ppc64le", None, "0", "1.0", "1", "ppc64le"),
    ("1.0-x86_64", None, "0", "1.0", "x86_64", None),  # no dot: not an arch suffix
    ("1.0-1.arm64", None, "0", "1.0", "1.arm64", None),
    ("1.0-1.noarch.x86_64", None, "0", "1.0", "1.noarch", "x86_64"),
    (":1.0-1", None, "0", "1.0", "1", None),
    ("1:2:3-4", None, "1", "2:3", "4", None),
    ("-", None, "0", "", "", None),
    ("--", "", "0", "", "", None),
    ("a-b-c-d", "a-b", "0", "c", "d", None),
    ("v3.5.5-4", None, "0", "v3.5.5", "4", None),
    ("1742843776-0", None, "0", "1742843776", "0", None),
    ("10:3.1.0-8.amzn2.0.8", None, "10", "3.1.0", "8.amzn2.0.8", None),
]

# (installed, arch, fixed, vulnerable package version, arch op, vuln arch, want)
MATCH = [
    ("1.2.3-4", "x86_64", "1.2.3-5", "", "", "", True),
    ("1.2.3-4", "x86_64", "1.2.3-4", "", "", "", False),  # fixed: strictly below
    ("1.2.3-4", "x86_64", "", "1.2.3-4", "", "", True),  # package version: at or below
    ("1.2.3-5", "x86_64", "", "1.2.3-4", "", "", False),
    ("1.2.3-4", "x86_64", "1.0-1", "9.9-9", "", "", False),  # fixed wins over package version
    ("0:1.2.3-4", "x86_64", "", "", "", "", True),  # neither: 65535:65535-65535
    ("65535:65535-65535", "x86_64", "", "", "", "", True),
    ("65535:65535-65536", "x86_64", "", "", "", "", False),
    ("65536:1-1", "x86_64", "", "", "", "", False),
    ("1.0-1", "x86_64", "2.0-1", "", "equals", "x86_64", True),
    ("1.0-1", "x86_64", "2.0-1", "", "equals", "aarch64", False),
    ("1.0-1", "x86_64", "2.0-1", "", "not equals", "noarch", True),
    ("1.0-1", "noarch", "2.0-1", "", "not equals", "noarch", False),
    ("1.0-1", "x86_64", "2.0-1", "", "pattern match", "x86_64|aarch64", True),
    ("1.0-1", "ppc64le", "2.0-1", "", "pattern match", "x86_64|aarch64", False),
    ("1.0-1", "x86_64", "2.0-1", "", "pattern match", "86", True),  # unanchored search
    ("1.0-1", "x86_64", "2.0-1", "", "pattern match", "(", False),  # bad pattern
    ("1.0-1", "x86_64", "2.0-1", "", "", "x86_64", False),  # no op but an arch: never
    ("1.0-1", "", "2.0-1", "", "equals", "x86_64", False),  # record has no arch
    ("1.0-1", "", "2.0-1", "", "", "", True),  # vulnerability has no arch: always
    ("1.0-1", "", "2.0-1", "", "equals", "", True),
    ("3.0-1", "x86_64", "2.0-1", "", "equals", "nomatch", False),
]

# (installed, fixed, vulnerable package version): each raises.
MATCH_ERRORS = [
    ("1.2.3", "", ""),  # no "-" in the record
    ("", "1.0-1", ""),
    ("1.2.3-4", "2.0", ""),  # no "-" in the fix
    ("1.2.3-4", "", "2.0"),
    ("1.2.3", "1.0-1", "x"),
]

INVALID = ["", "1.2.3", "abc", "1:2.0", "1.0.x86_64"]


@pytest.mark.parametrize(("a", "op", "b"), VERCMP)
def test_rpmvercmp(a: str, op: str, b: str) -> None:
    assert rpm.rpmvercmp(a, b) == OPS[op]


def test_quirk_is_not_antisymmetric() -> None:
    """Kept on purpose: claircore says each of these is below the other."""
    assert rpm.rpmvercmp("1~~b", "1~~a") == rpm.rpmvercmp("1~~a", "1~~b") == -1
    assert rpm.compare("1~.2-1", "1~.1-1") == rpm.compare("1~.1-1", "1~.2-1") == -1


@pytest.mark.parametrize(("a", "op", "b"), COMPARE)
def test_compare(a: str, op: str, b: str) -> None:
    assert rpm.compare(a, b) == OPS[op]
    assert rpm.compare(b, a) == -OPS[op]
    assert rpm.compare(rpm.parse(a), rpm.parse(b)) == OPS[op]


@pytest.mark.parametrize(("a", "op", "b"), VERCMP)
def test_compare_uses_rpmvercmp_in_every_field(a: str, op: str, b: str) -> None:
    want = OPS[op]
    assert rpm.compare(f"{a}-1", f"{b}-1") == want  # version
    assert rpm.compare(f"1-{a}", f"1-{b}") == want  # release
    assert rpm.compare(f"{a}:1-1", f"{b}:1-1") == want  # epoch
    assert rpm.compare(f"{a}-1-1", f"{b}-1-1") == want  # name


@pytest.mark.parametrize(("text", "name", "epoch", "version", "release", "arch"), PARSE)
def test_parse(
    text: str, name: str | None, epoch: str, version: str, release: str, arch: str | None
) -> None:
    v = rpm.parse(text)
    assert (v.name, v.epoch, v.version, v.release, v.arch) == (name, epoch, version, release, arch)
    assert rpm.compare(text, str(v)) == 0


def test_string_drops_zero_epoch() -> None:
    assert str(rpm.parse("pkg-0:1.0-1.el8.x86_64")) == "pkg-1.0-1.el8.x86_64"
    assert str(rpm.parse("2:1.0-1")) == "2:1.0-1"


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion) as raised:
        rpm.parse(text)
    assert str(raised.value).startswith("rpm: ") and repr(text) in str(raised.value)
    with pytest.raises(InvalidVersion):
        rpm.compare(text, "1-1")


@pytest.mark.parametrize(("installed", "arch", "fixed", "pkg", "op", "vuln_arch", "want"), MATCH)
def test_match_vulnerable(
    installed: str, arch: str, fixed: str, pkg: str, op: str, vuln_arch: str, want: bool
) -> None:
    assert rpm.match_vulnerable(installed, arch, fixed, pkg, op, vuln_arch) is want
    arch_op = ArchOp.from_text(op)
    assert rpm.match_vulnerable(installed, arch, fixed, pkg, arch_op, vuln_arch) is want


@pytest.mark.parametrize(("installed", "fixed", "pkg"), MATCH_ERRORS)
def test_match_vulnerable_errors(installed: str, fixed: str, pkg: str) -> None:
    with pytest.raises(InvalidVersion):
        rpm.match_vulnerable(installed, "x86_64", fixed, pkg, ArchOp.EQUALS, "aarch64")


@pytest.mark.parametrize(
    ("record_arch", "op", "vuln_arch", "want"),
    [
        ("x86_64", ArchOp.INVALID, "", True),
        ("", ArchOp.INVALID, "", True),
        ("", ArchOp.NOT_EQUALS, "x86_64", False),
        ("x86_64", ArchOp.INVALID, "x86_64", False),
        ("x86_64", ArchOp.EQUALS, "x86_64", True),
        ("x86_64", ArchOp.NOT_EQUALS, "x86_64", False),
        ("aarch64", ArchOp.PATTERN_MATCH, "^(x86_64|aarch64)$", True),
        ("i686", ArchOp.PATTERN_MATCH, "[", False),
    ],
)
def test_arch_op_rules(record_arch: str, op: ArchOp, vuln_arch: str, want: bool) -> None:
    """The spec's ArchOp rules, as match_vulnerable relies on them."""
    assert op.cmp(record_arch, vuln_arch) is want


# --- matcher-vectors.json ---------------------------------------------------------------------

RPM_MATCHERS = ("aws-matcher", "oracle", "photon", "suse")
GOLD_REPOSITORY = "Red Hat Container Catalog"


@cache
def vectors() -> dict[str, Any]:
    path = SHARED_DOCS / "matcher-vectors.json"
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())["vulnerable"]
    return data


def vector_cases(*matchers: str) -> list[Any]:
    found = [(m, c) for m in matchers for c in vectors().get(m, [])]
    if not found:
        return [pytest.param(None, id="absent", marks=pytest.mark.skip("../shared is absent"))]
    return [pytest.param(c, id=f"{m}/{c['name']}") for m, c in found]


def expect(want: Any, call: Any) -> None:
    if want == "error":
        with pytest.raises(InvalidVersion):
            call()
    else:
        assert call() is want


def rpm_rule(case: dict[str, Any]) -> bool:
    record, vuln = case["record"]["package"], case["vulnerability"]
    return rpm.match_vulnerable(
        record["version"],
        record["arch"],
        vuln["fixed_in_version"],
        vuln["package"]["version"],
        vuln["arch_op"],
        vuln["package"]["arch"],
    )


@pytest.mark.parametrize("case", vector_cases(*RPM_MATCHERS))
def test_rpm_vectors(case: dict[str, Any]) -> None:
    expect(case["want"], lambda: rpm_rule(case))


def repo_gate_is_trivial(case: dict[str, Any]) -> bool:
    """The vector's repository CPE gate passes because both sides name the same repository."""
    record_repo = case["record"]["repository"] or {}
    vuln_repo = case["vulnerability"]["repository"] or {}
    return record_repo.get("name") == vuln_repo.get("name") != ""


@pytest.mark.parametrize("case", vector_cases("rhel"))
def test_rhel_vectors(case: dict[str, Any]) -> None:
    if not repo_gate_is_trivial(case):
        pytest.skip("decided by the CPE gate, not by the version rule")
    expect(case["want"], lambda: rpm_rule(case))


def rhcc_rule(case: dict[str, Any]) -> bool:
    """rhel/rhcc Vulnerable after its CPE gate: Invert, empty version, "-0" padding, rpmver."""
    if case["vulnerability"]["invert"]:
        return True
    installed = case["record"]["package"]["version"]
    fixed = case["vulnerability"]["fixed_in_version"]
    if installed == "":
        raise InvalidVersion("rhcc: empty record version")
    if fixed == "":
        return True

    def evr(v: str) -> str:
        return v if "-" in v else v + "-0"

    return rpm.compare(evr(installed), evr(fixed)) < 0


@pytest.mark.parametrize("case", vector_cases("rhel-container-matcher"))
def test_rhcc_vectors(case: dict[str, Any]) -> None:
    record_repo = case["record"]["repository"] or {}
    if record_repo.get("name") != GOLD_REPOSITORY and not repo_gate_is_trivial(case):
        pytest.skip("decided by the CPE gate, not by the version rule")
    expect(case["want"], lambda: rhcc_rule(case))


# --- properties -------------------------------------------------------------------------------

_ALNUM = st.sampled_from(list("0123456789" * 2 + "abcXYZ"))
_SEP = st.sampled_from([*"._+", "\u00e9"])


@st.composite
def fields(draw: st.DrawFn) -> str:
    """A field where every "~" or "^" is followed by a letter or digit.

    That avoids the quirk above, the only place where claircore's order is not antisymmetric.
    """
    out = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["alnum", "alnum", "alnum", "sep", "tilde", "caret"]))
        if kind == "alnum":
            out.append(draw(_ALNUM))
        elif kind == "sep":
            out.append(draw(_SEP))
        else:
            out.append(("~" if kind == "tilde" else "^") + draw(_ALNUM))
    return "".join(out)


@st.composite
def versions(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["", "", "pkg-", "a-b-"]))
    epoch = draw(st.sampled_from(["", "", "0:", "1:", "2:", "01:", ":"]))
    arch = draw(st.sampled_from(["", "", ".x86_64", ".noarch", ".src", ".arm"]))
    return f"{name}{epoch}{draw(fields())}-{draw(fields())}{arch}"


@given(versions(), versions())
def test_antisymmetric(a: str, b: str) -> None:
    assert rpm.compare(a, a) == 0
    assert rpm.compare(a, b) == -rpm.compare(b, a)
    assert rpm.compare(a, b) in (-1, 0, 1)


@given(fields(), fields())
def test_fast_path_agrees_with_the_loop(a: str, b: str) -> None:
    """Fields without "~"/"^" compare by a precomputed key; it must match rpmvercmp."""
    ka, kb = rpm.parse(f"{a}-1").key, rpm.parse(f"{b}-1").key
    if ka is not None and kb is not None:
        assert ((ka > kb) - (ka < kb)) == rpm.rpmvercmp(a, b)
