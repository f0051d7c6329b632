"""The workload generator: deterministic per seed, and shaped like a real registry."""

from __future__ import annotations

from collections import Counter

import pytest

from redis_store import Digest, IndexReport, PackageKind, Version
from redis_store.demo.workload import describe, generate

DETECTORS = {
    ("dpkg", "7", "package"),
    ("rhel-package-scanner", "1", "package"),
    ("apk", "1", "package"),
    ("gobin", "5", "package"),
    ("python", "4", "package"),
    ("java", "4", "package"),
}
OS_SIZES = {"dpkg": (85, 200), "rhel-package-scanner": (190, 520), "apk": (14, 50)}


@pytest.fixture(scope="module")
def reports() -> list[IndexReport]:
    return list(generate(120, seed=3))


def _json(reports: list[IndexReport]) -> list[bytes]:
    return [r.to_json() for r in reports]


def test_same_seed_same_reports() -> None:
    assert _json(list(generate(25, seed=11))) == _json(list(generate(25, seed=11)))


def test_other_seed_other_reports() -> None:
    a, b = list(generate(5, seed=1)), list(generate(5, seed=2))
    assert {r.hash for r in a}.isdisjoint(r.hash for r in b)


def test_longer_run_starts_with_shorter_one() -> None:
    assert _json(list(generate(30, seed=5)))[:10] == _json(list(generate(10, seed=5)))


def test_lazy() -> None:
    it = generate(10**9, seed=0)
    assert next(it).hash is not None


def test_negative_count_rejected() -> None:
    with pytest.raises(ValueError):
        list(generate(-1))


def test_finished_reports(reports: list[IndexReport]) -> None:
    assert len(reports) == 120
    assert len({r.hash for r in reports}) == 120
    for r in reports:
        assert isinstance(r.hash, Digest)
        assert r.state == "IndexFinished" and r.success and r.err == ""


def test_json_round_trip(reports: list[IndexReport]) -> None:
    for r in reports:
        data = r.to_json()
        back = IndexReport.from_json(data)
        assert back == r
        assert back.to_json() == data


def test_references_resolve(reports: list[IndexReport]) -> None:
    for r in reports:
        assert r.packages and r.environments is not None
        assert r.distributions is not None and r.repositories is not None
        assert set(r.environments) == set(r.packages)
        for key, pkg in r.packages.items():
            assert pkg.id == key and int(key) > 0
            envs = r.environments[key]
            assert envs
            for env in envs:
                assert env.distribution_id == "" or env.distribution_id in r.distributions
                for rid in env.repository_ids or ():
                    assert rid in r.repositories
        for key, d in r.distributions.items():
            assert d.id == key
        for key, repo in r.repositories.items():
            assert repo.id == key
        # nothing in the maps is unreferenced
        used_d = {e.distribution_id for es in r.environments.values() for e in es}
        used_r = {i for es in r.environments.values() for e in es for i in e.repository_ids or ()}
        assert set(r.distributions) <= used_d
        assert set(r.repositories) == used_r


def test_introduced_in_is_a_digest(reports: list[IndexReport]) -> None:
    for r in reports:
        for envs in (r.environments or {}).values():
            for env in envs:
                assert type(env.introduced_in) is Digest
                assert env.introduced_in.algorithm == "sha256"
                assert Digest(str(env.introduced_in)) == env.introduced_in


def test_ids_consistent_across_reports(reports: list[IndexReport]) -> None:
    by_id: dict[str, tuple[str, str, str, str, str]] = {}
    for r in reports:
        for p in (r.packages or {}).values():
            for q in (p, p.source):
                assert q is not None
                key = (q.name, q.version, str(q.kind), q.module, q.arch)
                assert by_id.setdefault(q.id, key) == key
    assert len(set(by_id.values())) == len(by_id)


def test_base_layers_are_shared(reports: list[IndexReport]) -> None:
    uses = Counter(
        layer
        for r in reports
        for layer in {e.introduced_in for es in (r.environments or {}).values() for e in es}
    )
    top = uses.most_common(3)
    assert top[0][1] >= len(reports) // 5  # the most popular base layer
    assert sum(1 for n in uses.values() if n > 1) >= 5
    # per-manifest layers exist too
    assert sum(1 for n in uses.values() if n == 1) >= len(reports) // 2


def test_package_shapes(reports: list[IndexReport]) -> None:
    families = Counter[str]()
    for r in reports:
        per_detector = Counter[str]()
        for p in (r.packages or {}).values():
            assert p.detector is not None
            assert (p.detector.name, p.detector.version, p.detector.kind) in DETECTORS
            assert p.kind == PackageKind.BINARY and p.name and p.version
            assert p.source is not None
            per_detector[p.detector.name] += 1
            envs = (r.environments or {})[p.id]
            if p.detector.name == "dpkg":
                assert {e.package_db for e in envs} == {"var/lib/dpkg/status"}
            elif p.detector.name == "rhel-package-scanner":
                assert {e.package_db for e in envs} == {"bdb:var/lib/rpm"}
                assert p.source.kind == PackageKind.SOURCE
            elif p.detector.name == "gobin":
                assert p.normalized_version.kind == "semver"
                assert str(p.normalized_version).startswith("semver:0.")
                assert all(e.package_db.startswith("go:") for e in envs)
            elif p.detector.name == "python":
                assert p.normalized_version.kind == "pep440"
            if p.detector.name in ("gobin", "python", "java"):
                assert p.source.name == "" and p.source.kind == PackageKind.UNKNOWN
                assert all(e.distribution_id == "" for e in envs)
        os_names = [d for d in per_detector if d in OS_SIZES]
        assert len(os_names) == 1, "one OS package manager per image"
        lo, hi = OS_SIZES[os_names[0]]
        assert lo <= per_detector[os_names[0]] <= hi
        families[os_names[0]] += 1
        lang = sum(n for d, n in per_detector.items() if d not in OS_SIZES)
        assert lang <= 65
    assert set(families) == set(OS_SIZES)


def test_distributions_and_repositories(reports: list[IndexReport]) -> None:
    dists = {
        (d.did, d.name, d.version_id, d.cpe)
        for r in reports
        for d in (r.distributions or {}).values()
    }
    assert ("debian", "Debian GNU/Linux", "12", "") in dists
    assert (
        "rhel",
        "Red Hat Enterprise Linux Server",
        "8",
        "cpe:2.3:o:redhat:enterprise_linux:8:*:*:*:*:*:*:*",
    ) in dists
    assert any(d[0] == "alpine" for d in dists)
    repos = {
        (x.name, x.key, x.uri, x.cpe) for r in reports for x in (r.repositories or {}).values()
    }
    assert (
        "cpe:/o:redhat:enterprise_linux:8::baseos",
        "rhel-cpe-repository",
        "",
        "cpe:2.3:o:redhat:enterprise_linux:8:*:baseos:*:*:*:*:*",
    ) in repos
    assert (
        "cpe:/a:redhat:enterprise_linux:8::appstream",
        "rhel-cpe-repository",
        "",
        "cpe:2.3:a:redhat:enterprise_linux:8:*:appstream:*:*:*:*:*",
    ) in repos
    assert ("go", "", "https://pkg.go.dev/", "") in repos
    assert {"pypi", "maven"} <= {x[0] for x in repos}


def test_sources_modules_and_drift(reports: list[IndexReport]) -> None:
    pkgs = [p for r in reports for p in (r.packages or {}).values()]
    deb_sources = {
        p.source.name
        for p in pkgs
        if p.detector and p.detector.name == "dpkg" and p.source and p.source.name
    }
    assert {"glibc", "openssl", "util-linux"} <= deb_sources
    assert any(p.module for p in pkgs) and any(p.source and p.source.module for p in pkgs)
    # some manifests carry a newer version of a base package in an upper layer
    drifted = 0
    for r in reports:
        names = Counter(
            (p.name, p.detector.name if p.detector else "") for p in (r.packages or {}).values()
        )
        drifted += any(n > 1 and det in OS_SIZES for (_, det), n in names.items())
    assert 0.05 * len(reports) <= drifted <= 0.5 * len(reports)


def test_go_normalized_version_matches_version(reports: list[IndexReport]) -> None:
    for r in reports:
        for p in (r.packages or {}).values():
            if p.detector and p.detector.name == "gobin" and p.name != "stdlib":
                major, minor, patch = (int(x) for x in p.version.removeprefix("v").split("."))
                assert p.normalized_version == Version("semver", (0, major, minor, patch))


def test_describe(reports: list[IndexReport]) -> None:
    st = describe(reports)
    assert st.manifests == 120
    assert st.packages == sum(len(r.packages or {}) for r in reports)
    assert st.index_records == sum(len(r.index_records()) for r in reports)
    assert 0 < st.shared_layers < st.layers
    assert st.distinct_packages < st.packages
    assert st.max_packages <= 520
    assert sum(st.by_detector.values()) == st.packages
    assert st.as_dict()["manifests"] == 120
    assert describe([]).manifests == 0
