"""index_manifest keeps the reverse index (package name -> records -> manifests)."""

from __future__ import annotations

from typing import Any

from redis_store import (
    Distribution,
    Environment,
    IndexReport,
    Layer,
    Manifest,
    Package,
    PackageKind,
    Repository,
    VersionedScanner,
)
from tests.support import gen
from tests.support.inspect import reverse_index
from tests.support.invariants import violations

S = VersionedScanner("dpkg", "7", "package")
D = VersionedScanner("os-release", "1", "distribution")


def setup(store: Any) -> tuple[str, str, list[Package], Distribution, Repository]:
    m, layer = gen.random_digest(), gen.random_digest()
    store.register_scanners([S, D])
    store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=layer)]))
    store.index_packages(
        [
            Package(
                name="openssl",
                version="3.0",
                kind=PackageKind.BINARY,
                source=Package(name="openssl-src", version="3.0", kind=PackageKind.SOURCE),
            ),
            Package(name="zlib", version="1.2", kind=PackageKind.BINARY),
        ],
        layer,
        S,
    )
    store.index_distributions(
        [Distribution(did="debian", name="Debian GNU/Linux", version_id="12")], layer, D
    )
    store.index_repositories([Repository(name="main", key="k")], layer, D)
    (dist,) = store.distributions_by_layer(layer, [D])
    (repo,) = store.repositories_by_layer(layer, [D])
    return m, layer, store.packages_by_layer(layer, [S]), dist, repo


def report(
    m: str, layer: str, pkgs: list[Package], dist: Distribution, repo: Repository | None = None
) -> IndexReport:
    return IndexReport(
        hash=m,
        packages={p.id: p for p in pkgs},
        distributions={dist.id: dist},
        repositories={repo.id: repo} if repo else {},
        environments={
            p.id: [
                Environment(
                    package_db="var/lib/dpkg/status",
                    introduced_in=layer,
                    distribution_id=dist.id,
                    repository_ids=[repo.id] if repo else None,
                )
            ]
            for p in pkgs
        },
    )


def test_binary_and_source_names_are_indexed(store: Any, backend: Any) -> None:
    m, layer, pkgs, dist, _ = setup(store)
    store.index_manifest(report(m, layer, pkgs, dist))
    index = reverse_index(backend.client())
    assert index == {"openssl": {m}, "openssl-src": {m}, "zlib": {m}, "": {m}}
    store.index_manifest(report(m, layer, pkgs, dist))  # idempotent
    assert reverse_index(backend.client()) == index
    assert violations(backend.client()) == []


def test_reindex_replaces_records(store: Any, backend: Any) -> None:
    """Decision 4: after a re-index only the latest report answers."""
    m, layer, pkgs, dist, repo = setup(store)
    store.index_manifest(report(m, layer, pkgs, dist))
    openssl = [p for p in pkgs if p.name == "openssl"]
    store.index_manifest(report(m, layer, openssl, dist, repo))
    assert reverse_index(backend.client()) == {"openssl": {m}, "openssl-src": {m}}
    assert violations(backend.client()) == []
    store.index_manifest(IndexReport(hash=m))
    assert reverse_index(backend.client()) == {}
    assert violations(backend.client()) == []


def test_records_shared_between_manifests(store: Any, backend: Any) -> None:
    m, layer, pkgs, dist, _ = setup(store)
    m2 = gen.random_digest()
    store.persist_manifest(Manifest(hash=m2, layers=[Layer(hash=layer)]))
    store.index_manifest(report(m, layer, pkgs, dist))
    store.index_manifest(report(m2, layer, pkgs[:1], dist))
    index = reverse_index(backend.client())
    assert index["openssl"] == {m, m2} and index["zlib"] == {m}
    store.index_manifest(IndexReport(hash=m))
    index = reverse_index(backend.client())
    assert index["openssl"] == {m2} and "zlib" not in index
    assert violations(backend.client()) == []


def test_names_with_escapes_index_and_delete(store: Any, backend: Any) -> None:
    """Scripts read a package's name straight from its stored JSON unless it has escapes."""
    m, layer = gen.random_digest(), gen.random_digest()
    store.register_scanners([S])
    store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=layer)]))
    names = ['we"ird', "back\\slash", "caf\u00e9", "tab\tname", "plain"]
    store.index_packages([Package(name=n, version="1") for n in names], layer, S)
    pkgs = store.packages_by_layer(layer, [S])
    rep = IndexReport(
        hash=m,
        packages={p.id: p for p in pkgs},
        environments={p.id: [Environment(introduced_in=layer)] for p in pkgs},
    )
    store.index_manifest(rep)
    # "" is the source-less packages' empty source, indexed as claircore does
    assert reverse_index(backend.client()) == {n: {m} for n in [*names, ""]}
    assert violations(backend.client()) == []
    first = pkgs[0]
    envs = {first.id: [Environment(introduced_in=layer)]}
    store.index_manifest(IndexReport(hash=m, packages={first.id: first}, environments=envs))
    assert reverse_index(backend.client()) == {names[0]: {m}, "": {m}}
    assert store.delete_manifests(m) == [m]
    assert reverse_index(backend.client()) == {}
    assert violations(backend.client()) == []
