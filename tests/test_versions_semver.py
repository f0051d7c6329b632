"""The ``semver`` Version kind: gobin's ParseVersion and Masterminds v1.5.0 + FromSemver."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.matchers.versions import InvalidVersion, semver
from redis_store.models import Range, Version

DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "docs"
MIN32 = -(2**31)


def sv(major: int, minor: int = 0, patch: int = 0) -> Version:
    return Version("semver", (0, major, minor, patch, 0, 0, 0, 0, 0, 0))


PARSE = [
    ("1.2.30", sv(1, 2, 30)),
    ("v1.2.30", sv(1, 2, 30)),
    ("1.18", sv(1, 18)),
    ("1", sv(1)),
    ("v24.0.7+incompatible", sv(24, 0, 7)),
    ("v2.0.0-rc.1", sv(2)),  # pre-release dropped
    ("v0.0.0-20200804184101-5ec99f83aff1", sv(0)),  # pseudo-version
    ("v1.2.3-a-b.c+d.e-f", sv(1, 2, 3)),
    ("v0010.0002.0003", sv(10, 2, 3)),
    # Only the first 9 characters of each number are read; leading zeros count.
    ("v1.2.2023071210521689159162", sv(1, 2, 202307121)),
    ("v99999999999.1.1", sv(999999999, 1, 1)),
    ("v0000000001.2.3", sv(0, 2, 3)),
]


@pytest.mark.parametrize(("text", "want"), PARSE)
def test_parse(text: str, want: Version) -> None:
    assert semver.parse(text) == want


INVALID = [
    "",
    "v",
    "(devel)",
    "1.2.3.4",
    "V1.2.3",
    "vv1.2.3",
    "1.2.3-",
    "1.2.3+",
    "1.2.3-a..b",
    "1.2.3-a_b",
    " 1.2.3",
    "1.2.3 ",
    "1.2.3\n",  # Go's $ is the end of the text, not before a final newline
    "1..2",
    "1.2.",
    "-1.2.3",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion, match="semver") as e:
        semver.parse(text)
    assert repr(text) in str(e.value)
    with pytest.raises(InvalidVersion):
        semver.parse_semver_v1(text)


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("v1.4.2", "v1.4.3", -1),
        ("v1.4.3", "v1.4.2", 1),
        ("v2.0.0-rc.1", "v2.0.0", 0),
        ("v1.2.3+a", "1.2.3", 0),
        ("1.10.0", "1.9.0", 1),
        ("v0.0.0-2020-abc", "v0.0.1", -1),
    ],
)
def test_compare(a: str, b: str, want: int) -> None:
    assert semver.compare(a, b) == want


FROM_SEMVER = [
    ("v1.4.2", sv(1, 4, 2)),
    ("0", sv(0)),
    ("1.2", sv(1, 2)),
    ("v2.0.0-rc.1+meta", sv(2)),
    # int64, then a wrapping int32 cast
    ("2147483648.0.0", sv(MIN32)),
    ("4294967297.1.1", sv(1, 1, 1)),
    ("9223372036854775807.0.0", sv(-1)),
    ("0000000000000000000000000001.2.3", sv(1, 2, 3)),
]


@pytest.mark.parametrize(("text", "want"), FROM_SEMVER)
def test_from_semver(text: str, want: Version) -> None:
    assert semver.from_semver(semver.parse_semver_v1(text)) == want


@pytest.mark.parametrize(
    "text", ["9223372036854775808.0.0", "1.9223372036854775808", "v1.2.2023071210521689159162"]
)
def test_semver_v1_int64_overflow(text: str) -> None:
    with pytest.raises(InvalidVersion, match="out of range"):
        semver.parse_semver_v1(text)


def test_semver_v1_fields() -> None:
    v = semver.parse_semver_v1("v1.2.3-rc.1+build.5")
    assert v == semver.SemverV1(1, 2, 3, "rc.1", "build.5", "v1.2.3-rc.1+build.5")
    assert str(v) == "1.2.3-rc.1+build.5"


INC_PATCH = [
    ("v1.2.3", (1, 2, 4), "v1.2.4"),
    ("1.2.3", (1, 2, 4), "1.2.4"),
    ("1.2.3-rc.1", (1, 2, 3), "1.2.3"),  # a pre-release only loses its tag
    ("v1.2.3-rc.1+b", (1, 2, 3), "v1.2.3"),
    ("1.2.3+build", (1, 2, 4), "1.2.4"),  # metadata alone still bumps (v1.5.0's code)
    ("1", (1, 0, 1), "1.0.1"),
    ("1.2.9223372036854775807", (1, 2, -(2**63)), "1.2.-9223372036854775808"),
]


@pytest.mark.parametrize(("text", "numbers", "original"), INC_PATCH)
def test_inc_patch(text: str, numbers: tuple[int, int, int], original: str) -> None:
    nxt = semver.inc_patch(semver.parse_semver_v1(text))
    assert (nxt.major, nxt.minor, nxt.patch) == numbers
    assert (nxt.pre, nxt.metadata, nxt.original) == ("", "", original)


def test_osv_bounds() -> None:
    assert semver.last_affected_upper("1.9.3") == sv(1, 9, 4)
    assert semver.last_affected_upper("v2.0.0-beta.1") == sv(2)
    assert semver.last_affected_upper("1.2.9223372036854775807") == sv(1, 2, 0)
    assert semver.unbounded_upper() == Version("semver", (65535, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    assert semver.unbounded_upper("pep440").kind == "pep440"
    # introduced "0" is the zero semver Version, which is what FromSemver gives for "0"
    lower = semver.from_semver(semver.parse_semver_v1("0"))
    assert Range(lower, semver.last_affected_upper("1.4.2")).contains(semver.parse("v1.4.2"))
    assert not Range(lower, semver.from_semver(semver.parse_semver_v1("1.4.2"))).contains(
        semver.parse("v1.4.2")
    )


# -- the gobin vectors: the SQL range predicate over the record's normalized version --------


def _vectors(section: str) -> list[Any]:
    path = DOCS / "matcher-vectors.json"
    if not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{path} is absent"))]
    cases = json.loads(path.read_text())["vulnerable"][section]
    return [pytest.param(c, id=c["name"]) for c in cases]


def _gobin_affected(norm: Version, rng: dict[str, Any] | None) -> bool | str:
    """claircore's ``rangefmt`` + ``VersionRange(lower, upper) @> norm_version``."""
    if rng is None or rng["lower_kind"] != rng["upper_kind"]:
        return True  # no version predicate at all
    lower = Version(rng["lower_kind"], tuple(rng["lower"]))
    upper = Version(rng["upper_kind"], tuple(rng["upper"]))
    if lower.v > upper.v:
        return "error"  # PostgreSQL refuses the range
    return norm.kind == lower.kind and Range(lower, upper).contains(norm)


@pytest.mark.parametrize("case", _vectors("gobin"))
def test_gobin_vectors(case: dict[str, Any]) -> None:
    pkg = case["record"]["package"]
    # The indexer's normalized version is gobin's ParseVersion of the module version.
    if pkg["norm_kind"] == "semver":
        norm = semver.parse(pkg["version"])
        assert list(norm.v) == pkg["norm_version"]
    else:
        with pytest.raises(InvalidVersion):
            semver.parse(pkg["version"])
        norm = Version()
    assert _gobin_affected(norm, case["vulnerability"]["range"]) == case["want"]


# -- properties ------------------------------------------------------------------------------

_num = st.integers(min_value=0, max_value=10**12).map(str)


@st.composite
def versions(draw: st.DrawFn) -> str:
    out = draw(st.sampled_from(["", "v"])) + draw(_num)
    out += "".join("." + n for n in draw(st.lists(_num, max_size=2)))
    ident = st.from_regex(r"[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)?", fullmatch=True)
    if draw(st.booleans()):
        out += "-" + draw(ident)
    if draw(st.booleans()):
        out += "+" + draw(ident)
    return out


@given(st.lists(versions(), min_size=2, max_size=6))
def test_property_compare(vs: list[str]) -> None:
    for a, b in itertools.product(vs, repeat=2):
        assert semver.compare(a, b) == -semver.compare(b, a)
        assert semver.compare(a, b) == semver.parse(a).compare(semver.parse(b))
    for a in vs:
        v = semver.parse(a)
        assert v.kind == "semver"
        assert v.v[0] == 0
        assert v.v[4:] == (0,) * 6
        assert all(0 <= x <= 999_999_999 for x in v.v[1:4])


@given(versions())
def test_property_v1_agrees_below_nine_digits(text: str) -> None:
    """With numbers under 9 digits both readers give the same Version."""
    numbers = text.lstrip("v").split("-")[0].split("+")[0].split(".")
    if all(len(n) <= 9 for n in numbers):
        assert semver.from_semver(semver.parse_semver_v1(text)) == semver.parse(text)
