"""Several indexer processes sharing base layers while another process deletes (a real Redis
server, and a Redis Cluster, where the processes find the cluster from its URL).

Afterwards every invariant of the layout holds, no surviving manifest lost a layer,
package or report, and no deleted manifest answers.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from typing import Any

import pytest

from redis_store import IndexReport, RedisStore, replay
from redis_store.demo import workload
from tests.support.inspect import all_keys, reverse_index
from tests.support.invariants import violations
from tests.test_replay import canonical

MANIFESTS = 40
INDEXERS = 3


def _indexer(url: str, worker: int, out: Any) -> None:
    store = RedisStore.from_url(url, namespace="test")
    reports = list(workload.generate(MANIFESTS, seed=7))
    for i, report in enumerate(reports):
        if i % INDEXERS != worker:
            continue
        with store.manifest_lock(report.hash):
            replay.replay(store, report)
        out.put(("indexed", report.hash))
    out.put(("done", worker))


def _deleter(url: str, digests: list[str], stop: Any, out: Any) -> None:
    store = RedisStore.from_url(url, namespace="test")
    rng = random.Random(3)
    while not stop.is_set():
        batch = rng.sample(digests, 3)
        for d in store.delete_manifests(*batch):
            out.put(("deleted", d))
        time.sleep(0.01)
    out.put(("done", "deleter"))


@pytest.mark.slow
@pytest.mark.parametrize("servers", ["redis_server", "redis_cluster"])
def test_indexers_and_deleter(servers: str, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue(servers)
    server.flush()
    reports = {r.hash: r for r in workload.generate(MANIFESTS, seed=7)}
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    stop = ctx.Event()
    procs = [ctx.Process(target=_indexer, args=(server.url, w, out)) for w in range(INDEXERS)]
    deleter = ctx.Process(target=_deleter, args=(server.url, list(reports), stop, out))
    for p in [*procs, deleter]:
        p.start()
    events: list[tuple[str, Any]] = []
    finished = 0
    deadline = time.monotonic() + 240
    while finished < INDEXERS:
        kind, value = out.get(timeout=max(1, deadline - time.monotonic()))
        events.append((kind, value))
        finished += kind == "done"
    stop.set()
    while (ev := out.get(timeout=60)) != ("done", "deleter"):
        events.append(ev)
    for p in [*procs, deleter]:
        p.join(30)
        assert p.exitcode == 0
    kinds = [k for k, _ in events]
    assert "deleted" in kinds, "the deleter never deleted anything"
    last_indexed = max(i for i, k in enumerate(kinds) if k == "indexed")
    assert "deleted" in kinds[:last_indexed], "no delete raced with indexing"

    client = server.client()
    assert violations(client) == []
    store = RedisStore(client, namespace="test")
    # Which manifests survived is the server's answer: the events of different processes
    # arrive in the queue in no order that matches the server's (an "indexed" put after its
    # lock was released can arrive after the "deleted" of the delete that followed). What
    # the events do decide: a manifest never deleted survives, one that is gone was deleted.
    survivors = {d for d in reports if store.index_report(d) is not None}
    gone = set(reports) - survivors
    deleted = {value for kind, value in events if kind == "deleted"}
    assert set(reports) - deleted <= survivors
    assert gone <= deleted
    assert survivors and gone

    index = reverse_index(client)
    for d in survivors:
        stored = store.index_report(d)
        assert stored is not None and stored.state == "IndexFinished"
        assert canonical(stored) == canonical(reports[d])
        for layer in {e.introduced_in for es in (stored.environments or {}).values() for e in es}:
            assert store.packages_by_layer(layer, _scanners(stored))
        for p in (stored.packages or {}).values():
            assert d in index[p.name]
    for d in gone:
        assert store.index_report(d) is None
        assert all(d not in ds for ds in index.values())
    # and everything can still be deleted down to the bookkeeping keys
    store.delete_manifests(*reports)
    assert violations(client) == []
    assert all_keys(client) == {"test:{g}:scanners", "test:{g}:seq"}


def _scanners(report: IndexReport) -> list[Any]:
    from redis_store import VersionedScanner

    return list(
        {
            VersionedScanner(p.detector.name, p.detector.version, p.detector.kind)
            for p in (report.packages or {}).values()
            if p.detector
        }
    )
