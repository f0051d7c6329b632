"""``import_report``: a finished report written in one step holds exactly what claircore's
controller would have left behind, on every backend, sync and asyncio, cache on and off.

The controller path (``replay``: every Store call an indexer makes) fills one namespace,
the import another, from the same reports in the same order; the two keyspaces must be the
same key for key and value for value (IDs included: both assign them in the same order),
but for the fields that are random or clock-bound (a manifest's generation, its last use,
the late-write guard's run and sequence). Then every read method answers the same.
"""

from __future__ import annotations

import asyncio as aio
import functools
import multiprocessing
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from redis_store import (
    AsyncRedisStore,
    DigestError,
    ImportOutcome,
    IndexReport,
    InvalidInputError,
    LockError,
    RedisStore,
    ops,
    replay,
)
from redis_store.controller import plan
from redis_store.demo import workload
from redis_store.store.importing import contents
from tests.conftest import SHARED_TESTDATA, Backend
from tests.support.adapters import BlockingAsyncStore
from tests.support.inspect import all_keys, snapshot

#: Fields of a manifest hash that differ between any two writes of the same content.
VOLATILE = {b"gen", b"used", b"run", b"seq"}


def shared_reports() -> list[IndexReport]:
    if not SHARED_TESTDATA.is_dir():
        pytest.skip(f"{SHARED_TESTDATA} is absent: the shared real reports are not here")
    return [IndexReport.from_json(p.read_bytes()) for p in sorted(SHARED_TESTDATA.glob("*.json"))]


def keyspace(client: Any, namespace: str) -> dict[str, Any]:
    """Every key of the namespace (without it) and its value; volatile fields dropped."""
    out = {}
    for key, (kind, value) in snapshot(client, namespace).items():
        if kind == b"hash":
            value = {f: v for f, v in value.items() if f not in VOLATILE and f != b"epoch"}
        elif kind == b"set":
            value = set(value)
        out[key[len(namespace) :]] = value
    return out


def stores(backend: Backend, cache: bool, asyncio: bool = False) -> tuple[RedisStore, Any]:
    """The controller's store and the import's (asyncio: behind a blocking adapter), on
    the same server."""
    replayed = RedisStore(backend.client(), "replayed", local_cache=cache)
    if not asyncio:
        return replayed, RedisStore(backend.client(), "imported", local_cache=cache)
    loop = aio.new_event_loop()
    imported = AsyncRedisStore(backend.async_client(), "imported", local_cache=cache)
    return replayed, BlockingAsyncStore(imported, loop)


def assert_reads_agree(a: Any, b: Any, reports: Iterable[IndexReport]) -> None:
    """Every read method answers the same on both stores, for every manifest, layer and
    scanner of the reports."""
    for r in reports:
        p = plan(r)
        assert a.index_report_json(r.hash) == b.index_report_json(r.hash)
        for s in p.scanners:
            assert a.manifest_scanned(r.hash, [s]) == b.manifest_scanned(r.hash, [s]) is True
        for layer in p.manifest.layers:
            for s in p.scanners:
                assert a.layer_scanned(layer, s) == b.layer_scanned(layer, s) is True
            for read in ("packages_by_layer", "distributions_by_layer", "repositories_by_layer"):
                assert getattr(a, read)(layer, p.scanners) == getattr(b, read)(layer, p.scanners)
            assert a.files_by_layer(layer, p.scanners) == b.files_by_layer(layer, p.scanners) == []


def assert_same_state(backend: Backend, a: RedisStore, b: RedisStore, reports: list[Any]) -> None:
    client = backend.client()
    assert keyspace(client, "replayed") == keyspace(client, "imported")
    assert ops.check(a) == []
    assert ops.check(RedisStore(client, "imported")) == []  # (ops run on a blocking store)
    vulns = workload.sample_vulnerabilities(reports, 60, seed=3)
    assert (
        a.affected_manifests_batch(vulns).to_json() == b.affected_manifests_batch(vulns).to_json()
    )
    for v in vulns[:10]:
        assert a.affected_manifests(v) == b.affected_manifests(v)


@pytest.mark.parametrize("front", ["sync", "async"])
def test_shared_reports_import_as_the_controller_writes_them(
    backend: Backend, cache: bool, front: str
) -> None:
    reports = shared_reports()
    a, b = stores(backend, cache, asyncio=front == "async")
    for r in reports:
        replay.replay(a, r)
        assert b.import_report(r) is ImportOutcome.IMPORTED
    assert_same_state(backend, a, b, reports)
    assert_reads_agree(a, b, reports)
    for r in reports:  # exported: the same reports, up to IDs
        assert contents(b.index_report(r.hash)) == contents(a.index_report(r.hash))
        assert b.import_report(r) is ImportOutcome.UNCHANGED  # again: nothing to do


@pytest.mark.parametrize("n", [60])
def test_workload_reports_import_as_the_controller_writes_them(
    backend: Backend, cache: bool, n: int
) -> None:
    """Base layers shared between manifests, entities the store already holds."""
    # as an origin hands them over: JSON (whose maps are in key order, not the generator's)
    reports = [IndexReport.from_json(r.to_json()) for r in workload.generate(n, seed=21)]
    a, b = stores(backend, cache)
    for r in reports:
        replay.replay(a, r)
        b.import_report(r.to_json())
    assert_same_state(backend, a, b, reports)
    assert_reads_agree(a, b, reports[:30])


@pytest.mark.real_only
@pytest.mark.single_node(reason="the thousand-report run; the cluster runs the smaller one")
def test_a_thousand_workload_reports_and_their_memory(redis_server: Any) -> None:
    """1,000 workload reports: the same keyspace, every read the same for a sample, and the
    memory per manifest within 5 % of the controller's (``MEMORY USAGE`` of every key)."""
    redis_server.flush()
    backend = Backend("real", redis_server)
    reports = list(workload.generate(1000, seed=22))
    a, b = stores(backend, cache=False)
    for r in reports:
        replay.replay(a, r)
        b.import_report(r)
    assert_same_state(backend, a, b, reports)
    assert_reads_agree(a, b, random.Random(1).sample(reports, 50))
    client = backend.client()

    def memory(namespace: str) -> int:
        return sum(client.memory_usage(k, samples=0) or 0 for k in all_keys(client, namespace))

    replayed, imported = memory("replayed"), memory("imported")
    assert abs(imported - replayed) <= 0.05 * replayed, (imported, replayed)


def test_importing_into_a_store_that_holds_some_of_it(backend: Backend, cache: bool) -> None:
    """Half the reports indexed by the controller first, the rest imported; a manifest
    re-imported with ``force``: the same end state as the controller's throughout."""
    reports = list(workload.generate(40, seed=23))
    a, b = stores(backend, cache)
    for r in reports[:20]:
        replay.replay(a, r)
        replay.replay(b, r)
    for r in reports[20:]:
        replay.replay(a, r)
        assert b.import_report(r) is ImportOutcome.IMPORTED
    assert_same_state(backend, a, b, reports)
    # a re-import with force: deleted and written again, as delete + replay would
    victim = reports[5]
    a.delete_manifests(victim.hash)
    replay.replay(a, victim)
    assert b.import_report(victim, force=True) is ImportOutcome.REPLACED
    assert_same_state(backend, a, b, reports)
    assert_reads_agree(a, b, [victim, *reports[20:25]])


def test_outcomes(store: Any, backend: Backend) -> None:
    reports = list(workload.generate(3, seed=24))
    r, other, _ = reports
    assert store.import_report(r) is ImportOutcome.IMPORTED
    assert store.import_report(r) is ImportOutcome.UNCHANGED
    # another report for the same manifest: a conflict, left alone unless forced
    clash = IndexReport.from_json(other.to_json())
    clash.hash = r.hash
    before = store.index_report_json(r.hash)
    assert store.import_report(clash) is ImportOutcome.CONFLICT
    assert store.index_report_json(r.hash) == before
    assert store.import_report(clash, force=True) is ImportOutcome.REPLACED
    assert contents(store.index_report(r.hash)) == contents(clash)
    assert store.import_report(clash) is ImportOutcome.UNCHANGED
    assert ops.check(RedisStore(backend.client(), "test")) == []


def test_an_unfinished_manifest_is_finished_by_the_import(store: Any, backend: Backend) -> None:
    """An indexer that died half-way left the manifest persisted with some layers scanned
    and an intermediate report: the import finishes it."""
    r = next(workload.generate(1, seed=25))
    p = plan(r)
    store.register_scanners(p.scanners)
    store.persist_manifest(p.manifest)
    store.set_index_report(IndexReport(hash=r.hash, state="ScanLayers"))
    assert store.import_report(r) is ImportOutcome.IMPORTED
    got = store.index_report(r.hash)
    assert got is not None and got.success and contents(got) == contents(r)
    assert ops.check(RedisStore(backend.client(), "test")) == []


def test_the_manifest_lock_is_honoured(store: Any, backend: Backend) -> None:
    r = next(workload.generate(1, seed=26))
    other = RedisStore(backend.client(), "test")
    with other.manifest_lock(r.hash):
        with pytest.raises(LockError):
            store.import_report(r, lock_timeout=0.2)
        assert all_keys(backend.client(), "test") == {other.keys.lock(r.hash)}
    assert store.import_report(r) is ImportOutcome.IMPORTED
    with store.manifest_lock(r.hash):  # the holder itself may import
        assert store.import_report(r, force=True) is ImportOutcome.REPLACED
    assert ops.check(RedisStore(backend.client(), "test")) == []


BAD: list[tuple[Any, type[Exception], str]] = [
    (b"{not json", InvalidInputError, "JSON"),
    (b"null", InvalidInputError, "report"),
    (b'{"manifest_hash": "sha256:abc", "success": true}', DigestError, "manifest_hash"),
    (b'{"manifest_hash": "sha256:' + b"a" * 64 + b'", "success": false}', InvalidInputError,
     "not a finished"),
    (b'{"manifest_hash": "sha256:' + b"a" * 64 + b'", "success": true, "packages": []}',
     InvalidInputError, "packages"),
    (42, InvalidInputError, "report"),
    (IndexReport(hash=None, success=True), InvalidInputError, "manifest_hash"),
]  # fmt: skip


@pytest.mark.parametrize("bad,error,names", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_reports_are_refused_before_anything_is_sent(
    store: Any, backend: Backend, bad: Any, error: type[Exception], names: str
) -> None:
    before = snapshot(backend.client(), "test")
    with pytest.raises(error, match=names):
        store.import_report(bad)
    assert snapshot(backend.client(), "test") == before


def test_a_package_without_a_name_is_refused(store: Any, backend: Backend) -> None:
    r = next(workload.generate(1, seed=27))
    pkg = next(iter((r.packages or {}).values()))
    pkg.name = ""
    with pytest.raises(InvalidInputError, match="without a name"):
        store.import_report(r)
    assert all_keys(backend.client(), "test") == set()


def _import_all(url: str, namespace: str, raw: list[bytes]) -> list[str]:
    with RedisStore.from_url(url, namespace=namespace) as store:
        return [str(store.import_report(data)) for data in raw]


@pytest.mark.real_only
def test_concurrent_imports_from_several_processes(backend: Backend) -> None:
    """Four processes import overlapping sets of reports (sharing base layers, and each
    report imported by two of them) at once: every report is stored whole, once, and the
    store answers as one filled by the controller, up to IDs."""
    if not backend.real:
        pytest.skip("processes cannot share an in-process fakeredis")
    assert backend.url is not None
    reports = list(workload.generate(60, seed=28))
    raw = [r.to_json() for r in reports]
    shares = [raw[i::2] for i in range(2)] * 2  # every report twice
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        outcomes = pool.map(
            functools.partial(_import_all, backend.url, "imported"), shares, chunksize=1
        )
    flat = [o for out in outcomes for o in out]
    assert flat.count("imported") == len(reports)
    assert flat.count("imported") + flat.count("unchanged") == 2 * len(reports)
    a = RedisStore(backend.client(), "replayed")
    b = RedisStore(backend.client(), "imported")
    for r in reports:
        replay.replay(a, r)
    assert ops.check(b) == []
    for r in reports:
        assert contents(b.index_report(r.hash)) == contents(a.index_report(r.hash))
    vulns = workload.sample_vulnerabilities(reports, 60, seed=4)
    for v in vulns:
        assert a.affected_manifests(v) == b.affected_manifests(v)


def test_reports_from_files_import_whole(store: Any, backend: Backend, tmp_path: Path) -> None:
    """What the command line hands over: bytes read from a file."""
    for r in workload.generate(3, seed=29):
        path = tmp_path / "r.json"
        path.write_bytes(r.to_json())
        assert store.import_report(path.read_bytes()) is ImportOutcome.IMPORTED
    assert ops.check(RedisStore(backend.client(), "test")) == []
