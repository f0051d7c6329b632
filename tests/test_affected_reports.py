"""AffectedManifests over real claircore reports indexed together, and no stale answers."""

from __future__ import annotations

import copy
from typing import Any

from redis_store import IndexReport, Package, Repository, Vulnerability, replay
from redis_store.demo.workload import sample_vulnerabilities
from tests.test_replay import REPORTS, load


def holders(reports: list[IndexReport]) -> dict[str, set[str]]:
    """package name (binary or source, with an environment) -> manifests holding it."""
    out: dict[str, set[str]] = {}
    for r in reports:
        for p in (r.packages or {}).values():
            if not (r.environments or {}).get(p.id):
                continue
            for name in {p.name, p.source.name if p.source else p.name}:
                out.setdefault(name, set()).add(str(r.hash))
    return out


def test_vulnerabilities_from_real_reports(store: Any) -> None:
    reports = [load(n) for n in REPORTS]
    for r in reports:
        replay.replay(store, r)
    held = holders(reports)
    vulns = sample_vulnerabilities(reports, 400, seed=11)
    for v in vulns:
        v.fixed_in_version = ""  # every installed version is affected
    batch = store.affected_manifests_batch(vulns)
    found_any = 0
    for v in vulns:
        assert v.package is not None
        got = store.affected_manifests(v)
        assert set(got) <= held[v.package.name], v.package.name
        if len(held[v.package.name]) == 1 and (v.distribution or v.repository or v.range):
            assert got == sorted(held[v.package.name]), v.package.name
        found_any += bool(got)
        assert sorted(d for d, ids in batch.vulnerable_manifests.items() if v.id in ids) == got
    assert found_any > len(vulns) // 2


def test_source_package_names_match(store: Any) -> None:
    rhacs = load("rhacs-rhel8.index.json")
    replay.replay(store, rhacs)
    repo = Repository(name="cpe:/o:redhat:enterprise_linux:8::baseos", key="rhel-cpe-repository")
    vuln = Vulnerability(
        name="CVE-x",
        package=Package(name="pcre2"),
        repository=repo,
        fixed_in_version="10.32-4.el8_6",
    )
    assert store.affected_manifests(vuln) == [rhacs.hash]
    vuln.fixed_in_version = "10.32-2.el8_6"
    assert store.affected_manifests(vuln) == []


def test_no_stale_answer_after_reindex_and_delete(store: Any) -> None:
    debian = load("debian-10.index.json")
    finished = replay.replay(store, debian)
    gzip = Vulnerability(
        name="CVE-gzip",
        package=Package(name="gzip"),
        fixed_in_version="1.9-3+deb10u2",
        distribution=copy.copy(next(iter((debian.distributions or {}).values()))),
    )
    assert store.affected_manifests(gzip) == [debian.hash]
    # re-index without gzip: the manifest no longer answers for it (decision 4)
    without = copy.deepcopy(finished)
    gzip_ids = [pid for pid, p in (without.packages or {}).items() if p.name == "gzip"]
    for pid in gzip_ids:
        del without.packages[pid]  # type: ignore[union-attr]
    store.index_manifest(without)
    assert store.affected_manifests(gzip) == []
    store.index_manifest(finished)
    assert store.affected_manifests(gzip) == [debian.hash]
    assert store.delete_manifests(debian.hash) == [debian.hash]
    assert store.affected_manifests(gzip) == []
