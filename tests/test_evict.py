"""A cache tier's memory budget: ``evict`` deletes least recently used manifests through
``delete_manifests`` until ``used_memory`` is under the budget, on a real redis-server with
a real ``maxmemory`` (noeviction), and after it writes that were refused go through again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis.exceptions import OutOfMemoryError, ResponseError

from redis_store import ImportOutcome, RedisStore, StoreError, ops
from redis_store.demo import workload
from redis_store.ops.evict import least_recently_used, memory_used
from redis_store.ops.nodes import primaries
from tests.conftest import Backend, _require
from tests.support.inspect import snapshot
from tests.support.servers import RedisServer, redis_server_binary, start_redis
from tests.test_cli_helpers import Cli, make_cli

MAXMEMORY = 48 * 1024 * 1024


@pytest.fixture(scope="module")
def small_server() -> Iterator[RedisServer]:
    """A redis-server with a real maxmemory (and, as the store needs, noeviction)."""
    _require({"redis-server": redis_server_binary()}, "real backend")
    server = start_redis("--maxmemory", str(MAXMEMORY))
    yield server
    server.stop()


@pytest.fixture
def store(small_server: RedisServer) -> Iterator[RedisStore]:
    small_server.flush()
    s = RedisStore(small_server.client(), "tier")
    yield s
    s.close()


def fill(store: RedisStore, n: int, seed: int = 3) -> list[str]:
    digests = []
    for r in workload.generate(n, seed=seed):
        store.import_report(r)
        digests.append(str(r.hash))
    return digests


def age(store: RedisStore, digests: list[str], seconds: int) -> None:
    """Move every manifest's recorded use ``seconds`` into the past, oldest written first."""
    now, _ = store.client.time()
    for i, d in enumerate(digests):
        store.client.hset(store.keys.manifest(d), "used", now - seconds - len(digests) + i)


def test_evicts_the_least_recently_used_until_under_budget(
    store: RedisStore, small_server: RedisServer
) -> None:
    empty = memory_used(store)
    digests = fill(store, 120)
    age(store, digests, 3600)  # uses are recorded at most once a minute: make them old
    with RedisStore(small_server.client(), "tier") as reader:
        kept = digests[:10]  # the oldest written, read since
        for d in kept:
            assert reader.index_report(d) is not None
    order = least_recently_used(store)
    assert set(order[-10:]) == set(kept)
    base = memory_used(store)
    # a fifth of the data: about half the manifests, as most of a manifest's memory is in
    # layers other manifests share, freed only with their last user
    budget = base - (base - empty) // 5
    res = ops.evict(store, budget)
    assert res.under_budget and res.used_after <= budget < res.used_before
    assert res.evicted == order[: len(res.evicted)]  # oldest first
    assert not set(kept) & set(res.evicted)
    per_manifest = res.freed / len(res.evicted)
    assert budget - res.used_after < 4 * per_manifest + 256 * 1024  # close to it, not far under
    assert ops.check(store) == []
    for d in kept:
        assert store.index_report(d) is not None
    # reads and checks since moved used_memory a little: under a budget, nothing goes
    again = ops.evict(store, memory_used(store) + 64 * 1024)
    assert again.evicted == [] and again.rounds == 0 and again.under_budget


def test_a_locked_manifest_is_skipped(store: RedisStore) -> None:
    digests = fill(store, 30)
    oldest = least_recently_used(store)[0]
    with RedisStore(store.client, "tier") as indexer, indexer.manifest_lock(oldest):
        res = ops.evict(store, memory_used(store) - 200_000)
    assert oldest in res.skipped_locked and oldest not in res.evicted
    assert store.index_report(oldest) is not None
    assert ops.check(store) == []
    assert len(digests) == 30


def test_a_dry_run_deletes_nothing(store: RedisStore, small_server: RedisServer) -> None:
    fill(store, 30)
    before = snapshot(small_server.client(), "tier")
    res = ops.evict(store, memory_used(store) - 100_000, dry_run=True)
    assert res.dry_run and res.evicted and res.estimated_bytes >= 100_000
    assert res.evicted == least_recently_used(store)[: len(res.evicted)]
    assert snapshot(small_server.client(), "tier") == before


def test_writes_refused_at_maxmemory_go_through_after_evicting(
    store: RedisStore, small_server: RedisServer
) -> None:
    """Fill until the server refuses writes (OOM under noeviction), evict to 80% of
    maxmemory, and importing works again; the store is consistent throughout."""
    refused = None
    for r in workload.generate(4000, seed=5):
        try:
            store.import_report(r)
        except ResponseError as e:
            refused = e
            break
    assert isinstance(refused, OutOfMemoryError), refused
    assert ops.check(store) == []
    res = ops.evict(store, int(MAXMEMORY * 0.8))
    assert res.under_budget and res.evicted
    assert ops.check(store) == []
    for r in workload.generate(3, seed=99):
        assert store.import_report(r) is ImportOutcome.IMPORTED
    assert ops.check(store) == []


def test_fakeredis_says_it_cannot_tell_its_memory(backend: Backend) -> None:
    if backend.real:
        pytest.skip("fakeredis only")
    with RedisStore(backend.client(), "tier") as s, pytest.raises(StoreError, match="INFO"):
        ops.evict(s, 1024)


@pytest.fixture
def cli(backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Cli:
    return make_cli(backend, monkeypatch, capsys)


def test_the_evict_command(cli: Cli, backend: Backend) -> None:
    if not backend.real:
        run = cli("evict", "--max-memory", "1MiB")
        assert run.code == 1 and "INFO" in run.err
        return
    with cli.store() as s:
        empty = memory_used(s)
        fill(s, 20)
    with cli.store() as s:  # measured once the filling connection is gone
        used = memory_used(s)
    # a tenth of the data: reachable (a server keeps some memory it freed) and beyond a
    # cluster's noise
    budget = used - (used - empty) // 10
    run = cli("evict", "--max-memory", "4x")
    assert run.code == 2 and "not a size" in run.err
    # a dry run's estimate counts each manifest's own keys only: with every manifest named
    # it may still be over, and says so
    floor = sum(int(n.info("memory")["used_memory_startup"]) for _, n in primaries(s.client))
    run = cli("evict", "--max-memory", f"{floor}B", "--dry-run", "--json")
    assert run.code == 1 and run.json()["dry_run"] and run.json()["evicted"] == 20
    assert run.json()["estimated_bytes"] > 0
    with cli.store() as s:
        assert len(list(ops.manifests(s))) == 20
    run = cli("evict", "--max-memory", f"{budget}B", "--json")
    doc = run.json()
    assert run.code == 0 and doc["under_budget"] and doc["evicted"] > 0
    assert doc["ms_per_manifest"] > 0
    run = cli("evict", "--max-memory", f"{floor}B", "--yes")
    assert run.code == 1 and "OVER" in run.out  # everything deleted and still over
    with cli.store() as s:
        assert ops.check(s) == [] and list(ops.manifests(s)) == []
