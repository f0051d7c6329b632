"""claircore's TestDeleteManifests (spec §5.2) and deletion without orphans (decision 8)."""

from __future__ import annotations

from typing import Any

import pytest

from redis_store import Environment, IndexReport, Layer, Manifest, VersionedScanner
from tests.support import gen
from tests.support.inspect import all_keys, reverse_index

SCANNER = VersionedScanner("mock", "1", "vulnerability")


def manifest(store: Any, layers: list[str] | None = None) -> str:
    m = gen.random_digest()
    store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=x) for x in layers or []]))
    return m


def layer_count(backend: Any) -> int:
    return sum(1 for k in all_keys(backend.client()) if k.startswith("test:{l:") and "}:" not in k)


def test_nonexistent(store: Any) -> None:
    assert store.delete_manifests(gen.random_digest()) == []
    assert store.delete_manifests(*[gen.random_digest() for _ in range(5)]) == []
    assert store.delete_manifests() == []


def test_one(store: Any) -> None:
    m = manifest(store)
    assert store.delete_manifests(m) == [m]
    assert store.delete_manifests(m) == []


def test_twice_in_one_call(store: Any) -> None:
    m = manifest(store)
    assert store.delete_manifests(m, m) == [m]


def test_list_argument(store: Any) -> None:
    ms = [manifest(store) for _ in range(3)]
    assert store.delete_manifests(ms) == ms


def test_locked_elsewhere_is_skipped(store: Any, backend: Any) -> None:
    from redis_store import RedisStore

    other = RedisStore(backend.client(), namespace="test")
    ms = [manifest(store) for _ in range(3)]
    with other.manifest_lock(ms[2]):
        assert store.delete_manifests(*ms) == ms[:2]
    assert store.index_report(ms[2]) is None
    assert store.delete_manifests(ms[2]) == [ms[2]]


def test_lock_holder_may_delete(store: Any) -> None:
    m = manifest(store)
    with store.manifest_lock(m):
        assert store.delete_manifests(m) == [m]


def test_subset(store: Any) -> None:
    ms = [manifest(store) for _ in range(8)]
    assert store.delete_manifests(*ms[:4], gen.random_digest(), gen.random_digest()) == ms[:4]
    assert store.delete_manifests(*ms[4:], gen.random_digest(), gen.random_digest()) == ms[4:]


def test_layers_freed_one_manifest_at_a_time(store: Any, backend: Any) -> None:
    ls = [gen.random_digest() for _ in range(11)]
    ms = [manifest(store, ls[i : i + 4]) for i in range(8)]
    count = layer_count(backend)
    assert count == 11
    for m in ms:
        assert store.delete_manifests(m) == [m]
        now = layer_count(backend)
        assert now < count
        count = now
    assert count == 0


def test_shared_base_layer(store: Any) -> None:
    base = gen.random_digest()
    store.register_scanners([SCANNER])
    ms = [manifest(store, [base, *(gen.random_digest() for _ in range(3))]) for _ in range(8)]
    store.set_layer_scanned(base, SCANNER)
    assert store.delete_manifests(*ms[:7]) == ms[:7]
    assert store.layer_scanned(base, SCANNER) is True
    assert store.delete_manifests(ms[7]) == [ms[7]]
    assert store.layer_scanned(base, SCANNER) is False


def index_one(store: Any, m: str, layer: str, n: int = 10) -> IndexReport:
    store.index_packages(gen.unique_packages(n), layer, SCANNER)
    pkgs = store.packages_by_layer(layer, [SCANNER])
    report = IndexReport(
        hash=m,
        packages={p.id: p for p in pkgs},
        environments={
            p.id: [
                Environment(
                    package_db="pdb", introduced_in=layer, distribution_id="d", repository_ids=[]
                )
            ]
            for p in pkgs
        },
        distributions=None,
        repositories=None,
    )
    store.index_manifest(report)
    return report


def test_manifest_index(store: Any, backend: Any) -> None:
    store.register_scanners([SCANNER])
    ms = []
    for _ in range(20):
        ls = [gen.random_digest() for _ in range(4)]
        m = manifest(store, ls)
        index_one(store, m, ls[0])
        ms.append(m)
    assert len(reverse_index(backend.client())["package-0"]) == 20
    assert store.delete_manifests(*ms) == ms
    assert reverse_index(backend.client()) == {}


@pytest.mark.parametrize("order", ["first-then-second", "second-then-first"])
def test_two_manifests_sharing_layers(store: Any, backend: Any, order: str) -> None:
    store.register_scanners([SCANNER])
    base, top_a, top_b = (gen.random_digest() for _ in range(3))
    a, b = manifest(store, [base, top_a]), manifest(store, [base, top_b])
    for m, _top in ((a, top_a), (b, top_b)):
        index_one(store, m, base, 5)
        store.set_layer_scanned(base, SCANNER)
        store.set_index_report(IndexReport(hash=m, state="IndexFinished"))
    first, second = (a, b) if order == "first-then-second" else (b, a)
    before = store.packages_by_layer(base, [SCANNER])
    assert store.delete_manifests(first) == [first]
    assert store.index_report(first) is None
    assert store.index_report(second) is not None
    assert store.packages_by_layer(base, [SCANNER]) == before
    assert store.layer_scanned(base, SCANNER) is True
    assert reverse_index(backend.client())["package-1"] == {second}
    assert store.delete_manifests(second) == [second]
    assert store.packages_by_layer(base, [SCANNER]) == []


def test_invariants_hold_and_nothing_is_orphaned(store: Any, backend: Any) -> None:
    """Decision 8: after every manifest is deleted only the scanner registry and the ID
    counters remain; every invariant of the layout holds after each step on the way."""
    from tests.support.invariants import violations

    client = backend.client()
    store.register_scanners([SCANNER])
    base = gen.random_digest()
    ms = []
    for i in range(6):
        top = gen.random_digest()
        m = manifest(store, [base, top])
        report = index_one(store, m, base, 8)
        store.index_packages(gen.unique_packages(3 + i), top, SCANNER)
        store.index_distributions(gen.unique_distributions(1 + i), top, SCANNER)
        store.index_repositories(gen.unique_repositories(2), top, SCANNER)
        store.set_layer_scanned(top, SCANNER)
        report.state = "IndexFinished"
        store.set_index_finished(report, [SCANNER])
        ms.append(m)
        assert violations(client) == []
    smaller = index_one(store, ms[0], base, 2)  # re-index with fewer packages
    smaller.state = "IndexFinished"
    store.set_index_report(smaller)
    assert violations(client) == []
    for m in ms[::2]:
        assert store.delete_manifests(m) == [m]
        assert violations(client) == []
    assert len(all_keys(client)) > 20
    assert sorted(store.delete_manifests(*reversed(ms))) == sorted(ms[1::2])
    assert all_keys(client) == {"test:{g}:scanners", "test:{g}:seq"}
