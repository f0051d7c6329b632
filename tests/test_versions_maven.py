"""claircore's Maven version order (``internal/maven``), quirks included."""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.matchers.versions import InvalidVersion, maven

EQUAL = [
    ("1", "1"),
    ("1", "1.0"),
    ("1", "1.0.0"),
    ("1.0", "1.0.0"),
    ("1", "1-0"),
    ("1.0", "1.0-0"),
    ("", "0"),
    ("1a", "1-a"),
    ("1a", "1.0-a"),
    ("1.0.0a", "1-a"),
    ("1A", "1a"),  # qualifiers are case-insensitive
    ("1-alpha", "1-a"),
    ("1-beta", "1-b"),
    ("1-milestone", "1-m"),
    ("1-rc", "1-cr"),
    ("1.0-alpha-1.0", "1.0-alpha-1"),
    ("1.0-SNAPSHOT", "1.0-snapshot"),
    # claircore: release, ga and final are the empty qualifier (Maven: RELEASE is newer)
    ("1.0.RELEASE", "1.0"),
    ("2.0.10", "2.0.10.RELEASE"),
    ("1release", "1"),
    ("1-ga", "1"),
    ("1.final", "1"),
    ("1.Final", "1.0.0"),
    ("1..2", "1.0.2"),  # an empty number is 0
    ("0010", "10"),
    # Go's ToLower maps rune by rune: no dotted "i̇", no final sigma.
    ("1-İ", "1-i"),
    ("1-\u0391\u03a3", "1-\u03b1\u03c3"),  # capital alpha-sigma: no final-sigma form
]

LESS = [
    ("1.0-alpha", "1.0"),
    ("1-beta", "1-xyz"),
    ("1-beta", "1-abc"),
    ("1.0", "1.0-abc"),
    ("1.0-alpha-2", "1.0-alpha-10"),
    ("1.0-alpha-1.2", "1.0-alpha-2"),
    ("1-alpha", "1-beta"),
    ("1-beta", "1-milestone"),
    ("1-milestone", "1-rc"),
    ("1-rc", "1-SNAPSHOT"),
    ("1-SNAPSHOT", "1"),
    ("1.0-SNAPSHOT", "1.0"),
    ("1", "1-sp"),
    ("1-sp", "1-abc"),
    ("1-abc", "1-abd"),
    ("1-1", "1.1"),  # a list is older than a number
    ("1-a", "1-1"),  # a qualifier is older than a number
    ("1.9.3", "1.9.4"),
    ("1.0", "1.0.1"),
    ("1.0.9", "1.0.10"),
    ("9.4.40.v20210413", "9.4.47"),
    ("2.8.11", "2.9.11"),
    ("1.99999999999999999999999", "1.100000000000000000000000"),  # no size limit
    # An empty item after letters is the *string* "0", an unknown qualifier, which loses
    # to the number 0.
    ("a..b", "a.0.b"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal(a: str, b: str) -> None:
    assert maven.compare(a, b) == 0
    assert maven.compare(b, a) == 0


@pytest.mark.parametrize(("a", "b"), LESS)
def test_less(a: str, b: str) -> None:
    assert maven.compare(a, b) == -1
    assert maven.compare(b, a) == 1


def test_not_transitive() -> None:
    """claircore's order is not transitive on some inputs; the port keeps that."""
    assert maven.compare("10.0", "10.ga.1") == -1
    assert maven.compare("10.ga.1", "10a-SNAPSHOT") == -1
    assert maven.compare("10.0", "10a-SNAPSHOT") == 1


INVALID = [
    "1.0.",  # ends in an empty number
    "1.0-",
    "1.",
    "1-",
    "1..",
    "1.-",
    "1.0.0.",
    "1.0\u0663",  # an Arabic-Indic digit is a digit that big.Int cannot read
    "\u0663",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion, match="maven") as e:
        maven.parse(text)
    assert repr(text) in str(e.value)
    with pytest.raises(InvalidVersion):
        maven.compare("1.0", text)


@pytest.mark.parametrize("text", ["", ".", "-", "a.", "1.0.a.", "1.0-a-", "-1", "1.0.RELEASE"])
def test_valid_odd(text: str) -> None:
    maven.parse(text)


def test_parse_is_cached() -> None:
    assert maven.parse("7.7.7-x") is maven.parse("7.7.7-x")


_item = st.one_of(
    st.integers(min_value=0, max_value=10**25).map(str),
    st.sampled_from(
        [
            *("alpha", "a", "beta", "B", "milestone", "rc", "cr", "SNAPSHOT", "ga", "Final"),
            *("RELEASE", "sp", "xyz", "v2021", "abc"),
        ]
    ),
)
_sep = st.sampled_from([".", "-", ""])


@st.composite
def any_versions(draw: st.DrawFn) -> str:
    """Anything claircore accepts: items joined by '.', '-' or nothing."""
    items = draw(st.lists(_item, min_size=1, max_size=6))
    out = items[0]
    for it in items[1:]:
        out += draw(_sep) + it
    if not out[-1].isdigit():  # a separator after letters is fine, after digits an error
        out += draw(st.sampled_from(["", ".", "-"]))
    return out


@st.composite
def plain_versions(draw: st.DrawFn) -> str:
    """``N(.N)*`` with an optional ``-qualifier[-N]`` tail: claircore's order is total here."""
    nums = draw(st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=4))
    out = ".".join(map(str, nums))
    if draw(st.booleans()):
        out += "-" + draw(_item.filter(lambda s: not s.isdigit()))
        if draw(st.booleans()):
            out += "-" + str(draw(st.integers(min_value=0, max_value=5)))
    return out


@given(st.lists(any_versions(), min_size=2, max_size=6))
def test_property_antisymmetric(vs: list[str]) -> None:
    for a, b in itertools.product(vs, repeat=2):
        assert maven.compare(a, b) == -maven.compare(b, a)
        assert (maven.compare(a, b) == 0) == (maven.compare(b, a) == 0)
    for a in vs:
        assert maven.compare(a, a) == 0


@given(st.lists(plain_versions(), min_size=2, max_size=6))
def test_property_total_order_on_plain_versions(vs: list[str]) -> None:
    ordered = sorted(vs, key=functools.cmp_to_key(maven.compare))
    for a, b in itertools.combinations(ordered, 2):
        assert maven.compare(a, b) <= 0
