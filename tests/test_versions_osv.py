"""The OSV rule (python, java-maven, ruby-gem): Go's query parsing and the bound logic."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.matchers.versions import InvalidVersion, maven, osv, pep440, ruby

DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "docs"

QUERIES = [
    ("fixed=1.0", {"fixed": "1.0"}),
    ("fixed=1.0+local.2&introduced=0", {"fixed": "1.0 local.2", "introduced": "0"}),
    ("fixed=1%2B2", {"fixed": "1+2"}),
    ("fix%65d=1", {"fixed": "1"}),
    ("fixed=1&fixed=2", {"fixed": "1"}),  # the first value wins
    ("&&fixed=1&", {"fixed": "1"}),
    ("fixed", {"fixed": ""}),
    ("=1", {"": "1"}),
    ("fixed=a=b", {"fixed": "a=b"}),
    ("fixed=%C3%A9", {"fixed": "é"}),
    ("fixed=%ff", {"fixed": "\ufffd"}),  # an undecodable byte reads as U+FFFD, as in Go
    ("fixed=%e2%82x", {"fixed": "\ufffd\ufffdx"}),  # one per byte
    ("fixed=é+1", {"fixed": "é 1"}),
    ("", {}),
]


@pytest.mark.parametrize(("query", "want"), QUERIES)
def test_parse_query(query: str, want: dict[str, str]) -> None:
    assert osv.parse_query(query) == want


BAD_QUERIES = [
    "fixed=1.0;introduced=0",
    "fixed=1;",
    ";",
    "a;b&fixed=1",  # an error in any pair fails the whole query
    "fixed=%",
    "fixed=%4",
    "fixed=%zz",
    "fixed=%4g",
    "fi%xed=1",
    "fixed=1&x=%",
    "fixed=%+1",
]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_parse_query_errors(query: str) -> None:
    with pytest.raises(InvalidVersion, match="OSV"):
        osv.parse_query(query)
    with pytest.raises(InvalidVersion):
        osv.vulnerable("1.0", query, pep440.compare)


def test_bounds() -> None:
    assert osv.bounds("introduced=1&lastAffected=2&x=3") == ("1", "", "2")
    assert osv.bounds("introduced=&fixed=") == ("", "", "")


Compare = Callable[[str, str], int]
RULE = [
    # (record, fixed_in_version, compare, want)
    ("garbage", "", pep440.compare, True),  # empty: vulnerable, the record is not even parsed
    ("1.0", "foo=bar", pep440.compare, True),  # no bound at all
    ("garbage", "foo=bar", pep440.compare, "error"),  # but the record is parsed first
    ("1.0", "introduced=", pep440.compare, True),  # an empty value is no bound
    ("1.0", "introduced=2.0&fixed=3.0", pep440.compare, False),
    ("2.0", "introduced=2.0&fixed=3.0", pep440.compare, True),
    ("2.5", "introduced=2.0&fixed=3.0", pep440.compare, True),
    ("3.0", "introduced=2.0&fixed=3.0", pep440.compare, False),
    ("3.0", "introduced=2.0&lastAffected=3.0", pep440.compare, True),
    ("3.0.1", "introduced=2.0&lastAffected=3.0", pep440.compare, False),
    ("3.5", "fixed=3.0&lastAffected=4.0", pep440.compare, False),  # fixed wins
    ("1.0", "fixed=garbage", pep440.compare, "error"),
    ("1.0", "introduced=garbage&fixed=2.0", pep440.compare, "error"),
    ("1.0", "introduced=2.0&fixed=garbage", pep440.compare, False),  # never reached
    ("1.0", "lastAffected=1.0.0.0.0.1", pep440.compare, True),
    ("2.0.10", "fixed=2.0.10.RELEASE", maven.compare, False),
    ("2.0", "fixed=1.0.", maven.compare, "error"),
    ("1.0.", "", maven.compare, True),
    ("1.0-SNAPSHOT", "fixed=1.0", maven.compare, True),
    ("1.0.0.beta10", "fixed=1.0.0.beta9", ruby.compare, True),
    ("1.3.3", "lastAffected=1.3.3", ruby.compare, True),
    ("1.0", "fixed=1.0-", ruby.compare, "error"),
]


@pytest.mark.parametrize(("record", "fiv", "compare", "want"), RULE)
def test_rule(record: str, fiv: str, compare: Compare, want: bool | str) -> None:
    assert _run(record, fiv, compare) == want


def _run(record: str, fiv: str, compare: Compare) -> bool | str:
    try:
        return osv.vulnerable(record, fiv, compare)
    except InvalidVersion:
        return "error"


# -- the python / java-maven / ruby-gem vectors ------------------------------------------------

SCHEMES: dict[str, Compare] = {
    "python": pep440.compare,
    "java-maven": maven.compare,
    "ruby-gem": ruby.compare,
}


def _vectors() -> list[Any]:
    path = DOCS / "matcher-vectors.json"
    if not path.exists():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"{path} is absent"))]
    data = json.loads(path.read_text())["vulnerable"]
    return [
        pytest.param(section, case, id=f"{section}:{case['name']}")
        for section in SCHEMES
        for case in data[section]
    ]


@pytest.mark.parametrize(("section", "case"), _vectors())
def test_matcher_vectors(section: str, case: dict[str, Any]) -> None:
    vuln = case["vulnerability"]
    # Only the version rule decides these: no arch, no range, no invert.
    assert vuln["range"] is None
    assert not vuln["invert"]
    record = case["record"]["package"]["version"]
    assert _run(record, vuln["fixed_in_version"], SCHEMES[section]) == case["want"]


# -- properties ------------------------------------------------------------------------------

_version = st.integers(min_value=0, max_value=30).map(lambda n: f"{n // 10}.{n % 10}")


@given(
    _version,
    st.one_of(st.none(), _version),
    st.one_of(st.none(), _version),
    st.one_of(st.none(), _version),
)
def test_property_rule(
    record: str, introduced: str | None, fixed: str | None, last: str | None
) -> None:
    """The rule, restated: at or above introduced, and below fixed or at most lastAffected."""
    pairs = [("introduced", introduced), ("fixed", fixed), ("lastAffected", last)]
    fiv = "&".join(f"{k}={v}" for k, v in pairs if v is not None) or "x=1"
    want = True
    if introduced is not None and pep440.compare(record, introduced) < 0:
        want = False
    elif fixed is not None:
        want = pep440.compare(record, fixed) < 0
    elif last is not None:
        want = pep440.compare(record, last) <= 0
    for compare in SCHEMES.values():  # these plain versions order alike in all three
        assert osv.vulnerable(record, fiv, compare) is want
