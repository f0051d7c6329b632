"""Failover under load: the primary is killed mid-stream and the store carries on.

A Sentinel-managed primary with two replicas (so the promoted one still has a replica to
acknowledge ``WAIT 1``), the store connected by a ``redis+sentinel://`` URL with
``wait_replicas=1``. A thread indexes realistic manifests (``redis_store.replay``, under the
manifest lock as an indexer would); the primary gets SIGKILL; the stream must finish without
an error, and everything it indexed must be on the promoted primary, consistent.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from redis_store import (
    AsyncRedisStore,
    DurabilityError,
    IndexReport,
    RedisStore,
    SentinelSetupError,
    ops,
    replay,
)
from redis_store.demo import workload
from redis_store.store.sentinels import verdict
from tests.conftest import IN_CI
from tests.support.adapters import BlockingAsyncStore
from tests.support.sentinel import SentinelTopology, start_sentinel_topology
from tests.support.servers import redis_server_binary

pytestmark = [pytest.mark.real_only, pytest.mark.slow]

NS = "fo"


@pytest.fixture
def topology() -> Iterator[SentinelTopology]:
    if redis_server_binary() is None:
        if IN_CI:
            pytest.fail("CI=true but redis-server is not installed: the Sentinel tests must run")
        pytest.skip("redis-server is not installed: Sentinel tests skipped")
    top = start_sentinel_topology(replicas=2)
    yield top
    top.stop()


def assert_all_on(port: int, finished: list[IndexReport]) -> None:
    """Every report is stored whole on the server at ``port``, and fsck finds nothing."""
    with RedisStore(redis.Redis(host="127.0.0.1", port=port), namespace=NS) as store:
        for report in finished:
            assert report.hash is not None
            got = store.index_report(report.hash)
            assert got is not None, f"{report.hash} lost in the failover"
            assert got.state == "IndexFinished"
            assert got == IndexReport.from_json(report.to_json())  # as stored: JSON
        assert ops.check(store) == []


Opened = tuple[Any, Callable[[], None]]  # a store with the blocking API, and its close


def stream_through_failover(
    topology: SentinelTopology,
    open_store: Callable[[], Opened],
    reports: list[IndexReport],
    kill_after: int,
) -> None:
    """Index ``reports`` from a thread, SIGKILL the primary after ``kill_after`` of them, and
    check that the stream finished without an error and lost nothing."""
    done: list[tuple[IndexReport, float]] = []
    errors: list[BaseException] = []

    def stream() -> None:
        store, close = open_store()  # in this thread: an event loop belongs to one thread
        try:
            for report in reports:
                assert report.hash is not None
                for attempt in range(3):
                    try:
                        with store.manifest_lock(report.hash):
                            finished = replay.replay(store, report)
                        break
                    except DurabilityError:
                        # The new primary's replica was not attached yet (a slow
                        # reconfiguration on a loaded machine): applied, not yet replicated;
                        # every store call is idempotent, so do it again, as documented.
                        if attempt == 2:
                            raise
                done.append((finished, time.monotonic()))
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        finally:
            close()

    worker = threading.Thread(target=stream, name="indexer")
    worker.start()
    deadline = time.monotonic() + 20
    while len(done) < kill_after and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.002)
    old = topology.kill_primary()
    killed_at = time.monotonic()
    new = topology.wait_failover(old)
    worker.join(45)

    assert not worker.is_alive(), "the stream hung"
    assert errors == []
    assert len(done) == len(reports)
    before = [r for r, at in done if at < killed_at]
    after = [r for r, at in done if at > killed_at]
    assert len(before) >= kill_after and after, "the kill did not land mid-stream"
    stall = max(b - a for (_, a), (_, b) in itertools.pairwise(done))
    assert stall > 0.5, "the stream never waited for the promotion"
    assert new != old
    assert_all_on(new, [r for r, _ in done])


def test_sync_store_rides_out_a_failover(topology: SentinelTopology) -> None:
    def open_store() -> Opened:
        store = RedisStore.from_url(topology.url, namespace=NS, wait_replicas=1, wait_timeout=5)
        return store, store.close

    stream_through_failover(topology, open_store, list(workload.generate(150, seed=11)), 20)


def test_async_store_rides_out_a_failover(topology: SentinelTopology) -> None:
    def open_store() -> Opened:
        loop = asyncio.new_event_loop()
        store = AsyncRedisStore.from_url(
            topology.url, namespace=NS, wait_replicas=1, wait_timeout=5
        )

        def close() -> None:
            loop.run_until_complete(store.close())
            loop.close()

        return BlockingAsyncStore(store, loop), close

    stream_through_failover(topology, open_store, list(workload.generate(60, seed=12)), 10)


def test_the_local_cache_is_dropped_on_a_failover(topology: SentinelTopology) -> None:
    """After a failover nothing the cache read from the old primary is answered: the
    listener moves to the new primary and everything is read again."""
    store = RedisStore.from_url(topology.url, namespace=NS)
    try:
        reports = [replay.replay(store, r) for r in workload.generate(3, seed=13)]
        for r in reports:
            assert store.index_report_json(r.hash) is not None
        deadline = time.monotonic() + 5
        while not store.local_cache.live:
            assert time.monotonic() < deadline, store.local_cache
            time.sleep(0.01)
        for r in reports:
            assert store.index_report_json(r.hash) is not None  # now from memory
        hits = store.cache_stats().hits
        assert hits >= len(reports)
        old = topology.kill_primary()
        new = topology.wait_failover(old)
        # changed on the new primary behind the store's back: the old answers must go
        behind = redis.Redis(host="127.0.0.1", port=new)
        deadline = time.monotonic() + 20
        while behind.get(store.keys.report(reports[0].hash)) is None:
            assert time.monotonic() < deadline, "the report did not reach the new primary"
            time.sleep(0.05)
        behind.delete(store.keys.report(reports[0].hash))
        deadline = time.monotonic() + 20
        while True:
            try:
                if store.index_report_json(reports[0].hash) is None:
                    break
            except redis.ConnectionError:
                pass
            assert time.monotonic() < deadline, "an answer from the old primary survived"
            time.sleep(0.02)
        assert store.cache_stats().flushes >= 1
        deadline = time.monotonic() + 10
        while not (store.local_cache.live and store.local_cache.nodes == (f"127.0.0.1:{new}",)):
            assert time.monotonic() < deadline, store.local_cache
            time.sleep(0.02)
    finally:
        store.close()


@pytest.fixture(scope="module")
def lone_sentinel() -> Iterator[SentinelTopology]:
    """A primary without replicas and its sentinel, for the set-up checks."""
    if redis_server_binary() is None:
        if IN_CI:
            pytest.fail("CI=true but redis-server is not installed: the Sentinel tests must run")
        pytest.skip("redis-server is not installed: Sentinel tests skipped")
    top = start_sentinel_topology(replicas=0)
    yield top
    top.stop()


def _setup_error(url: str, asyncio_store: bool) -> tuple[SentinelSetupError, float]:
    """The error a store on ``url`` raises on its first call, and how long it took."""
    started = time.monotonic()
    if asyncio_store:

        async def call() -> None:
            async with AsyncRedisStore.from_url(url) as store:
                await store.index_report("sha256:" + "a" * 64)

        with pytest.raises(SentinelSetupError) as caught:
            asyncio.run(call())
    else:
        with RedisStore.from_url(url) as store, pytest.raises(SentinelSetupError) as caught:
            store.index_report("sha256:" + "a" * 64)
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize("asyncio_store", [False, True], ids=["sync", "asyncio"])
def test_a_service_no_sentinel_monitors_fails_at_once(
    lone_sentinel: SentinelTopology, asyncio_store: bool
) -> None:
    """The sentinel answers that it monitors no such service: not retried for the failover
    budget (20 s), whatever the client library's wording."""
    url = f"redis+sentinel://127.0.0.1:{lone_sentinel.sentinel_port}/no-such-service"
    error, took = _setup_error(url, asyncio_store)
    assert "monitors no primary named 'no-such-service'" in str(error)
    assert took < 5


@pytest.mark.parametrize("asyncio_store", [False, True], ids=["sync", "asyncio"])
def test_a_redis_server_given_as_a_sentinel_fails_at_once(
    lone_sentinel: SentinelTopology, asyncio_store: bool
) -> None:
    """``INFO server`` says ``redis_mode:standalone``: not a sentinel, said at once."""
    url = f"redis+sentinel://127.0.0.1:{lone_sentinel.primary.port}/{lone_sentinel.service}"
    error, took = _setup_error(url, asyncio_store)
    assert "not a sentinel" in str(error) and "redis_mode standalone" in str(error)
    assert took < 5


def test_the_right_service_still_answers(lone_sentinel: SentinelTopology) -> None:
    with RedisStore.from_url(lone_sentinel.url) as store:
        assert store.index_report("sha256:" + "a" * 64) is None


def test_verdicts_follow_the_servers_answers() -> None:
    """What each reply means, independent of how a client library words its errors."""
    where = "h:1"
    assert verdict(where, "s", {"redis_mode": "standalone"}, redis.ResponseError("x")) == (
        f"{where}: a redis+sentinel:// URL, but that is a Redis server (redis_mode"
        " standalone), not a sentinel: give the sentinels' addresses (port 26379 by default),"
        " or use redis:// for this server"
    )
    assert "cluster" in (verdict(where, "s", {"redis_mode": "cluster"}, None) or "")
    assert "monitors no primary named 's'" in (
        verdict(where, "s", {"redis_mode": "sentinel"}, None) or ""
    )
    # a primary known (perhaps down): nothing certain, the retry goes on
    assert verdict(where, "s", {"redis_mode": "sentinel"}, [b"127.0.0.1", b"6379"]) is None
    # no answer: nothing certain either
    gone = redis.ConnectionError("refused")
    assert verdict(where, "s", gone, gone) is None
    refused = redis.AuthenticationError("whatever the wording")
    assert "refused authentication" in (verdict(where, "s", refused, refused) or "")
