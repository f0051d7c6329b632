"""The local cache: answers from process memory, never stale once Redis has said so.

Each invalidation path has a test on a real server: another process's write and delete,
FLUSHDB, SCRIPT FLUSH, a restart, CLIENT KILL of the listener, a small
``tracking-table-max-keys`` (a Sentinel failover is in ``test_sentinel.py``). The entry
bookkeeping (fences, LRU, maximum age) is tested without a server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio

from redis_store import (
    AsyncRedisStore,
    Distribution,
    IndexReport,
    InvalidInputError,
    Package,
    RedisStore,
    Repository,
    VersionedScanner,
)
from redis_store.cache import CacheConfig
from redis_store.cache.entries import MISS, Entries
from redis_store.codec.lazy import LazyIndexReport
from redis_store.demo.workload import generate
from redis_store.models import copies
from redis_store.replay import replay
from tests.support.cache import start_cache
from tests.support.servers import RedisServer, redis_server_binary, start_redis

SCANNER = VersionedScanner("dpkg", "7", "package")


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``condition()`` held (fails after ``timeout``)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "condition not reached"
        time.sleep(0.001)
    return time.monotonic() - start


# -- the entries, without a server --------------------------------------------------------
def stored(report: IndexReport) -> IndexReport:
    """What index_report answers for a report written as ``report``: its JSON round trip."""
    return IndexReport.from_json(report.to_json())


def live_entries(**limits: Any) -> Entries:
    entries = Entries(**limits)
    entries.clear(live=True)
    return entries


def tracked_fence(entries: Entries) -> Any:
    fence = entries.fence()
    fence.tracked = True
    return fence


def test_an_answer_is_kept_and_dropped_by_its_keys() -> None:
    e = live_entries()
    assert e.put("a", 1, ["k1", "k2"], 10, tracked_fence(e))
    assert e.get("a") == 1
    e.invalidate(["other"])
    assert e.get("a") == 1
    assert e.invalidate(["k2"]) == 1
    assert e.get("a") is MISS
    assert e.stats.invalidations == 1 and e.stats.entries == 0 and e.stats.bytes == 0


def test_an_invalidation_that_overtakes_its_reply_refuses_the_answer() -> None:
    e = live_entries()
    fence = tracked_fence(e)  # the read is sent
    e.invalidate(["k"])  # the write's invalidation arrives before the read's reply
    assert not e.put("a", "old", ["k"], 1, fence)
    assert e.get("a") is MISS and e.stats.refused == 1
    fence = tracked_fence(e)
    e.invalidate(["unrelated"])
    assert e.put("a", "new", ["k"], 1, fence)


def test_untracked_or_old_epoch_answers_are_refused() -> None:
    e = live_entries()
    untracked = e.fence()
    assert not e.put("a", 1, ["k"], 1, untracked)
    old = tracked_fence(e)
    e.clear(live=True)  # tracking re-established: a new epoch
    assert not e.put("a", 1, ["k"], 1, old)
    e.clear(live=False)
    assert not e.put("a", 1, ["k"], 1, tracked_fence(e))
    assert e.get("a") is MISS


def test_lru_bounds_entries_and_bytes() -> None:
    e = live_entries(max_entries=3, max_bytes=100)
    for i in range(5):
        assert e.put(i, i, [f"k{i}"], 10, tracked_fence(e))
    assert len(e) == 3 and e.get(0) is MISS and e.get(4) == 4
    e.get(2)  # used last: kept over 3 and 4
    e.put("big", "x", ["kb"], 85, tracked_fence(e))
    assert e.get("big") == "x" and e.get(2) == 2 and e.stats.bytes <= 100
    assert e.get(3) is MISS and e.get(4) is MISS
    assert e.stats.evictions >= 3


def test_entries_expire_after_their_maximum_age() -> None:
    e = live_entries(max_age=0.05)
    e.put("a", 1, ["k"], 1, tracked_fence(e))
    assert e.get("a") == 1
    time.sleep(0.06)
    assert e.get("a") is MISS and e.stats.evictions == 1


def test_copies_copy_every_field() -> None:
    p = Package(id="1", name="n", version="1", source=Package(id="2", name="s"), cpe="")
    for original, copy in (
        (p, copies.package(p)),
        (Distribution(id="3", did="debian", cpe=""), None),
        (Repository(id="4", name="r", uri="u"), None),
    ):
        clone = copy or getattr(copies, type(original).__name__.lower())(original)
        assert clone == original and clone is not original
        for f in dataclasses.fields(original):
            assert getattr(clone, f.name) == getattr(original, f.name), f.name
    assert copies.package(p).source is not p.source


def test_cache_config_is_checked() -> None:
    with pytest.raises(ValueError):
        CacheConfig(max_entries=0)
    with pytest.raises(ValueError):
        CacheConfig(max_age=-1)
    with pytest.raises(InvalidInputError):
        RedisStore(fakeredis.FakeRedis(), local_cache="yes")  # type: ignore[arg-type]


def test_fakeredis_has_no_cache_and_says_why() -> None:
    store = RedisStore(fakeredis.FakeRedis())
    state = store.local_cache
    assert state.enabled and state.state == "off" and "fakeredis" in state.reason
    off = RedisStore(fakeredis.FakeRedis(), local_cache=False)
    assert not off.local_cache.enabled and "local_cache=False" in off.local_cache.reason
    assert store.cache_stats().hits == 0


# -- on a real server ---------------------------------------------------------------------
@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    redis_server.flush()
    return redis_server


def cached_store(port: int, **kwargs: Any) -> RedisStore:
    store = RedisStore(redis.Redis(host="127.0.0.1", port=port), namespace="c", **kwargs)
    start_cache(store)
    return store


@pytest.fixture
def filled(server: RedisServer) -> Iterator[tuple[RedisStore, list[IndexReport]]]:
    store = cached_store(server.port)
    reports = [replay(store, r) for r in generate(4, seed=21)]
    yield store, reports
    store.close()


def test_repeated_reads_are_served_from_memory(
    filled: tuple[RedisStore, list[IndexReport]],
) -> None:
    store, reports = filled
    r = reports[0]
    layer = next(e.introduced_in for es in r.environments.values() for e in es)
    scanners = [SCANNER, VersionedScanner("rhel-package-scanner", "1", "package")]
    calls: list[Callable[[], Any]] = [
        lambda: store.index_report(r.hash),
        lambda: store.index_report_json(r.hash),
        lambda: store.manifest_scanned(r.hash, []),
        lambda: store.layer_scanned(layer, VersionedScanner("os-release", "1", "distribution")),
        lambda: store.packages_by_layer(layer, scanners),
        lambda: store.distributions_by_layer(
            layer, [VersionedScanner("os-release", "1", "distribution")]
        ),
    ]
    first = [call() for call in calls]
    before = store.cache_stats().hits
    sent = store.client.info("stats")["total_commands_processed"]
    again = [call() for call in calls]
    assert again == first
    assert store.cache_stats().hits - before >= len(calls) - 1  # manifest_scanned([]) asks nothing
    info = store.client.info("stats")["total_commands_processed"]
    assert info - sent <= 2  # the two INFO calls themselves: the reads sent nothing
    assert store.index_report(r.hash) == stored(r)


def test_callers_cannot_change_what_the_next_caller_gets(
    filled: tuple[RedisStore, list[IndexReport]],
) -> None:
    store, reports = filled
    r = reports[1]
    layer = next(e.introduced_in for es in r.environments.values() for e in es)
    scanners = [SCANNER, VersionedScanner("rhel-package-scanner", "1", "package")]
    packages = store.packages_by_layer(layer, scanners)
    assert packages
    packages[0].name = "mutated"
    packages[0].source = None
    packages.clear()
    again = store.packages_by_layer(layer, scanners)
    assert again and again[0].name != "mutated"
    report = store.index_report(r.hash)
    assert report is not None
    report.packages.clear()  # type: ignore[union-attr]
    report.state = "mutated"
    assert store.index_report(r.hash) == stored(r)
    assert isinstance(store.index_report(r.hash), LazyIndexReport)


def test_a_store_reads_its_own_writes(filled: tuple[RedisStore, list[IndexReport]]) -> None:
    store, reports = filled
    r = reports[2]
    assert store.index_report(r.hash) == stored(r)  # cached
    store.set_index_report(dataclasses.replace(r, state="Changed"))
    assert store.index_report(r.hash).state == "Changed"  # type: ignore[union-attr]
    assert store.manifest_scanned(r.hash, [SCANNER]) is True
    assert store.delete_manifests(r.hash) == [r.hash]
    assert store.index_report(r.hash) is None
    assert store.index_report_json(r.hash) is None
    assert store.manifest_scanned(r.hash, [SCANNER]) is False


def other_process(port: int, body: str) -> None:
    """Run ``body`` in a new Python process with ``store``: a store on the same server."""
    code = textwrap.dedent(
        f"""
        import redis
        from redis_store import RedisStore
        store = RedisStore(redis.Redis(host="127.0.0.1", port={port}), namespace="c")
        """
    ) + textwrap.dedent(body)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_another_processs_write_and_delete_reach_this_cache(
    server: RedisServer, filled: tuple[RedisStore, list[IndexReport]]
) -> None:
    store, reports = filled
    r = reports[0]
    before = store.index_report_json(r.hash)
    assert before is not None and store.index_report_json(r.hash) == before  # cached
    other_process(
        server.port,
        f"""
        import dataclasses
        r = store.index_report({str(r.hash)!r})
        store.set_index_report(dataclasses.replace(r, state="FromElsewhere"))
        """,
    )
    wait_for(lambda: b"FromElsewhere" in (store.index_report_json(r.hash) or b""), timeout=1)
    other_process(server.port, f"store.delete_manifests({str(r.hash)!r})")
    wait_for(lambda: store.index_report_json(r.hash) is None, timeout=1)
    assert store.manifest_scanned(r.hash, [SCANNER]) is False
    assert store.cache_stats().invalidations > 0


def test_flushdb_drops_everything(filled: tuple[RedisStore, list[IndexReport]]) -> None:
    store, reports = filled
    assert all(store.index_report(r.hash) is not None for r in reports)
    flushes = store.cache_stats().flushes
    store.client.flushdb()
    wait_for(lambda: store.index_report(reports[0].hash) is None, timeout=1)
    assert all(store.index_report(r.hash) is None for r in reports)
    assert store.cache_stats().flushes > flushes and store.local_cache.live


def test_script_flush_changes_no_answer(filled: tuple[RedisStore, list[IndexReport]]) -> None:
    store, reports = filled
    r = reports[3]
    assert store.index_report(r.hash) == stored(r)
    store.client.script_flush()
    assert store.index_report(r.hash) == stored(r)  # the data did not change
    store.set_index_report(dataclasses.replace(r, state="AfterFlush"))  # NOSCRIPT, reloaded
    assert store.index_report(r.hash).state == "AfterFlush"  # type: ignore[union-attr]
    assert store.local_cache.live


def test_client_kill_of_the_listener_drops_everything(
    filled: tuple[RedisStore, list[IndexReport]],
) -> None:
    store, reports = filled
    r = reports[1]
    assert store.index_report(r.hash) == stored(r)
    assert store.tracking is not None
    (listener,) = store.tracking._listeners.values()
    admin = store.client
    admin.execute_command("CLIENT", "KILL", "ID", listener.client_id)
    # written while nothing listens: the cache must not answer the old report afterwards
    admin.delete(store.keys.report(r.hash))
    wait_for(lambda: store.index_report(r.hash) is None, timeout=2)
    wait_for(lambda: store.local_cache.live)
    assert store.cache_stats().flushes >= 1
    new_listener = next(iter(store.tracking._listeners.values()))
    assert new_listener.client_id != listener.client_id
    store.set_index_report(stored(r))
    assert store.index_report(r.hash) is not None and store.index_report(r.hash) is not None
    admin.delete(store.keys.report(r.hash))
    wait_for(lambda: store.index_report(r.hash) is None, timeout=1)  # tracked again


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    server = start_redis("--tracking-table-max-keys", "10")
    yield server
    server.stop()


def test_a_small_tracking_table_never_serves_stale_answers(own_server: RedisServer) -> None:
    """When the server stops tracking keys (its table is full) it invalidates them: the
    cache drops those answers rather than keep ones nobody would invalidate."""
    store = cached_store(own_server.port)
    reports = [replay(store, r) for r in generate(8, seed=5)]
    for r in reports:  # far more tracked keys than the server keeps
        assert store.index_report_json(r.hash) is not None
        assert store.index_report_json(r.hash) is not None
    assert store.client.info("stats")["tracking_total_keys"] <= 10
    evicted = store.cache_stats().invalidations
    assert evicted > 0  # the server's evictions reached the cache
    writer = redis.Redis(host="127.0.0.1", port=own_server.port)
    for r in reports:
        writer.delete(store.keys.report(r.hash))
    for r in reports:
        wait_for(lambda r=r: store.index_report_json(r.hash) is None, timeout=1)
    store.close()


def test_a_server_restart_drops_everything() -> None:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    server = start_redis()  # no persistence: the restart loses the data
    try:
        store = cached_store(server.port)
        (r,) = [replay(store, x) for x in generate(1, seed=8)]
        assert store.index_report(r.hash) == stored(r)
        server.process.terminate()
        server.process.wait(10)
        args = server.process.args
        assert isinstance(args, list)
        server.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        wait_for(lambda: store.local_cache.state != "live", timeout=5)

        def answered_none() -> bool:
            try:
                return store.index_report(r.hash) is None
            except redis.ConnectionError:
                return False

        wait_for(answered_none, timeout=10)
        wait_for(lambda: store.local_cache.live, timeout=10)
        store.close()
    finally:
        server.stop()


def test_reads_from_memory_still_count_as_uses(
    filled: tuple[RedisStore, list[IndexReport]],
) -> None:
    store, reports = filled
    r = reports[0]
    key = store.keys.manifest(r.hash)
    store.index_report(r.hash)
    store.client.hset(key, "used", 0)  # long unused, as far as expire can tell
    store._uses._sent.clear()
    store._uses._last_flush = 0.0
    hits = store.cache_stats().hits
    store.index_report(r.hash)  # from memory, but a use all the same
    assert store.cache_stats().hits == hits + 1
    assert int(store.client.hget(key, "used") or 0) > 0


def test_async_store_caches_too(server: RedisServer) -> None:
    async def main() -> None:
        store = AsyncRedisStore(redis.asyncio.Redis(host="127.0.0.1", port=server.port))
        start_cache(store)
        (r,) = list(generate(1, seed=9))
        await store.register_scanners([SCANNER])
        assert await store.index_report(r.hash) is None
        assert await store.index_report(r.hash) is None
        assert store.cache_stats().hits >= 1
        assert store.local_cache.live
        await store.close()
        assert store.local_cache.state == "closed"

    asyncio.run(main())
