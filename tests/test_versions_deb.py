"""Debian versions as claircore reads them (go-deb-version 09fca49), dpkg ordering.

Expected values are claircore's (checked against its Go code), except where claircore never
returns: there the port answers as dpkg and the fixed library do.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.matchers.versions import InvalidVersion, deb

SHARED_DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "docs"
OPS = {"<": -1, "==": 0, ">": 1}

# (a, op, b): how claircore orders a against b.
ORDER = [
    # affectedmanifest_test.go and the usual Debian/Ubuntu shapes
    ("1.9-3+deb10u1", "<", "1.9-3+deb10u2"),
    ("7.4.629-3", "<", "7.4.629-5"),
    ("7.4.622-1", "<", "7.4.629-1"),
    ("2:7.4.052-1ubuntu3", "<", "2:7.4.052-1ubuntu3.1"),
    ("2:7.4.052-1ubuntu2", "<", "2:7.4.052-1ubuntu3"),
    ("2:7.4.052-1", "<", "2:7.4.052-1ubuntu3"),
    ("2:7.4.052", "<", "2:7.4.052-1"),
    ("2.0-1ubuntu1", "<", "2.0-1ubuntu2"),
    ("1.0-1", "<", "1.0-1+b1"),
    ("1.0-1", "<", "1.0-1.1"),
    ("1.0", "<", "1.0.1"),
    ("1.10", ">", "1.9"),
    ("1.0-10", ">", "1.0-9"),
    # epoch is an integer and wins over everything
    ("1:1.0-1", ">", "1.5-1"),
    ("1:7.4.052", ">", "7.4.052"),
    ("1:7.4.052", "<", "2:7.4.052"),
    ("10:1", ">", "9:2"),
    ("0:1.0-1", "==", "1.0-1"),
    ("00:1.0", "==", "1.0"),
    ("-0:1.0", "==", "1.0"),
    ("+1:1.0", "==", "1:1.0"),
    # tilde sorts before everything, the end of the part included
    ("1.0~rc1-1", "<", "1.0-1"),
    ("1.0~rc1", "<", "1.0~rc2"),
    ("1.0~~", "<", "1.0~~a"),
    ("1.0~~a", "<", "1.0~"),
    ("1.0~", "<", "1.0"),
    ("1.0-1~bpo1", "<", "1.0-1"),
    # letters sort before non-letters, the end before letters
    ("1.0", "<", "1.0a"),
    ("1.0a", "<", "1.0."),
    ("1.0a", "<", "1.0+"),
    ("1.0Z", "<", "1.0a"),
    ("1.0+", "<", "1.0.0"),
    ("1.0_1", ">", "1.0.1"),
    ("1.0-a", "<", "1.0-."),
    # digit runs compare as numbers
    ("1.010", ">", "1.9"),
    ("1.99999999999999999998", "<", "1.99999999999999999999.1"),
    # ":" belongs to upstream after the first one; "-" splits at the last one
    ("1:2:3", ">", "1:2"),
    ("1.0-2-1", ">", "1.0-1-9"),
    # non-ASCII letters compare byte-wise on UTF-8 (é is C3 A9, ª is C2 AA, µ is C2 B5)
    ("1.0é", ">", "1.0z"),
    ("1.0ª", "<", "1.0µ"),
    ("1.0é", "<", "1.0."),
    # a non-ASCII decimal digit is valid but is not a digit run
    ("1\u0663", "<", "12"),
    ("1\u0663", ">", "1a"),
    # identical
    ("1.0-1", "==", "1.0-1"),
    ("1.0-1", "==", " 1.0-1\n"),
]

# Upstream or revision equal in value but not in text: claircore loops forever; the port
# compares such parts as equal and goes on, as dpkg does.
HANGS = [
    ("1.0-1", "==", "1.00-1"),
    ("1.002", "==", "1.2"),
    ("2.0", "==", "2.0-0"),
    ("0.4-1", "==", "0.04-1"),
    ("1.0-1", "==", "1.0-01"),
    ("1.0-", "==", "1.0-0"),
    ("1a", "==", "1a0"),
    ("1.0-1", "<", "1.00-2"),  # claircore never reaches the revisions
    ("0.4-1", "<", "0.04-10"),
    ("1:1.0-5", ">", "1:01.0-4"),
    # digit runs saturate at int64 (Atoi), so these are "equal in value"
    ("1.99999999999999999999", "==", "1.99999999999999999998"),
    ("9223372036854775807", "==", "9223372036854775808"),
]

NOT_HANGS = [
    ("1.0-1", "1.0-1"),
    ("1.0-1", "1:1.00-1"),
    ("1.0-1", "1.0-2"),
    ("1.0~", "1.0"),
    ("0:1.0", "1.0"),
]

# input -> (epoch, upstream, revision, String())
PARSE = [
    ("1.2.3", 0, "1.2.3", "", "1.2.3"),
    ("1:1.2.3", 1, "1.2.3", "", "1:1.2.3"),
    ("0:1.2.3", 0, "1.2.3", "", "1.2.3"),
    ("6.0-4.el6.x86_64", 0, "6.0", "4.el6.x86_64", "6.0-4.el6.x86_64"),
    ("6.0-4.el6_x86_64", 0, "6.0", "4.el6_x86_64", "6.0-4.el6_x86_64"),
    ("2:7.4.052-1ubuntu3.1", 2, "7.4.052", "1ubuntu3.1", "2:7.4.052-1ubuntu3.1"),
    ("1.0-", 0, "1.0", "", "1.0"),
    ("1.0-2-3", 0, "1.0-2", "3", "1.0-2-3"),
    ("1:2:3-4", 1, "2:3", "4", "1:2:3-4"),
    ("1.0_rc1", 0, "1.0_rc1", "", "1.0_rc1"),
    ("  1.0-1\t", 0, "1.0", "1", "1.0-1"),
    ("\u3000" + "1.0", 0, "1.0", "", "1.0"),
    ("1.0\u00e9-\u00e9", 0, "1.0\u00e9", "\u00e9", "1.0\u00e9-\u00e9"),
    ("1\u0663-\u0663", 0, "1\u0663", "\u0663", "1\u0663-\u0663"),
    ("9223372036854775807:1", 9223372036854775807, "1", "", "9223372036854775807:1"),
    ("-0:1", 0, "1", "", "1"),
]

INVALID = [
    "",
    "   ",
    "abc",  # upstream must start with a digit
    "A:1.2.3",  # epoch is not a number
    "-1:1.2.3",  # negative epoch
    ":1.0",  # empty epoch
    "1_0:1.0",  # Atoi takes no underscores
    "1 :1.0",  # ...nor spaces (only the whole string is trimmed)
    "9223372036854775808:1",  # epoch beyond int64
    "2:-1ubuntu3.1",  # empty upstream
    "-1",  # empty upstream
    "2:A7.4.052-1ubuntu3.1",
    "a1.0-1",
    "\u0663.0",  # first byte must be an ASCII digit
    "2:7.4.!052-1ubuntu3.1",
    "7.4.052-!1ubuntu3.1",
    "1.0-1:2",  # ":" is not allowed in the revision
    "1.0 beta-1",
    "1.0-1 2",
    "1.0\x1c",  # Go's TrimSpace does not trim \x1c (Python's strip would)
    "1.0/2",
    "1.0-\u00b2",  # superscript two is a number but not a decimal digit
]

# go-deb-version's String() == "0": the ubuntu matcher's "affects every version".
ZERO = [("0", True), ("0:0", True), ("00:0", True), ("0-", True), (" 0 ", True)]
ZERO += [("0-0", False), ("1:0", False), ("00", False), ("0.0", False), ("0~", False)]


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


@pytest.mark.parametrize(("a", "op", "b"), ORDER + HANGS)
def test_order(a: str, op: str, b: str) -> None:
    assert deb.compare(a, b) == OPS[op]
    assert deb.compare(b, a) == -OPS[op]
    assert deb.compare(deb.parse(a), b) == OPS[op]


@pytest.mark.parametrize(("a", "op", "b"), HANGS)
def test_claircore_hangs(a: str, op: str, b: str) -> None:
    assert deb.claircore_hangs(a, b)
    assert deb.claircore_hangs(b, a)


@pytest.mark.parametrize(("a", "b"), NOT_HANGS + [(a, b) for a, _, b in ORDER])
def test_claircore_returns(a: str, b: str) -> None:
    assert not deb.claircore_hangs(a, b)


@pytest.mark.parametrize(("text", "epoch", "upstream", "revision", "string"), PARSE)
def test_parse(text: str, epoch: int, upstream: str, revision: str, string: str) -> None:
    v = deb.parse(text)
    assert (v.epoch, v.upstream, v.revision) == (epoch, upstream, revision)
    assert str(v) == string
    assert deb.valid(text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion) as raised:
        deb.parse(text)
    assert str(raised.value).startswith("deb: ") and repr(text) in str(raised.value)
    assert not deb.valid(text)
    with pytest.raises(InvalidVersion):
        deb.compare(text, "1.0")
    with pytest.raises(InvalidVersion):
        deb.compare("1.0", text)


def test_invalid_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="deb"):
        deb.parse("abc")


@pytest.mark.parametrize(("text", "zero"), ZERO)
def test_is_zero(text: str, zero: bool) -> None:
    assert deb.is_zero(text) is zero
    assert deb.is_zero(deb.parse(text)) is zero
    assert (str(deb.parse(text)) == "0") is zero


# --- the debian/ubuntu matcher rules on matcher-vectors.json ---------------------------------


def debian_rule(installed: str, fixed: str) -> bool:
    """debian/matcher.go Vulnerable: "" affects all, "0" none, else installed < fixed."""
    if fixed == "":
        return True
    if fixed == "0":
        return False
    a, b = deb.parse(installed), deb.parse(fixed)
    return deb.compare(a, b) < 0


def ubuntu_rule(installed: str, fixed: str) -> bool:
    """ubuntu/matcher.go Vulnerable: a fixed version reading as "0" affects every version."""
    if fixed == "":
        return True
    a, b = deb.parse(installed), deb.parse(fixed)
    return deb.is_zero(b) or deb.compare(a, b) < 0


@cache
def vectors() -> dict[str, Any]:
    path = SHARED_DOCS / "matcher-vectors.json"
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())["vulnerable"]
    return data


def vector_cases(matcher: str) -> list[Any]:
    found = vectors().get(matcher, [])
    if not found:
        return [pytest.param(None, id="absent", marks=pytest.mark.skip("../shared is absent"))]
    return [pytest.param(c, id=c["name"]) for c in found]


def run_vector(rule: Any, case: dict[str, Any]) -> None:
    installed = case["record"]["package"]["version"]
    fixed = case["vulnerability"]["fixed_in_version"]
    want = case["want"]
    if want == "error":
        with pytest.raises(InvalidVersion):
            rule(installed, fixed)
        return
    if want == "hang":  # claircore never returns; the port answers as dpkg: equal, not below
        assert deb.claircore_hangs(installed, fixed)
        want = False
    assert rule(installed, fixed) is want


@pytest.mark.parametrize("case", vector_cases("debian-matcher"))
def test_debian_vectors(case: dict[str, Any]) -> None:
    run_vector(debian_rule, case)


@pytest.mark.parametrize("case", vector_cases("ubuntu-matcher"))
def test_ubuntu_vectors(case: dict[str, Any]) -> None:
    run_vector(ubuntu_rule, case)


def test_spec_examples() -> None:
    assert debian_rule("1.0-1", "0") is False
    assert ubuntu_rule("1.0-1", "0") is True
    assert ubuntu_rule("1.0-1", "0:0") is True
    assert debian_rule("1.0-1", "1.00-1") is False
    with pytest.raises(InvalidVersion):
        debian_rule("abc", "1.0-1")


# --- properties -------------------------------------------------------------------------------

_UP = st.sampled_from([*"0123456789" * 4, *".+~:_-abzAZ", "\u00e9", "\u0663"])
_REV = st.sampled_from([*"0123456789" * 3, *".+~_abuZ", "\u00b5"])


@st.composite
def versions(draw: st.DrawFn) -> str:
    upstream = draw(st.sampled_from("0123456789")) + "".join(draw(st.lists(_UP, max_size=8)))
    # A ":" in upstream needs an epoch before it, a "-" needs a revision after it.
    epochs = ["0:", "1:", "2:", "01:"] + ([] if ":" in upstream else ["", ""])
    epoch = draw(st.sampled_from(epochs))
    if "-" not in upstream and draw(st.booleans()):
        return epoch + upstream
    return epoch + upstream + "-" + "".join(draw(st.lists(_REV, max_size=6)))


@given(versions(), versions())
def test_antisymmetric(a: str, b: str) -> None:
    assert deb.valid(a) and deb.valid(b)
    assert deb.compare(a, a) == 0
    assert deb.compare(a, b) == -deb.compare(b, a)
    assert deb.compare(a, b) in (-1, 0, 1)


@given(versions(), versions(), versions())
def test_transitive(a: str, b: str, c: str) -> None:
    x, y, z = sorted([a, b, c], key=lambda v: deb.parse(v).key)
    assert deb.compare(x, y) <= 0 and deb.compare(y, z) <= 0 and deb.compare(x, z) <= 0


@given(versions(), versions())
def test_hang_means_equal_parts(a: str, b: str) -> None:
    if deb.claircore_hangs(a, b):
        pa, pb = deb.parse(a), deb.parse(b)
        assert pa.epoch == pb.epoch
        assert pa.key[1] == pb.key[1] or pa.key[2] == pb.key[2]
