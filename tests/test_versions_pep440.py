"""claircore's PEP 440 reading (``pkg/pep440``), quirks included.

Every expected value here is claircore's: the port must disagree with PEP 440 exactly where
claircore does (unanchored case-sensitive regex, dropped ``dev0``/``post0``, 5 release
numbers, int32 wrap, ignored local version).
"""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.matchers.versions import InvalidVersion, pep440
from redis_store.models import Version

MIN32 = -(2**31)


def vec(*v: int) -> tuple[int, ...]:
    return tuple(v) + (0,) * (10 - len(v))


# [epoch, r1..r5, pre label (a=-3 b=-2 rc=-1), pre number, post, dev]
PARSE = [
    ("1.0.0", vec(0, 1, 0, 0)),
    ("v2.5", vec(0, 2, 5)),
    ("3!1.2", vec(3, 1, 2)),
    ("2019.3", vec(0, 2019, 3)),
    ("2022.12.07", vec(0, 2022, 12, 7)),
    ("01.02", vec(0, 1, 2)),
    ("1.2.3.4.5", vec(0, 1, 2, 3, 4, 5)),
    ("1.2.3.4.5.6.7", vec(0, 1, 2, 3, 4, 5)),  # only 5 release numbers are kept
    ("1.0a2", vec(0, 1, 0, 0, 0, 0, -3, 2)),
    ("1.0.a.2", vec(0, 1, 0, 0, 0, 0, -3, 2)),
    ("1.0b1", vec(0, 1, 0, 0, 0, 0, -2, 1)),
    ("1.0-b-1", vec(0, 1, 0, 0, 0, 0, -2, 1)),
    ("1.0rc1", vec(0, 1, 0, 0, 0, 0, -1, 1)),
    ("1.0c3", vec(0, 1, 0, 0, 0, 0, -1, 3)),
    ("1.0pre4", vec(0, 1, 0, 0, 0, 0, -1, 4)),
    ("1.0a", vec(0, 1, 0, 0, 0, 0, -3, 0)),
    # Alternatives are tried in order and the regex is unanchored: "a" wins over "alpha",
    # "pre" over "preview", and the rest of the string is ignored.
    ("1.0alpha2", vec(0, 1, 0, 0, 0, 0, -3, 0)),
    ("1.0beta2", vec(0, 1, 0, 0, 0, 0, -2, 0)),
    ("1.0preview1", vec(0, 1, 0, 0, 0, 0, -1, 0)),
    ("1.0.post2", vec(0, 1, 0, 0, 0, 0, 0, 0, 2)),
    ("1.0-7", vec(0, 1, 0, 0, 0, 0, 0, 0, 7)),
    ("1.0.rev3", vec(0, 1, 0, 0, 0, 0, 0, 0, 3)),
    ("1.0r3", vec(0, 1, 0, 0, 0, 0, 0, 0, 3)),
    ("1.0-r", vec(0, 1, 0)),
    # dev alone goes in slot 6 as MinInt32 + dev; with pre or post, -dev in slot 9.
    ("1.0.dev5", vec(0, 1, 0, 0, 0, 0, MIN32 + 5)),
    ("1.0a1.dev5", vec(0, 1, 0, 0, 0, 0, -3, 1, 0, -5)),
    ("1.0.post1.dev5", vec(0, 1, 0, 0, 0, 0, 0, 0, 1, -5)),
    ("1!2.3.4-a5-post_6.dev7.8", vec(1, 2, 3, 4, 0, 0, -3, 5, 6, -7)),
    ("1.0.dev0", vec(0, 1, 0)),
    ("1.0.post0", vec(0, 1, 0)),
    ("1.0.post0.dev1", vec(0, 1, 0, 0, 0, 0, MIN32 + 1)),
    ("1.0+local.7", vec(0, 1, 0)),
    ("1.0+abc-def_1", vec(0, 1, 0)),
    # Case-sensitive and unanchored: whatever follows the first match is ignored.
    ("1.0RC1", vec(0, 1, 0)),
    ("1.0.DEV3", vec(0, 1, 0)),
    ("2.1.0.wr1.2.0", vec(0, 2, 1, 0)),
    ("1.0 local.2", vec(0, 1, 0)),
    ("release-1.2", vec(0, 1, 2)),
    ("V1.0", vec(0, 1, 0)),
    # int32 casts wrap; the tests on dev/post use the untruncated numbers.
    ("0.0.11111111111", vec(0, 0, 0, -1773790777)),
    ("9223372036854775807", vec(0, -1)),
    ("4294967296.1", vec(0, 0, 1)),
    ("2147483648", vec(0, MIN32)),
    ("1.0.dev4294967296", vec(0, 1, 0, 0, 0, 0, MIN32)),
    ("1.0.post4294967296.dev1", vec(0, 1, 0, 0, 0, 0, 0, 0, 0, -1)),
    ("00000000000000000000001", vec(0, 1)),
]


@pytest.mark.parametrize(("text", "want"), PARSE)
def test_parse(text: str, want: tuple[int, ...]) -> None:
    assert pep440.parse(text) == Version("pep440", want)


INVALID = [
    "",
    "garbage",
    "v",
    "!",
    "a.b",
    "rc",
    "9223372036854775808",  # Atoi: beyond int64
    "1.99999999999999999999",
    "99999999999999999999!1",
    "1.0a99999999999999999999",
    "1.0.post99999999999999999999",
    "1.0-99999999999999999999",
    "1.0.dev99999999999999999999",
    "1.2.3.4.5.6.99999999999999999999",  # parsed even though not kept
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion, match="pep440") as e:
        pep440.parse(text)
    assert repr(text) in str(e.value)
    with pytest.raises(InvalidVersion):
        pep440.compare("1.0", text)
    with pytest.raises(InvalidVersion):
        pep440.compare(text, "1.0")


def test_invalid_is_value_error() -> None:
    with pytest.raises(ValueError):
        pep440.parse("garbage")


EQUAL = [
    ("1.0", "1.0.0"),
    ("v1.0", "1.0"),
    ("01.02", "1.2"),
    ("1.0.dev0", "1.0"),
    ("1.0.post0", "1.0"),
    ("1.0.post", "1.0"),
    ("1.0.dev", "1.0"),
    ("1.0-r", "1.0"),
    ("1.0a", "1.0a0"),
    ("1.0RC1", "1.0"),
    ("2.1.0.wr1.2.0", "2.1.0"),
    ("1.0 local.2", "1.0"),
    ("1.0+local.1", "1.0+local.2"),
    ("1.0.0.0.0.1", "1.0.0.0.0.2"),
    ("1.0alpha2", "1.0a0"),
    ("1.0preview1", "1.0rc0"),
    ("1.0c1", "1.0rc1"),
    ("1.0.post0.dev1", "1.0.dev1"),
    ("0!1.0", "1.0"),
]

LESS = [
    ("0.0.11111111111", "0.0.2"),  # wraps negative
    ("1.0.dev1", "1.0a1"),
    ("1.0a1", "1.0a1.post1"),
    ("1.0", "1.0.post1"),
    ("1.0rc1", "1.0"),
    ("1.0", "1.0.1"),
    ("1.0.9", "1.0.10"),
    ("2.0", "1!0.1"),
    ("1.0.dev4294967296", "1.0.dev1"),
    ("1.0a1.dev1", "1.0a1"),
    ("1.0.post1.dev1", "1.0.post1"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal(a: str, b: str) -> None:
    assert pep440.compare(a, b) == 0
    assert pep440.compare(b, a) == 0


@pytest.mark.parametrize(("a", "b"), LESS)
def test_less(a: str, b: str) -> None:
    assert pep440.compare(a, b) == -1
    assert pep440.compare(b, a) == 1


# PEP 440's own ordering example, which claircore keeps.
PEP440_ORDER = [
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.1.dev1",
]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(PEP440_ORDER, 2)))
def test_pep440_order(a: str, b: str) -> None:
    assert pep440.compare(a, b) == -1


def test_compare_is_version_compare() -> None:
    """The python matcher compares the vectors (``Version.Compare``), kind included."""
    for a, b in itertools.product(PEP440_ORDER[:6], repeat=2):
        assert pep440.compare(a, b) == pep440.parse(a).compare(pep440.parse(b))


def test_parse_is_cached() -> None:
    assert pep440.parse("7.7.7") is pep440.parse("7.7.7")


_num = st.integers(min_value=0, max_value=2**40).map(str)


@st.composite
def versions(draw: st.DrawFn) -> str:
    out = ""
    if draw(st.booleans()):
        out += draw(_num) + "!"
    out += ".".join(draw(st.lists(_num, min_size=1, max_size=7)))
    if draw(st.booleans()):
        label = draw(st.sampled_from(["a", "b", "c", "rc", "alpha", "beta", "pre", "preview"]))
        out += draw(st.sampled_from(["", ".", "-", "_"])) + label + draw(_num | st.just(""))
    post = draw(st.sampled_from(["", "-{}", ".post{}", "post{}", "-r{}", ".rev"]))
    out += post.format(draw(_num))
    if draw(st.booleans()):
        out += draw(st.sampled_from(["", ".", "-"])) + "dev" + draw(_num | st.just(""))
    if draw(st.booleans()):
        out += "+" + draw(st.from_regex(r"[a-z0-9]+(\.[a-z0-9]+)?", fullmatch=True))
    return out


@given(st.lists(versions(), min_size=2, max_size=6))
def test_property_total_order(vs: list[str]) -> None:
    for a in vs:
        assert pep440.compare(a, a) == 0
    for a, b in itertools.product(vs, repeat=2):
        assert pep440.compare(a, b) == -pep440.compare(b, a)
    ordered = sorted(vs, key=functools.cmp_to_key(pep440.compare))
    for a, b in itertools.combinations(ordered, 2):
        assert pep440.compare(a, b) <= 0
