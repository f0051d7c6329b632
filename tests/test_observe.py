"""Metrics (claircore's names, the store's own series) and tracing (one span per call), on
every backend and both front ends; nothing at all without them."""

from __future__ import annotations

import asyncio
import gc
import inspect
import sys
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from redis_store import (
    AsyncRedisStore,
    Distribution,
    IndexReport,
    LockError,
    Package,
    RedisStore,
    Vulnerability,
    replay,
)
from redis_store.demo import workload
from redis_store.observe.metrics import BUCKETS, CLAIRCORE
from tests.support import records
from tests.support.adapters import BlockingAsyncStore
from tests.support.cache import start_cache

PACKAGE = Path(__file__).resolve().parents[1] / "redis_store"
DEBIAN = Distribution(
    did="debian",
    name="Debian GNU/Linux",
    version="10 (buster)",
    version_id="10",
    pretty_name="Debian GNU/Linux 10 (buster)",
)


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the registry, read back through prometheus_client's own parser:
    (sample name, sorted labels) -> value."""
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def counting(store: Any) -> Counter[str]:
    """Count the calls of every store method, as the caller makes them."""
    calls: Counter[str] = Counter()
    for name in CLAIRCORE:
        method = getattr(store, name)
        if inspect.iscoroutinefunction(method):

            async def counted_async(*a: Any, _m: Any = method, _n: str = name, **kw: Any) -> Any:
                calls[_n] += 1
                return await _m(*a, **kw)

            store.__dict__[name] = counted_async
        else:

            def counted(*a: Any, _m: Any = method, _n: str = name, **kw: Any) -> Any:
                calls[_n] += 1
                return _m(*a, **kw)

            store.__dict__[name] = counted
    return calls


@pytest.fixture(params=["sync", "async"])
def front(request: pytest.FixtureRequest, backend: Any) -> Iterator[Callable[..., Any]]:
    """Makes a store of the test's backend (sync, or asyncio behind a blocking adapter) with
    the given options; returns (the store to call, the store itself)."""
    made: list[Any] = []
    loop = asyncio.new_event_loop()

    def make(**options: Any) -> tuple[Any, Any]:
        if request.param == "sync":
            s = RedisStore(backend.client(), namespace="obs", **options)
            made.append(s)
            return s, s
        a = AsyncRedisStore(backend.async_client(), namespace="obs", **options)
        made.append(a)
        return BlockingAsyncStore(a, loop), a

    yield make
    for s in made:
        if isinstance(s, AsyncRedisStore):
            loop.run_until_complete(s.close())
        else:
            s.close()
    loop.close()


def exercise(store: Any) -> None:
    """Every Store method at least once: a replay of three reports (claircore's controller
    sequence), reads, AffectedManifests, a delete."""
    reports = list(workload.generate(3, 5))
    for r in reports:
        replay.replay(store, r)
    layer = replay.plan(reports[0]).manifest.layers[0]
    store.index_files([], layer, replay.DISTRIBUTION_SCANNER)
    store.files_by_layer(layer, [replay.DISTRIBUTION_SCANNER])
    store.index_report(str(reports[0].hash))
    store.index_report_json(str(reports[1].hash))
    vulns = workload.sample_vulnerabilities(reports, 3, seed=1)
    store.affected_manifests(vulns[0])
    store.affected_manifests_batch(vulns)
    store.delete_manifests(str(reports[2].hash))


def test_every_method_counted_and_timed_under_claircores_names(front: Any) -> None:
    registry = CollectorRegistry()
    store, inner = front(metrics=registry)
    calls = counting(inner)
    exercise(store)
    assert set(calls) == set(CLAIRCORE)  # every method was called
    got = scrape(registry)
    expected: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for method, n in calls.items():
        series = CLAIRCORE[method]
        labels = dict(series.labels)
        if method == "delete_manifests":
            labels["success"] = "true"
        key = tuple(sorted(labels.items()))
        expected[(series.counter, key)] += n
        expected[(series.histogram + "_count", key)] += n
    for (name, labels), n in expected.items():
        assert got[(name, labels)] == n, (name, labels)
    # the histogram's buckets start below 100 µs (claircore's start at 5 ms)
    first = min(
        float(dict(labels)["le"])
        for (name, labels) in got
        if name == "claircore_indexer_indexreport_duration_seconds_bucket"
    )
    assert first == BUCKETS[0] < 0.0001
    # claircore's names as claircore spells them
    assert ("claircore_indexer_setindexedfinished_total", (("query", "upsertIndexReport"),)) in got
    trips = {
        dict(lb)["method"]: v for (n, lb), v in got.items() if n == "redis_store_round_trips_total"
    }
    assert trips["index_manifest"] >= calls["index_manifest"]
    assert trips["register_scanners"] == calls["register_scanners"]


def test_failures_count_as_errors(front: Any) -> None:
    registry = CollectorRegistry()
    store, _ = front(metrics=registry)
    with pytest.raises(ValueError):
        store.index_report("sha256:nothex")
    got = scrape(registry)
    assert got[("redis_store_errors_total", (("error", "DigestError"), ("method", "index_report")))]
    # claircore counts a query that failed nowhere but DeleteManifests
    assert got[("claircore_indexer_indexreport_total", (("query", "query"),))] == 0


def test_lock_waits_and_retries(front: Any, backend: Any) -> None:
    registry = CollectorRegistry()
    store, _ = front(metrics=registry)
    other = RedisStore(backend.client(), namespace="obs")
    digest = records.index_manifest(store, [(Package(name="a", version="1"), None, None)])
    with (
        other.manifest_lock(digest),
        pytest.raises(LockError),
        store.manifest_lock(digest, timeout=0.05),
    ):
        pass
    got = scrape(registry)
    assert got[("redis_store_lock_waits_total", (("method", "manifest_lock"),))] >= 2
    assert got[("redis_store_lock_wait_seconds_total", (("method", "manifest_lock"),))] > 0
    assert got[("redis_store_errors_total", (("error", "LockError"), ("method", "manifest_lock")))]
    if backend.cluster:
        return  # a cluster re-reads the manifest on every index_manifest: no stale plan
    # a concurrent writer changes the manifest this store wrote last: its remembered plan is
    # stale, the script answers RETRY, and the store plans again
    other.index_manifest(IndexReport(hash=digest))
    store.index_manifest(IndexReport(hash=digest))
    got = scrape(registry)
    assert got[("redis_store_retries_total", (("method", "index_manifest"),))] == 1
    other.close()


def test_undecided_comparisons(front: Any) -> None:
    registry = CollectorRegistry()
    store, _ = front(metrics=registry)
    records.index_manifest(
        store, [(Package(name="tar", version="a:b:c", kind="binary"), DEBIAN, None)]
    )
    v = Vulnerability(
        id="1", name="DSA-1", package=Package(name="tar"), distribution=DEBIAN,
        fixed_in_version="1.30",
    )  # fmt: skip
    assert store.affected_manifests(v) == []
    got = scrape(registry)
    assert got[("redis_store_undecided_comparisons_total", (("matcher", "debian-matcher"),))] == 1


def test_local_cache_series(backend: Any) -> None:
    if not backend.real:
        pytest.skip("fakeredis has no client tracking: no local cache")
    registry = CollectorRegistry()
    store = RedisStore(backend.client(), namespace="obs", metrics=registry)
    start_cache(store)
    writer = RedisStore(backend.client(), namespace="obs", local_cache=False)
    digest = records.index_manifest(writer, [(Package(name="a", version="1"), None, None)])
    deadline = time.monotonic() + 5
    while store.cache_stats().hits < 2 and time.monotonic() < deadline:
        store.index_report(digest)  # kept once tracked, then answered from memory
        time.sleep(0.005)
    writer.set_index_report(IndexReport(hash=digest, state="x"))  # drops the kept answer
    deadline = time.monotonic() + 5
    while store.cache_stats().invalidations == 0 and time.monotonic() < deadline:
        store.index_report(digest)  # drains the listener's socket first
        time.sleep(0.005)
    got = scrape(registry)
    stats = store.cache_stats()
    assert got[("redis_store_local_cache_hits_total", ())] == stats.hits >= 1
    assert got[("redis_store_local_cache_misses_total", ())] == stats.misses >= 1
    assert got[("redis_store_local_cache_invalidations_total", ())] >= 1
    # a store that goes keeps its counts in the registry: counters never go down
    hits = stats.hits
    store.close()
    gone = weakref.ref(store)
    del store
    gc.collect()
    assert gone() is None
    assert scrape(registry)[("redis_store_local_cache_hits_total", ())] == hits
    writer.close()


def test_stores_share_a_registry(backend: Any) -> None:
    registry = CollectorRegistry()
    a = RedisStore(backend.client(), namespace="obs", metrics=registry)
    b = RedisStore(backend.client(), namespace="obs", metrics=registry)
    a.register_scanners([replay.DISTRIBUTION_SCANNER])
    b.register_scanners([replay.DISTRIBUTION_SCANNER])
    assert (
        scrape(registry)[("claircore_indexer_registerscanners_total", (("query", "insert"),))] == 2
    )


def test_one_span_per_call(front: Any) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store, inner = front(tracing=provider)
    calls = counting(inner)
    exercise(store)
    spans = exporter.get_finished_spans()
    by_name = Counter(s.name for s in spans)
    for method, n in calls.items():
        assert by_name[f"redis_store.{method}"] == n, method
    assert set(by_name) == {f"redis_store.{m}" for m in calls}
    for span in spans:
        attributes = dict(span.attributes or {})
        assert attributes["redis_store.namespace"] == "obs"
        assert attributes["db.system.name"] == "redis"
        assert isinstance(attributes["redis_store.round_trips"], int)
    (index,) = [s for s in spans if s.name == "redis_store.index_manifest"][:1]
    attributes = dict(index.attributes or {})
    assert attributes["redis_store.packages"] > 0 and attributes["redis_store.records"] > 0
    assert attributes["redis_store.round_trips"] >= 1
    packages = [s for s in spans if s.name == "redis_store.index_packages"]
    assert any(dict(s.attributes or {})["redis_store.packages"] > 0 for s in packages)
    (delete,) = [s for s in spans if s.name == "redis_store.delete_manifests"]
    assert dict(delete.attributes or {})["redis_store.digests"] == 1
    assert dict(delete.attributes or {})["redis_store.deleted"] == 1
    exporter.clear()
    with pytest.raises(ValueError):
        store.index_report("sha256:nothex")
    (failed,) = exporter.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exception"]


def test_nothing_without_metrics_or_tracing(backend: Any) -> None:
    store = RedisStore(backend.client(), namespace="obs")
    assert store.observer is None
    # the method is the descriptor's plain binding: no wrapper runs per call
    assert store.index_report.__code__.co_filename.endswith("operation.py")


def test_tracing_without_opentelemetry(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails as if not installed
    store = RedisStore(backend.client(), namespace="obs", tracing=True)
    assert store.observer is None
    store.register_scanners([replay.DISTRIBUTION_SCANNER])


def test_bad_options_are_refused(backend: Any) -> None:
    with pytest.raises(ValueError, match="CollectorRegistry"):
        RedisStore(backend.client(), metrics="yes")
    with pytest.raises(ValueError, match="TracerProvider"):
        RedisStore(backend.client(), tracing="yes")


def test_the_library_serves_nothing() -> None:
    """The registry is the application's to serve: no HTTP server in the library (the
    ``serve`` package is such an application, on top of it)."""
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "serve":
            continue
        text = path.read_text()
        assert "start_http_server" not in text and "http.server" not in text, path
