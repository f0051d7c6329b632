"""claircore's TestIndexE2E (datastore/postgres/index_e2e_test.go), on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from redis_store import IndexReport, Layer, Manifest, UnknownScannerError, VersionedScanner
from tests.support import gen

SCANNERS_3 = [
    VersionedScanner("test-scanner", "v0.0.1", "test"),
    VersionedScanner("test-scanner1", "v0.0.11", "test"),
    VersionedScanner("test-scanner2", "v0.0.8", "test"),
]
SCANNERS_6 = SCANNERS_3 + [
    VersionedScanner(f"test-scanner{i}", "v0.0.8", "test") for i in (3, 4, 5)
]


@pytest.mark.parametrize(
    ("scanners", "packages", "dists", "repos"),
    [
        pytest.param(SCANNERS_3, 100, 150, 50, id="3_scanners_small"),
        pytest.param(SCANNERS_6, 100, 150, 50, id="6_scanners_small"),
        pytest.param(SCANNERS_3, 1000, 1500, 500, id="3_scanners_large"),
        pytest.param(SCANNERS_6, 1000, 1500, 500, id="6_scanners_large"),
    ],
)
def test_index_e2e(
    store: Any, scanners: list[VersionedScanner], packages: int, dists: int, repos: int
) -> None:
    manifest = gen.random_digest()
    layer = Layer(hash=gen.random_digest())
    store.register_scanners(scanners)
    store.persist_manifest(Manifest(hash=manifest, layers=[layer]))

    for s in scanners:
        store.index_packages(gen.unique_packages(packages), layer, s)
    assert len(store.packages_by_layer(layer.hash, scanners)) == len(scanners) * packages
    for s in scanners:
        store.index_distributions(gen.unique_distributions(dists), layer, s)
    assert len(store.distributions_by_layer(layer.hash, scanners)) == len(scanners) * dists
    for s in scanners:
        store.index_repositories(gen.unique_repositories(repos), layer, s)
    assert len(store.repositories_by_layer(layer.hash, scanners)) == len(scanners) * repos

    for s in scanners:
        store.set_layer_scanned(layer.hash, s)
        assert store.layer_scanned(layer.hash, s) is True
    with pytest.raises(UnknownScannerError):
        store.layer_scanned(layer.hash, VersionedScanner("invalid", "invalid", "invalid"))
    never = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert store.layer_scanned(never, scanners[0]) is False

    report = IndexReport(hash=manifest, state="Testing")
    store.set_index_report(report)
    got = store.index_report(manifest)
    assert got is not None and got.hash == manifest and got.state == "Testing"
    report.state = "IndexFinished"
    store.set_index_finished(report, scanners)
    assert store.manifest_scanned(manifest, scanners) is True
    got = store.index_report(manifest)
    assert got is not None and got.state == "IndexFinished"

    unknown = "sha256:" + "c" * 64
    assert store.manifest_scanned(unknown, scanners) is False
    assert store.index_report(unknown) is None
