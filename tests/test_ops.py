"""fsck, gc, expire and stats on a store built by claircore's call sequence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from redis_store import RedisStore, Vulnerability, ops, replay
from redis_store.demo import workload
from redis_store.keys import KeyLayout
from tests.support import gen
from tests.support.inspect import all_keys

K = KeyLayout("test")


@pytest.fixture
def populated(backend: Any) -> tuple[RedisStore, list[Any]]:
    store = RedisStore(backend.client(), namespace="test")
    reports = list(workload.generate(6, seed=5))
    for r in reports:
        replay.replay(store, r)
    return store, reports


def _pick(store: RedisStore, reports: list[Any]) -> tuple[str, str, str, str]:
    """A manifest, its ID, one of its layers and one of its reverse-index buckets."""
    c = store.client
    d = str(reports[0].hash)
    h = c.hgetall(K.manifest(d))
    mid = h[b"id"].decode()
    layer = h[b"layers"].decode().split(",")[0]
    rec = h[b"recs"].decode().split(",")[0]
    pid = rec.split(":")[0]
    from redis_store.codec import storage

    name = storage.package_name(c.hget(K.entity_data("pkg"), pid))
    return d, mid, layer, K.bucket(name, rec, int(mid) // 512)


CORRUPTIONS: dict[str, tuple[str, Callable[[Any, tuple[str, str, str, str]], Any]]] = {
    "table entry removed": ("manifest-unlisted", lambda c, p: c.hdel(K.manifests, p[1])),
    "layer forgets manifest": ("layer-link", lambda c, p: c.srem(K.layer(p[2]), p[1])),
    "layer lists a ghost": ("layer-dangling-manifest", lambda c, p: c.sadd(K.layer(p[2]), 99999)),
    "unknown scanner mark": ("scanner-unknown", lambda c, p: c.sadd(K.manifest_scanned(p[0]), 777)),
    "count off": ("refs-mismatch", lambda c, p: c.hincrby(K.entity_refs("pkg"), "1", 3)),
    "identity lost": (
        "ids-mismatch",
        lambda c, p: c.hdel(K.entity_ids("pkg"), c.hget(K.entity_data("pkg"), "1")[:16]),
    ),
    "bucket forgets manifest": ("record-missing", lambda c, p: c.srem(p[3], p[1])),
    "bucket lists a ghost": ("record-unlisted", lambda c, p: c.sadd(p[3], 99999)),
    "stray entity": (
        "entity-unreferenced",
        lambda c, p: c.hset(
            K.entity_data("dist"), "4242", b"0123456789abcdef" + b'["x","","","","","","",""]'
        ),
    ),
    "index records dropped": (
        "record-unlisted",
        lambda c, p: c.hset(K.manifest(p[0]), "recs", ""),
    ),
    "orphan layer": (
        "layer-orphan",
        lambda c, p: c.rpush(K.layer_artifacts("sha256:" + "e" * 64, "dist"), "1,1"),
    ),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_fsck_finds_and_repairs(populated: Any, case: str) -> None:
    store, reports = populated
    assert ops.check(store) == []
    kind, corrupt = CORRUPTIONS[case]
    corrupt(store.client, _pick(store, reports))
    found = ops.check(store)
    assert kind in {v.kind for v in found}, found
    fixed = ops.repair(store, found)
    assert kind in {v.kind for v in fixed}
    assert ops.check(store) == []
    for r in reports:  # the store still answers as before
        got = store.index_report(r.hash)
        assert got is not None and got.state == "IndexFinished"


def test_fsck_reports_what_it_cannot_repair(populated: Any) -> None:
    store, _ = populated
    store.client.set("test:{junk}", "x")  # in the namespace's key space, not a store key
    store.client.set("test:other:{g}:seq", "x")  # another namespace's: not fsck's business
    found = ops.check(store)
    assert [(v.kind, v.repairable) for v in found] == [("unknown-key", False)]
    assert ops.repair(store, found) == []


def test_gc_on_a_healthy_store_finds_nothing(populated: Any) -> None:
    store, _ = populated
    result = ops.collect(store)
    assert result.total == 0


def test_gc_reclaims_what_a_crash_left(populated: Any) -> None:
    store, reports = populated
    d, mid, _, _ = _pick(store, reports)
    info = ops.manifest_info(store, d)
    assert info is not None
    # a crash between steps: the manifest's own keys are gone, its layers and records not
    store.client.delete(K.manifest(d), K.manifest_scanned(d), K.report(d))
    store.client.hdel(K.manifests, mid)
    for layer in info.layers:
        store.client.srem(K.layer(layer), mid)
    dry = ops.collect(store, dry_run=True)
    assert dry.dry_run and dry.total > 0
    result = ops.collect(store)
    assert result.records > 0
    assert ops.check(store) == []  # nothing left pointing anywhere (records refs reclaimed)
    for r in reports[1:]:
        assert store.index_report(r.hash) is not None
    store.delete_manifests(*[r.hash for r in reports])
    assert ops.collect(store).total == 0
    assert all_keys(store.client) == {"test:{g}:scanners", "test:{g}:seq"}


def test_expire(populated: Any, backend: Any) -> None:
    store, reports = populated
    old, recent = [str(r.hash) for r in reports[:3]], [str(r.hash) for r in reports[3:]]
    for d in old:
        store.client.hset(K.manifest(d), "used", 1000)
    dry = ops.expire(store, 3600, dry_run=True)
    assert sorted(dry.expired) == sorted(old)
    assert all(store.index_report(d) is not None for d in old)
    for d in old:
        store.client.hset(K.manifest(d), "used", 1000)  # the reads above counted as use
    other = RedisStore(backend.client(), namespace="test")
    with other.manifest_lock(old[0]):
        result = ops.expire(store, 3600)
    assert sorted(result.expired) == sorted(old[1:])
    assert result.skipped_locked == [old[0]]
    assert [d for d in recent if store.index_report(d) is None] == []
    assert ops.check(store) == []


def test_stats(populated: Any, backend: Any) -> None:
    store, reports = populated
    stats = ops.store_stats(store)
    assert stats.counts["manifests"] == len(reports)
    assert stats.counts["packages"] > 0 and stats.counts["index records"] > 0
    assert len(stats.largest) == len(reports)
    assert stats.largest[0][1] >= stats.largest[-1][1]
    if backend.real:
        assert stats.memory is not None and stats.memory["manifest:report"] > 0
    else:
        assert stats.memory is None  # fakeredis has no MEMORY USAGE


def test_inspect(populated: Any) -> None:
    store, reports = populated
    d = reports[0].hash
    info = ops.manifest_info(store, d)
    assert info is not None and info.digest == d and info.has_report and info.records > 0
    assert info.layers and info.scanners and info.last_used is not None
    assert ops.manifest_info(store, gen.random_digest()) is None
    assert [dd for _, dd in ops.manifests(store)] == [r.hash for r in reports]
    assert {s.name for s in ops.scanners(store).values()} >= {"os-release"}
    assert isinstance(store.affected_manifests(Vulnerability(package=workload_pkg(reports))), list)


def workload_pkg(reports: list[Any]) -> Any:
    from redis_store import Package

    return Package(name=next(iter(reports[0].packages.values())).name)
