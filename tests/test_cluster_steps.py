"""The cluster's per-slot steps: interrupted between any two steps, readers still get answers
of the state before or after, the next writer (or gc and fsck) finishes the work, and nothing
is lost or leaked.

An operation is interrupted by running its core generator for ``n`` batches and dropping it,
as a process killed between two round trips would.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from redis_store import IndexReport, RedisStore, ops
from redis_store.demo.workload import generate, sample_vulnerabilities
from redis_store.replay import replay
from redis_store.store.calls import Pause
from redis_store.store.core import StoreCore
from tests.support.servers import RedisClusterServers


@pytest.fixture
def store(redis_cluster: RedisClusterServers) -> Iterator[RedisStore]:
    redis_cluster.flush()
    # an abandoned operation leaves its manifest lock behind: it frees itself within lock_ttl
    s = RedisStore(redis_cluster.client(), namespace="steps", lock_ttl=1.0)
    yield s
    s.close()


def run_partly(store: RedisStore, op: Any, batches: int) -> bool:
    """Send the first ``batches`` batches of a core operation, then abandon it; returns
    whether it finished before that."""
    try:
        batch = next(op)
        for _ in range(batches):
            replies = [] if isinstance(batch, Pause) else store._send(batch)
            batch = op.send(replies)
    except StopIteration:
        return True
    op.close()
    return False


def halve(report: IndexReport) -> IndexReport:
    out = copy.deepcopy(report)
    for pid in list(out.packages)[: len(out.packages) // 2]:
        del out.packages[pid]
        out.environments.pop(pid, None)
    return out


def answers(store: RedisStore, vulns: list[Any]) -> list[set[str]]:
    return [set(store.affected_manifests(v)) for v in vulns]


def assert_clean(store: RedisStore) -> None:
    ops.collect(store)
    ops.repair(store)
    assert ops.check(store) == []


def test_cluster_store_runs_in_steps(store: RedisStore) -> None:
    assert store.cluster


@pytest.mark.parametrize("cut", range(1, 7))
def test_index_manifest_interrupted(store: RedisStore, cut: int) -> None:
    reports = list(generate(6, seed=11))
    stored = {r.hash: replay(store, r) for r in reports}
    target = stored[reports[0].hash]
    vulns = sample_vulnerabilities(reports, 80, seed=2)
    full = answers(store, vulns)
    half = halve(target)
    store.index_manifest(half)
    halved = answers(store, vulns)
    store.index_manifest(target)  # back to the full report
    store.set_index_report(half)  # the report fsck checks the records against
    finished = run_partly(store, StoreCore.index_manifest.fn(store, half), cut)
    now = answers(store, vulns)
    d = target.hash
    for before, after, seen in zip(full, halved, now, strict=True):
        # each answer is the full report's or the halved one's for this manifest
        assert (d in seen) in ((d in before), (d in after))
        assert seen - {d} == before - {d}
    if not finished:
        store.index_manifest(half)  # the next writer finishes the interrupted work
    assert answers(store, vulns) == halved
    assert_clean(store)
    assert answers(store, vulns) == halved


@pytest.mark.parametrize("cut", range(1, 4))
def test_delete_interrupted(store: RedisStore, cut: int) -> None:
    reports = list(generate(6, seed=12))
    for r in reports:
        replay(store, r)
    vulns = sample_vulnerabilities(reports, 80, seed=3)
    before = answers(store, vulns)
    victims = [r.hash for r in reports[:3]]
    run_partly(store, StoreCore.delete_manifests.fn(store, *victims), cut)
    now = answers(store, vulns)
    if cut >= 2:  # the manifests' own keys are gone: they answer nothing any more
        assert all(not (seen & set(victims)) for seen in now)
        assert all(store.index_report(d) is None for d in victims)
    for b, seen in zip(before, now, strict=True):
        assert seen - set(victims) == b - set(victims)
    assert_clean(store)
    assert store.delete_manifests(*victims) == ([] if cut >= 2 else victims)
    for r in reports[3:]:
        assert store.index_report(r.hash) is not None
    assert_clean(store)
    assert store.delete_manifests(*(r.hash for r in reports)) == [r.hash for r in reports[3:]]
    left = {k.decode() for k in store.client.scan_iter(match="steps:*")}
    assert left == {"steps:{g}:scanners", "steps:{g}:seq"}


@pytest.mark.parametrize("cut", range(1, 4))
def test_persist_interrupted(store: RedisStore, cut: int) -> None:
    report = next(iter(generate(1, seed=13)))
    from redis_store import Layer, Manifest

    manifest = Manifest(hash=report.hash, layers=[Layer(hash=d) for d in report_layers(report)])
    run_partly(store, StoreCore.persist_manifest.fn(store, manifest), cut)
    replay(store, report)  # the controller persists again and carries on
    assert store.index_report(report.hash) is not None
    assert_clean(store)


def report_layers(report: IndexReport) -> list[str]:
    layers: dict[str, None] = {}
    for envs in report.environments.values():
        for e in envs:
            layers[e.introduced_in] = None
    return list(layers)


def test_index_packages_on_unknown_layer_changes_nothing(store: RedisStore) -> None:
    from redis_store import Package, VersionedScanner
    from redis_store.errors import UnknownLayerError

    scanner = VersionedScanner("dpkg", "1", "package")
    store.register_scanners([scanner])
    before = {k: store.client.dump(k) for k in store.client.scan_iter(match="steps:*")}
    with pytest.raises(UnknownLayerError):
        store.index_packages([Package(name="p", version="1")], "sha256:" + "a" * 64, scanner)
    after = {k: store.client.dump(k) for k in store.client.scan_iter(match="steps:*")}
    assert after == before


def test_concurrent_persists_of_one_new_manifest(redis_cluster: RedisClusterServers) -> None:
    """Writers racing to create one manifest agree on its ID; the losers' IDs are dropped."""
    import threading

    from redis_store import Layer, Manifest

    redis_cluster.flush()
    digest = "sha256:" + "c" * 64
    manifest = Manifest(hash=digest, layers=[Layer(hash="sha256:" + "d" * 64)])
    stores = [RedisStore(redis_cluster.client(), namespace="race") for _ in range(6)]
    start = threading.Barrier(len(stores))

    def persist(s: RedisStore) -> None:
        start.wait()
        s.persist_manifest(manifest)

    threads = [threading.Thread(target=persist, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client = stores[0].client
    mid = client.hget(stores[0].keys.manifest(digest), "id")
    assert client.hgetall(stores[0].keys.manifests) == {mid: digest.encode()}
    assert client.smembers(stores[0].keys.layer("sha256:" + "d" * 64)) == {mid}
    assert ops.check(stores[0]) == []
    for s in stores:
        s.close()
