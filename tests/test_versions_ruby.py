"""claircore's RubyGems order (``ruby/version.go``), quirks included."""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.matchers.versions import InvalidVersion, ruby

VALID = [
    "1",
    "1.alpha",
    "1-alpha",
    "",
    "0-0",
    "1111111111111111111111111111111111111111111111111111111",
    "1.234567890987654321234567890987654321234567890987654321.3.21",
    " 1.0\t\n",
    "\f1\r",
    "1.0-a-b.c",
    "1.0.0.beta10",
]

INVALID = [
    "1.",
    ".3",
    "beta",
    "beta.1",
    "-",
    "1/2",
    "1..2",
    "1.0-",
    "1 .0",
    "1.0_1",
    "1.0\v",  # Go's \s has no \v
    "1.0\u00a0",  # nor anything beyond ASCII
    "\uff11.0",  # a fullwidth digit is no digit
    "1.0\n\n x",
]


@pytest.mark.parametrize("text", VALID)
def test_valid(text: str) -> None:
    ruby.parse(text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion, match="ruby") as e:
        ruby.parse(text)
    assert repr(text) in str(e.value)
    with pytest.raises(InvalidVersion):
        ruby.compare("1.0", text)


EQUAL = [
    ("1.0", "1"),
    ("1.0.0", "1"),
    ("4.2.10", "4.2.10.0.0.0.0.0.0"),
    ("1.1.02", "1.1.2"),
    ("", "0"),
    ("  1.0 ", "1"),
    ("1-alpha", "1.pre.alpha"),
    ("1.0.a", "1.a"),  # zeros just before the first string are dropped
    ("1.0.0.a.0", "1.a"),
    ("0.0.1.a", "0.0.1.a"),
]

LESS = [
    ("1", "2"),
    ("1.1.0", "1.1.2"),
    ("1.1.0", "1.1.02"),
    ("4.2.10", "5"),
    ("1.0.1", "1.1"),
    ("4.1.2-alpha", "4.1.2"),
    ("1.a", "1"),  # a string is older than a number, and than the padding zero
    ("1.A", "1.a"),  # strings compare byte-wise
    ("1.a.0.b", "1.a"),
    ("1.a", "1.a.0.1"),
    ("0.119.0.beta1", "0.120.0.beta2"),
    ("1.99999999999999999999999", "1.100000000000000000000000"),
    # claircore compares whole segments as strings (RubyGems splits "beta10"):
    ("1.0.0.beta10", "1.0.0.beta9"),
    ("2.0.0.b10", "2.0.0.b2"),
    ("0.8.11.6.rc", "0.8.11.6.rc0"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal(a: str, b: str) -> None:
    assert ruby.compare(a, b) == 0
    assert ruby.compare(b, a) == 0


@pytest.mark.parametrize(("a", "b"), LESS)
def test_less(a: str, b: str) -> None:
    assert ruby.compare(a, b) == -1
    assert ruby.compare(b, a) == 1


def test_parse_is_cached() -> None:
    assert ruby.parse("7.7.7.b1") is ruby.parse("7.7.7.b1")


_seg = st.one_of(
    st.integers(min_value=0, max_value=10**22).map(str),
    st.just("0"),
    st.from_regex(r"[0-9A-Za-z]{1,4}", fullmatch=True),
)


@st.composite
def versions(draw: st.DrawFn) -> str:
    out = str(draw(st.integers(min_value=0, max_value=30)))
    for seg in draw(st.lists(_seg, max_size=6)):
        out += "." + seg
    if draw(st.booleans()):
        out += "-" + ".".join(draw(st.lists(_seg, min_size=1, max_size=3)))
    return out


def _segments(key: ruby.Key) -> list[int | str]:
    """The canonical segments a key was built from (zeros re-inserted)."""
    out: list[int | str] = []
    for block in key[:-1]:
        kind, zeros, item = block  # type: ignore[misc]
        out += [0] * (zeros if kind == 0 else -zeros)
        out.append(item)
    return out


def _padded_compare(a: list[int | str], b: list[int | str]) -> int:
    """claircore's loop, literally: pad with 0, strings before numbers."""
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else 0
        y = b[i] if i < len(b) else 0
        if isinstance(x, str) and isinstance(y, str):
            c = (x > y) - (x < y)
        elif isinstance(x, str):
            c = -1
        elif isinstance(y, str):
            c = 1
        else:
            c = (x > y) - (x < y)
        if c:
            return c
    return 0


@given(versions(), versions())
def test_property_key_is_padded_compare(a: str, b: str) -> None:
    """The one-tuple-compare key orders exactly as claircore's zero-padded loop."""
    want = _padded_compare(_segments(ruby.parse(a)), _segments(ruby.parse(b)))
    assert ruby.compare(a, b) == want


@given(st.lists(versions(), min_size=2, max_size=6))
def test_property_total_order(vs: list[str]) -> None:
    for a in vs:
        assert ruby.compare(a, a) == 0
    for a, b in itertools.product(vs, repeat=2):
        assert ruby.compare(a, b) == -ruby.compare(b, a)
    ordered = sorted(vs, key=functools.cmp_to_key(ruby.compare))
    for a, b in itertools.combinations(ordered, 2):
        assert ruby.compare(a, b) <= 0
