"""Write durability (``wait_replicas``) and retry safety, on a real primary and replica."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from redis_store import DurabilityError, RedisStore, replay
from redis_store.demo import workload
from redis_store.scripts import NAMES, READ_ONLY, WRITES, is_write
from redis_store.store import locks
from redis_store.store.calls import Batch, ScriptCall
from tests.conftest import IN_CI
from tests.support.servers import RedisServer, redis_server_binary, start_redis


def test_write_scripts() -> None:
    assert set(NAMES) >= WRITES and not WRITES & READ_ONLY
    assert {"persist_manifest", "index_manifest", "delete_manifest"} <= WRITES
    assert "cluster/switch_records" in WRITES
    # reads, the read time index_report records, and locks (they expire by themselves)
    reads = {"by_layer", "manifest_plan", "affected_candidates", "manifests_of", "index_report"}
    reads |= {"lock"}
    assert not reads & WRITES
    assert is_write("cluster/some_future_step")


def test_a_retried_acquire_gets_its_own_lock(store: object) -> None:
    """A lock acquire re-sent after a lost reply must not wait for its own lock."""
    d = "sha256:" + "ab" * 32
    key, ttl = store.keys.lock(d), store.lock_ttl  # type: ignore[attr-defined]
    assert store._run(locks.lock_op(key, "acquire", "token-1", ttl))  # type: ignore[attr-defined]
    assert store._run(locks.lock_op(key, "acquire", "token-1", ttl))  # type: ignore[attr-defined]
    assert not store._run(locks.lock_op(key, "acquire", "token-2", ttl))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    if redis_server_binary() is None:
        if IN_CI:
            pytest.fail("CI=true but redis-server is not installed")
        pytest.skip("redis-server is not installed: replication tests skipped")
    primary = start_redis()
    replica = start_redis("--replicaof", "127.0.0.1", str(primary.port))
    deadline = time.monotonic() + 10
    while primary.client().info("replication").get("slave0", {}).get("state") != "online":
        assert time.monotonic() < deadline, "the replica did not connect"
        time.sleep(0.05)
    yield primary, replica
    replica.stop()
    primary.stop()


class Spy(RedisStore):
    """Records what each round trip sent."""

    sent: list[Batch]

    def _durable(self, batch: Batch) -> Batch:
        wire = super()._durable(batch)
        self.sent.append(wire)
        return wire


@pytest.mark.real_only
def test_wait_follows_writes_only(pair: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = pair
    primary.client().flushall()
    store = Spy(redis.Redis(port=primary.port), namespace="d", wait_replicas=1, wait_timeout=2)
    store.sent = []
    report = next(workload.generate(1, seed=3))
    finished = replay.replay(store, report)
    assert finished.hash is not None
    writes = [
        b for b in store.sent if any(isinstance(c, ScriptCall) and is_write(c.name) for c in b)
    ]
    assert writes and all(b[-1].args[0] == "WAIT" for b in writes)  # type: ignore[union-attr]
    store.sent = []
    assert store.index_report(finished.hash) is not None
    assert store.manifest_scanned(finished.hash, replay.plan(report).scanners)
    assert all(c.args[0] != "WAIT" for b in store.sent for c in b if not isinstance(c, ScriptCall))
    # what WAIT acknowledged is on the replica already
    on_replica = RedisStore(redis.Redis(port=replica.port), namespace="d")
    assert on_replica.index_report(finished.hash) == store.index_report(finished.hash)


@pytest.mark.real_only
def test_too_few_replicas_raise(pair: tuple[RedisServer, RedisServer]) -> None:
    primary, _ = pair
    store = RedisStore(redis.Redis(port=primary.port), namespace="d", wait_replicas=2,
                       wait_timeout=0.05)  # fmt: skip
    scanners = replay.plan(next(workload.generate(1, seed=4))).scanners
    with pytest.raises(DurabilityError) as caught:
        store.register_scanners(scanners)
    assert (caught.value.acknowledged, caught.value.wanted) == (1, 2)
    assert "sha256:" not in str(caught.value)
    assert store.manifest_scanned("sha256:" + "cd" * 32, scanners) is False  # reads never wait
