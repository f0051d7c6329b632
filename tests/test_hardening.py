"""What an attack or a bad day found, each reproduced on a real server: reads at
``maxmemory``, a server that lost its data or its scripts, locks on a slow link, late
writes, and namespaces that prefix each other."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from redis_store import (
    AsyncRedisStore,
    IndexReport,
    Layer,
    LockError,
    Manifest,
    Package,
    RedisStore,
    VersionedScanner,
    ops,
)
from redis_store.demo.workload import generate
from redis_store.replay import replay
from redis_store.store import locks
from redis_store.store.calls import ScriptCall
from tests.support import gen
from tests.support.inspect import snapshot
from tests.support.servers import RedisServer, redis_server_binary, start_redis

pytestmark = pytest.mark.real_only

A = VersionedScanner("a-scanner", "1", "package")
B = VersionedScanner("b-scanner", "1", "package")


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    redis_server.flush()
    return redis_server


def store_on(server: RedisServer, namespace: str = "h", **kwargs: Any) -> RedisStore:
    return RedisStore(redis.Redis(host="127.0.0.1", port=server.port), namespace, **kwargs)


# -- 4. reads that write ------------------------------------------------------------------
@pytest.fixture
def full_server() -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    server = start_redis("--maxmemory-policy", "noeviction")
    yield server
    server.stop()


def test_reads_succeed_on_a_full_server(full_server: RedisServer) -> None:
    """A full server (``maxmemory``, ``noeviction``) refuses writes; reads still answer,
    also those whose use is due to be recorded for expire (that write fails quietly)."""
    store = store_on(full_server, local_cache=False)
    reports = [replay(store, r) for r in generate(10, seed=3)]
    client = store.client
    for r in reports:  # unused for long: every read is due to record a use
        client.hset(store.keys.manifest(r.hash), "used", 1)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.set("h:{filler}", "x" * 100_000)
    fresh = store_on(full_server, local_cache=False)  # every use is due: none recorded yet
    for r in reports:
        assert fresh.index_report(r.hash) is not None
        assert fresh.index_report_json(r.hash) is not None
        assert fresh.manifest_scanned(r.hash, []) is True
    assert fresh._uses.failed >= 1  # the uses could not be recorded, and the reads answered
    client.config_set("maxmemory", 0)
    assert ops.check(fresh) == []


# -- 5. lost data and lost scripts ----------------------------------------------------------
def test_a_store_notices_the_server_lost_its_data(server: RedisServer) -> None:
    """After a data loss, scanner IDs mean other scanners: a store that cached the old ones
    must not write under them."""
    old = store_on(server)
    old.register_scanners([A, B])  # A=1, B=2, cached
    server.flush()  # the data is gone (a restart without persistence)
    other = store_on(server)
    other.register_scanners([B, A])  # now B=1, A=2
    layer = gen.random_digest()
    other.persist_manifest(Manifest(hash=gen.random_digest(), layers=[Layer(hash=layer)]))
    old.set_layer_scanned(layer, A)  # with the old IDs this would mark B
    assert other.layer_scanned(layer, A) is True
    assert other.layer_scanned(layer, B) is False
    old.index_packages([Package(name="p", version="1")], layer, A)
    assert [p.detector.name for p in other.packages_by_layer(layer, [A, B])] == ["a-scanner"]  # type: ignore[union-attr]
    assert old.layer_scanned(layer, B) is False  # reads resolve anew too
    assert ops.check(other) == []


@pytest.mark.parametrize("cut", [3, 6, 10, 15, 25, 40])
def test_a_data_loss_inside_a_replay_breaks_no_later_replay(server: RedisServer, cut: int) -> None:
    """The server loses everything (data and scripts) after ``cut`` store calls of a
    replay; that replay may fail, but every later replay of its siblings succeeds."""
    store = store_on(server)
    first, *siblings = list(generate(4, seed=12))
    calls = 0

    class Cut:
        def __getattr__(self, name: str) -> Any:
            method = getattr(store, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls == cut:
                    server.flush()
                    store.client.script_flush()
                return method(*args, **kwargs)

            return call

    with contextlib.suppress(Exception):  # what was lost may fail that replay, not the next
        replay(Cut(), first)
    for r in siblings:
        finished = replay(store, r)
        assert store.index_report(r.hash) == IndexReport.from_json(finished.to_json())
    assert ops.check(store) == []


def test_a_scan_lost_in_a_restart_breaks_no_later_replay(server: RedisServer) -> None:
    """A restart from an AOF that missed a layer's last package writes, while the layer's
    scanned marker (written after the restart) stayed: the replays of every manifest
    sharing that layer would otherwise fail to find its packages."""
    store = store_on(server)
    first, *siblings = list(generate(6, seed=31))
    shared = {e.introduced_in for es in first.environments.values() for e in es}  # type: ignore[union-attr]

    class LostScan:
        """Drops the package writes of the first manifest's layers (as lost)."""

        def __getattr__(self, name: str) -> Any:
            method = getattr(store, name)
            if name != "index_packages":
                return method
            return lambda packages, layer, scanner: None

    with contextlib.suppress(KeyError):  # that replay dies; the markers stay
        replay(LostScan(), first)
    later = [
        r
        for r in siblings
        if shared & {e.introduced_in for es in r.environments.values() for e in es}
    ]  # type: ignore[union-attr]
    assert later, "the workload shares base layers"
    for r in later:
        finished = replay(store, r)
        assert store.index_report(r.hash) == IndexReport.from_json(finished.to_json())
    assert ops.check(store) == []


def test_noscript_right_after_a_reload_is_retried(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_on(server)
    store.register_scanners([A])
    store.client.script_flush()
    load = store._load_scripts
    flushed = 0

    def flush_after_loading() -> None:
        nonlocal flushed
        load()
        if flushed < 2:  # lost again before the resend, twice
            flushed += 1
            store.client.script_flush()

    monkeypatch.setattr(store, "_load_scripts", flush_after_loading)
    m = gen.random_digest()
    store.persist_manifest(Manifest(hash=m, layers=[]))
    assert flushed == 2
    assert store.manifest_scanned(m, [A]) is False


# -- 6. locks on a slow link ----------------------------------------------------------------
def test_a_failed_renewal_is_retried_within_the_ttl(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_on(server, lock_ttl=0.6)
    real = locks.lock_op
    failures = 0

    def flaky(key: str, op: locks.LockOp, token: str, ttl: float) -> Any:
        nonlocal failures
        if op == "renew" and failures < 2:
            failures += 1
            raise redis.exceptions.TimeoutError("Timeout reading from socket")
        return (yield from real(key, op, token, ttl))

    monkeypatch.setattr(locks, "lock_op", flaky)
    m = gen.random_digest()
    with store.manifest_lock(m) as lock:
        time.sleep(1.5)  # past two TTLs: renewed after the timeouts
        assert lock.lost is None
        assert store.client.get(store.keys.lock(m)) is not None
    assert failures == 2


def test_a_lost_lock_is_reported_and_fences_the_holder(server: RedisServer) -> None:
    store = store_on(server, lock_ttl=0.5)
    rival = store_on(server, lock_ttl=5)
    m = gen.random_digest()
    store.persist_manifest(Manifest(hash=m, layers=[]))
    with pytest.raises(LockError, match="lost"), store.manifest_lock(m) as lock:
        store.client.delete(store.keys.lock(m))  # it lapsed (a pause, a partition)
        with rival.manifest_lock(m):  # another indexer takes it
            time.sleep(0.3)  # the holder's next renewal finds it gone
            assert lock.lost is not None
            with pytest.raises(LockError, match="lost"):
                store.set_index_report(IndexReport(hash=m, state="FromTheLoser"))
            rival.set_index_report(IndexReport(hash=m, state="FromTheWinner"))
    assert store.index_report(m).state == "FromTheWinner"  # type: ignore[union-attr]
    with store.manifest_lock(m):  # the store may lock it again
        pass


def test_the_async_lock_recovers_the_same_way(server: RedisServer) -> None:
    async def main() -> None:
        store = AsyncRedisStore(redis.asyncio.Redis(port=server.port), "h", lock_ttl=0.5)
        m = gen.random_digest()
        await store.persist_manifest(Manifest(hash=m, layers=[]))
        with pytest.raises(LockError, match="lost"):
            async with store.manifest_lock(m) as lock:
                await store.client.delete(store.keys.lock(m))
                await store.client.set(store.keys.lock(m), "someone-else")
                await asyncio.sleep(0.3)
                assert lock.lost is not None
        await store.client.delete(store.keys.lock(m))
        async with store.manifest_lock(m):  # not "already locked by this store"
            await store.set_index_report(IndexReport(hash=m, state="Again"))
        await store.close()

    asyncio.run(main())


# -- 7. late writes -------------------------------------------------------------------------
def test_a_late_write_never_replaces_a_later_one(server: RedisServer) -> None:
    """A set_index_report delayed past the client's timeout and resent lands after what the
    run wrote next: it is dropped."""
    store = store_on(server)
    (r,) = [replay(store, x) for x in generate(1, seed=4)]
    sent: list[Any] = []
    original = store._send_calls

    def capture(calls: Any) -> Any:
        sent.extend(c for c in calls if isinstance(c, ScriptCall) and c.name == "set_index_report")
        return original(calls)

    store._send_calls = capture  # type: ignore[method-assign]
    store.set_index_report(dataclasses.replace(r, state="FetchLayers"))
    store.set_index_finished(r, [])  # the run goes on, and finishes
    (late,) = sent
    before = snapshot(store.client, "h")
    (reply,) = store._send([late])  # the delayed copy arrives now
    assert reply == 0
    assert snapshot(store.client, "h") == before
    assert store.index_report(r.hash).state == "IndexFinished"  # type: ignore[union-attr]


# -- 8. namespaces that prefix each other -----------------------------------------------------
def test_a_namespace_never_reaches_another_it_prefixes(server: RedisServer) -> None:
    outer, inner = store_on(server, "a"), store_on(server, "a:b")
    for store, seed in ((outer, 1), (inner, 2)):
        for r in generate(3, seed=seed):
            replay(store, r)
            store.client.hset(store.keys.manifest(r.hash), "used", 1)  # long unused
    theirs = snapshot(inner.client, "a:b")
    assert ops.check(outer) == [] and ops.check(inner) == []
    stats = ops.store_stats(outer)
    assert stats.counts.get("manifests") == 3, stats.counts
    assert ops.collect(outer).total == 0
    ops.expire(outer, older_than=60)
    assert list(ops.manifests(outer)) == []
    assert snapshot(inner.client, "a:b") == theirs
    assert all(k.startswith("a:{") for k in snapshot(outer.client, "a"))


def test_acl_rules_keep_to_their_namespace(server: RedisServer) -> None:
    from redis_store import acl

    admin = server.client()
    admin.execute_command(*acl.setuser_command("outer", "pw", "a"))
    user = redis.Redis(host="127.0.0.1", port=server.port, username="outer", password="pw")
    user.hset("a:{g}:seq", "x", 1)
    with pytest.raises(redis.exceptions.NoPermissionError):
        user.hset("a:b:{g}:seq", "x", 1)
    admin.execute_command("ACL", "DELUSER", "outer")
