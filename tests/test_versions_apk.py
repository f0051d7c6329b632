"""Alpine versions as claircore reads them (go-apk-version 041fdbb8, apk-tools 2.x tokens).

Expected values are claircore's, quirks included: the zero run that hides a following
suffix, the unchecked character after ``-``, int64 wrap-around.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.matchers.versions import InvalidVersion, apk

SHARED_DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "docs"
OPS = {"<": -1, "==": 0, ">": 1}

# (a, op, b) for valid versions.
ORDER = [
    ("1.2.3-r0", "<", "1.2.3-r1"),
    ("1.2.3-r10", ">", "1.2.3-r9"),
    ("1.2.3-r1", "==", "1.2.3-r1"),
    ("1.0", "<", "1.1"),
    ("1.10", ">", "1.9"),
    ("2.34", ">", "0.1.0_alpha"),
    ("1.2.1", ">", "1.2"),
    ("1.0", "<", "1.0.1"),
    ("0.5", "<", "0.5-r0"),
    ("3.0.8-r3", "<", "3.1.0-r0"),
    # letters after the numbers
    ("1.0b", ">", "1.0a"),
    ("1.0a", ">", "1.0"),
    ("1.0b", "<", "1.1"),
    # pre-release suffixes sort before the release, post-release ones after
    ("1.0_alpha1", "<", "1.0_beta1"),
    ("1.0_beta1", "<", "1.0_pre1"),
    ("1.0_pre1", "<", "1.0_rc1"),
    ("1.1_rc1", "<", "1.1"),
    ("1.1_rc1-r0", "<", "1.1-r0"),
    ("1.0_rc2", ">", "1.0_rc1"),
    ("1.0", "<", "1.0_cvs"),
    ("1.0_cvs", "<", "1.0_svn"),
    ("1.0_svn", "<", "1.0_git"),
    ("1.0_git", "<", "1.0_hg"),
    ("1.0_hg", "<", "1.0_p"),
    ("1.0_p1", ">", "1.0"),
    ("1.0_p1-r2", ">", "1.0-r2"),
    ("1.0_p1", "<", "1.0_p2"),
    ("0.1.0_alpha_pre2", "<", "0.1.0_alpha"),  # a second pre-release suffix goes lower
    ("0.1.0_alpha_pre2", "<", "0.1.0_alpha_rc1"),
    ("0.1.0_alpha_p1", ">", "0.1.0_alpha"),
    # a run of zeros after "." is worth minus its length...
    ("1.0", ">", "1.00"),
    ("1.01", ">", "1.001"),
    ("1.05", "<", "1.1"),
    ("1.0", "<", "1.1"),
    ("1.0.1", ">", "1.00.1"),
    # ...and forces DIGIT next, so a suffix right after it is not seen as pre-release
    ("1.10.0_alpha1", ">", "1.10.0"),
    ("0.2.0", "<", "0.2.0_rc1"),
    ("1.0_alpha", ">", "1.0"),
    ("1.0_rc1", ">", "1.0"),
    ("1.0_rc1", "<", "1.0.0"),  # the forced DIGIT meets ".": then "_rc" counts again
    ("1.2_rc1", "<", "1.2"),  # no zero run: the suffix works
    ("1.0_rc1-r0", "<", "1.0-r0"),  # with "-rN" on both sides the order is the usual one
    ("1.10.0_alpha1-r0", "<", "1.10.0-r0"),
    # the character after "-" is skipped whatever it is; "-r" needs no number
    ("1.0-x2", "==", "1.0-r2"),
    ("1.0-r", "==", "1.0-r0"),
    ("1.0--1", "==", "1.0-r1"),
    ("1.0-r", ">", "1.0"),
    # digit runs wrap at int64
    ("9223372036854775807", ">", "1"),
    ("9223372036854775808", "<", "1"),  # wraps to -2**63
    ("18446744073709551617", "==", "1"),  # 2**64 + 1 wraps to 1
    # Unicode decimal digits count, as their code point minus "0"
    ("1.\u0663", "==", "1.1587"),
    # the empty version is valid and is the smallest
    ("", "==", "0"),
    ("", "<", "0.1"),
    ("", "==", ""),
]

# Valid for go-apk-version although apk-tools or intuition might say otherwise.
VALID = [
    "",
    "0",
    "1.2.3",
    "1.2.3_alpha1",
    "1.2.3-r1",
    "0.1.0_alpha_pre2",
    "1.0b",
    "a",
    "1..2",
    "1.0-r",
    "1.0-x2",
    "1.0_p",
    "1.0_p1",
    "1.0\u00e9",  # any Unicode lower-case letter (Ll) is a letter
    "-r1",  # an empty first number is 0
    "1-r1-r2",
    "1.0a1",
    "1.\u0663",
    "9" * 40,
]

INVALID = [
    "1.0bc",  # one letter only
    "1.0!",
    "1_",
    "1-",
    "1.0_foo",
    "1.0_patch",
    "1.0_pa",
    "1.0b.1",  # nothing but a digit may follow the letter
    "ab",
    "1.0-r1_p1",  # nothing may follow the revision except another revision
    "1.0 ",
    "1.0\u00e9\u00e9",  # one letter only
    "1.0\u00aa",  # ª is a letter but not lower case (Lo)
    "1.0A",  # upper case is not a letter here
]


@pytest.mark.parametrize(("a", "op", "b"), ORDER)
def test_order(a: str, op: str, b: str) -> None:
    assert apk.valid(a) and apk.valid(b)
    assert apk.compare(a, b) == OPS[op]
    assert apk.compare(b, a) == -OPS[op]
    assert apk.compare(apk.parse(a), apk.parse(b)) == OPS[op]
    assert apk.compare(apk.parse(a), b) == OPS[op]


@pytest.mark.parametrize("text", VALID)
def test_valid(text: str) -> None:
    assert apk.valid(text)
    assert str(apk.parse(text)) == text


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    assert not apk.valid(text)
    with pytest.raises(InvalidVersion) as raised:
        apk.parse(text)
    assert str(raised.value).startswith("apk: ") and repr(text) in str(raised.value)


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        ("1.0", "<", "1.0bc"),  # invalid versions still order, as the Go code does
        ("1.0bc", ">", "1.0"),
        ("1.1_foo", "<", "1.1"),  # an invalid suffix reads as -1, like a pre-release
        ("1.0_foo", ">", "1.0"),  # ...unless the zero run hides it
        ("1.0_foo", "==", "1.0_bar"),
        ("23_foo", ">", "4_beta"),
    ],
)
def test_compare_invalid(a: str, op: str, b: str) -> None:
    assert apk.compare(a, b) == OPS[op]


# --- the alpine matcher rule on matcher-vectors.json -----------------------------------------


def alpine_rule(installed: str, fixed: str) -> bool:
    """alpine/matcher.go Vulnerable: "" affects all, "0" none, invalid is "not affected"."""
    if fixed == "":
        return True
    if fixed == "0":
        return False
    if not apk.valid(installed) or not apk.valid(fixed):
        return False
    return apk.compare(installed, fixed) < 0


@cache
def vectors() -> dict[str, Any]:
    path = SHARED_DOCS / "matcher-vectors.json"
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())["vulnerable"]
    return data


def vector_cases() -> list[Any]:
    found = vectors().get("alpine-matcher", [])
    if not found:
        return [pytest.param(None, id="absent", marks=pytest.mark.skip("../shared is absent"))]
    return [pytest.param(c, id=c["name"]) for c in found]


@pytest.mark.parametrize("case", vector_cases())
def test_alpine_vectors(case: dict[str, Any]) -> None:
    installed = case["record"]["package"]["version"]
    fixed = case["vulnerability"]["fixed_in_version"]
    assert alpine_rule(installed, fixed) is case["want"]


def test_spec_examples() -> None:
    assert alpine_rule("1.0_p1-r2", "1.0-r2") is False
    assert alpine_rule("1.0bc-r0", "2.0-r0") is False  # invalid: no error, not affected
    assert alpine_rule("1.0-r0", "0") is False


# --- properties -------------------------------------------------------------------------------


@st.composite
def versions(draw: st.DrawFn) -> str:
    """Versions in apk's grammar: numbers, a letter, suffixes, a revision."""
    number = st.sampled_from(["0", "00", "1", "2", "05", "10", "99"])
    out = draw(st.sampled_from(["0", "1", "2", "10"]))
    out += "".join("." + n for n in draw(st.lists(number, max_size=3)))
    if draw(st.booleans()):
        out += draw(st.sampled_from("abz"))
    for _ in range(draw(st.integers(0, 2))):
        out += "_" + draw(st.sampled_from(["alpha", "beta", "pre", "rc", "cvs", "git", "p"]))
        out += draw(st.sampled_from(["", "1", "2", "10"]))
    if draw(st.booleans()):
        out += "-r" + draw(st.sampled_from(["", "0", "1", "10"]))
    return out


@given(versions(), versions())
def test_antisymmetric(a: str, b: str) -> None:
    assert apk.valid(a) and apk.valid(b)
    assert apk.compare(a, a) == 0
    assert apk.compare(a, b) == -apk.compare(b, a)
    assert apk.compare(a, b) in (-1, 0, 1)


@given(st.text(alphabet="0123456789._-abrpz", max_size=12), st.text(max_size=6))
def test_any_text_orders_without_error(a: str, b: str) -> None:
    assert apk.compare(a, b) == -apk.compare(b, a)
    if apk.valid(a):
        assert str(apk.parse(a)) == a
    else:
        with pytest.raises(InvalidVersion):
            apk.parse(a)
