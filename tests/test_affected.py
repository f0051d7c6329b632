"""AffectedManifests against claircore's own answers (matcher-vectors.json), end to end
through the store on every backend, plus the contract's decisions where they differ."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from redis_store import InvalidInputError, MatcherError, Package, Vulnerability
from redis_store.matchers import DEFAULT_MATCHERS
from tests.support import vectors
from tests.support.records import index_manifest

MATCHERS = {m.name: m for m in DEFAULT_MATCHERS}

# Where a contract decision overrides claircore's answer (contract §5):
DECISION_2 = "decision 2: an unparsable version is 'not affected', never an aborted call"
DECISION_3 = "decision 3: an inverted (VEX not-affected) vulnerability never reports"
DECISION_4 = "decision 4: where claircore's Debian comparison hangs, versions compare equal"
DECISION_6 = "decision 6: a vulnerability needs a package name; the vectors' '' is renamed"


def claircore_applies(matcher: str, vuln: dict[str, Any], rec: dict[str, Any]) -> bool:
    """claircore's SQL for one matcher and one row, from the vector file's own query list:
    an empty constrained vulnerability field is NotApplicable; NULL joins never match."""
    query = [
        q.split(" ")[0] for q in vectors.need()["matchers"][matcher]["query"] if "only if" not in q
    ]
    vd = vuln.get("distribution") or {}
    vr = vuln.get("repository") or {}
    rd, rr = rec.get("distribution"), rec.get("repository")
    for q in query:
        if q == "PackageModule":
            if rec["package"].get("module", "") != vuln["package"].get("module", ""):
                return False
        elif q.startswith("Distribution"):
            field = {
                "DID": "did",
                "Name": "name",
                "Version": "version",
                "VersionID": "version_id",
                "PrettyName": "pretty_name",
                "VersionCodeName": "version_code_name",
                "Arch": "arch",
                "CPE": "cpe",
            }[q[len("Distribution") :]]
            if vd.get(field, "") == "" or rd is None or rd.get(field, "") != vd[field]:
                return False
        elif q.startswith("Repository"):
            field = q[len("Repository") :].lower()
            if vr.get(field, "") == "" or rr is None or rr.get(field, "") != vr[field]:
                return False
    return True


def named(d: dict[str, Any]) -> dict[str, Any]:
    """DECISION_6: vectors that leave the package name empty get one."""
    d = copy.deepcopy(d)
    if not d["package"]["name"]:
        d["package"]["name"] = "some-package"
    return d


@pytest.mark.parametrize(("matcher", "case"), vectors.cases("vulnerable"))
def test_vulnerable_vector_end_to_end(store: Any, matcher: str, case: dict[str, Any]) -> None:
    rec, vuln_d = named(case["record"]), named(case["vulnerability"])
    vuln_d["package"]["name"] = rec["package"]["name"]
    m = MATCHERS[matcher]
    digest = index_manifest(
        store,
        [
            (
                vectors.package(rec["package"]),
                vectors.distribution(rec.get("distribution")),
                vectors.repository(rec.get("repository")),
            )
        ],
    )
    vuln = vectors.vulnerability(vuln_d)
    want = case["want"]
    if want == "error":
        want = False  # DECISION_2
    elif want == "hang":
        want = False  # DECISION_4: equal versions, so not below the fix
    if vuln.invert:
        want = False  # DECISION_3
    reachable = claircore_applies(matcher, vuln_d, rec) and m.filter(vectors.record(rec))
    before = vuln.to_json()
    got = store.affected_manifests(vuln, matchers=[m])
    assert got == ([digest] if want and reachable else [])
    assert vuln.to_json() == before  # decision 5: the caller's vulnerability is untouched
    if case["want"] == "error" and reachable and not vuln.invert:
        with pytest.raises(MatcherError):
            store.affected_manifests(vuln, matchers=[m], strict=True)


@pytest.mark.parametrize(("matcher", "case"), vectors.cases("vulnerable"))
def test_vulnerable_vector_unit(matcher: str, case: dict[str, Any]) -> None:
    """The matcher's own Vulnerable (gobin's vectors describe its range instead)."""
    m = MATCHERS[matcher]
    rec, vuln = vectors.record(case["record"]), vectors.vulnerability(case["vulnerability"])
    want = case["want"]
    if matcher == "gobin":
        from redis_store.matchers.engine import Candidate, range_check

        check = range_check(vuln)
        if want == "error":  # an inverted range: PostgreSQL fails the query
            assert isinstance(check, str)
            return
        assert not isinstance(check, str)
        assert rec.package is not None
        cand = Candidate.of("1:0:0", rec.package, rec.distribution, rec.repository)
        assert check(cand) is want
        return
    if want == "error":
        with pytest.raises(ValueError):
            m.vulnerable(rec, vuln)
    elif want == "hang":
        assert m.vulnerable(rec, vuln) is False  # DECISION_4
    else:
        assert m.vulnerable(rec, vuln) is want


@pytest.mark.parametrize(("matcher", "name", "want"), vectors.cases("filter"))
def test_filter_vector(matcher: str, name: str, want: bool) -> None:
    rec = vectors.record(vectors.need()["filter_records"][name])
    assert MATCHERS[matcher].filter(rec) is want


@pytest.mark.parametrize("case", vectors.cases("affected_manifests"))
def test_affected_manifests_vector(store: Any, case: dict[str, Any]) -> None:
    by_manifest: dict[str, list[Any]] = {}
    for row in case["store_rows"]:
        by_manifest.setdefault(row["manifest"], []).append(
            (
                vectors.package(row["package"]),
                vectors.distribution(row.get("distribution")),
                vectors.repository(row.get("repository")),
            )
        )
    for digest, rows in by_manifest.items():
        index_manifest(store, rows, digest)
    vuln = vectors.vulnerability(case["vulnerability"])
    want = sorted(case["want_manifests"])
    if vuln.invert:
        want = []  # DECISION_3
    assert store.affected_manifests(vuln) == want
    batch = store.affected_manifests_batch([vuln])
    assert sorted(batch.vulnerable_manifests) == want


def test_vulnerability_without_package_is_rejected(store: Any) -> None:
    with pytest.raises(InvalidInputError):
        store.affected_manifests(Vulnerability(name="CVE-1"))
    with pytest.raises(InvalidInputError):
        store.affected_manifests(Vulnerability(name="CVE-1", package=Package(name="")))
    with pytest.raises(InvalidInputError):
        store.affected_manifests_batch([Vulnerability(package=Package(name="x")), "CVE-2"])


def test_unknown_constraint_is_an_error(store: Any) -> None:
    class Odd:
        name = "odd"
        query = ("PackageSourceName",)

        def filter(self, record: Any) -> bool:
            return True

        def vulnerable(self, record: Any, vulnerability: Any) -> bool:
            return True

    index_manifest(store, [(Package(name="p", version="1"), None, None)])
    with pytest.raises(MatcherError):
        store.affected_manifests(Vulnerability(package=Package(name="p")), matchers=[Odd()])


def test_custom_matcher(store: Any) -> None:
    class Everything:
        name = "everything"
        query = ()

        def filter(self, record: Any) -> bool:
            return True

        def vulnerable(self, record: Any, vulnerability: Any) -> bool:
            return bool(record.package.version.startswith("1."))

    a = index_manifest(store, [(Package(name="p", version="1.0"), None, None)])
    index_manifest(store, [(Package(name="p", version="2.0"), None, None)])
    assert store.affected_manifests(
        Vulnerability(package=Package(name="p")), matchers=[Everything()]
    ) == [a]
    assert store.affected_manifests(Vulnerability(package=Package(name="p"))) == []
