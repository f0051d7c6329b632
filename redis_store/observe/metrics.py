"""Prometheus metrics of a store: claircore's series, and this store's own.

Every Store method is counted and timed under the name claircore's PostgreSQL store uses
(``datastore/postgres/*.go``), with its labels, so Clair's dashboards and alerts read a
Redis-backed indexer unchanged: ``claircore_indexer_<method>_total`` and
``claircore_indexer_<method>_duration_seconds`` with a ``query`` label (``action`` and
``success`` for DeleteManifests), ``claircore_datastore_getaffectedmanifests_*`` for
AffectedManifests. claircore counts one sample per SQL query; a method here is one script
or read, so each call is one sample, under the ``query`` value of the claircore query
that does the method's work (:data:`CLAIRCORE`). Like claircore, a call that fails is not
counted there (DeleteManifests counts it with ``success="false"``); it is counted in
``redis_store_errors_total``.

claircore's odd names are kept as they are, since dashboards spell them that way:
``setindexedfinished_total`` (the counter; its histogram is ``setindexfinished_...``),
``distributionbylayer_*`` and ``indexpackage_*`` in the singular, ``indexrepositories_*``.

The buckets (:data:`BUCKETS`) start at 25 µs: claircore's (Prometheus' defaults) start at
5 ms, where every call of this store would land.

The store's own series: round trips, retries after a concurrent writer, lock waits,
errors, undecided matcher comparisons and the local cache (the last two read from the
stores at scrape time, at no cost per call). The registry is the caller's
(``metrics=registry``); nothing here serves it over HTTP.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from redis_store.errors import InvalidInputError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from redis_store.observe import Call

#: Histogram buckets in seconds: from 25 µs (a read answered by the local cache) to 10 s
#: (a delete of thousands of manifests).
BUCKETS: Final = (
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(frozen=True)
class Series:
    """claircore's counter and histogram of one Store method, and the labels of a call."""

    counter: str
    histogram: str
    #: The label values of a call (claircore's query name for the method's work).
    labels: Mapping[str, str]
    #: claircore's method name, for the help text.
    method: str


def _indexer(base: str, query: str, method: str, counter: str | None = None) -> Series:
    return Series(
        f"claircore_indexer_{counter or base}_total",
        f"claircore_indexer_{base}_duration_seconds",
        {"query": query},
        method,
    )


#: Store method -> claircore's series and the labels of its calls. ``index_report_json``
#: and ``affected_manifests_batch`` are this store's own methods: they count under the
#: claircore method they answer, with ``query`` values claircore does not use.
CLAIRCORE: Final[Mapping[str, Series]] = {
    "register_scanners": _indexer("registerscanners", "insert", "RegisterScanners"),
    "persist_manifest": _indexer("persistmanifest", "insertManifest", "PersistManifest"),
    "delete_manifests": Series(
        "claircore_indexer_deletemanifests_total",
        "claircore_indexer_deletemanifests_duration_seconds",
        {"action": "deleteManifest"},
        "DeleteManifests",
    ),
    "set_layer_scanned": _indexer("setlayerscanned", "query", "SetLayerScanned"),
    "layer_scanned": _indexer("layerscanned", "selectScanned", "LayerScanned"),
    "set_index_report": _indexer("setindexreport", "query", "SetIndexReport"),
    # claircore's counter is misspelled; its histogram is not
    "set_index_finished": _indexer(
        "setindexfinished", "upsertIndexReport", "SetIndexFinished", "setindexedfinished"
    ),
    "manifest_scanned": _indexer("manifestscanned", "selectScanned", "ManifestScanned"),
    "index_packages": _indexer("indexpackage", "insert_batch", "IndexPackages"),
    "index_distributions": _indexer("indexdistributions", "insert_batch", "IndexDistributions"),
    "index_repositories": _indexer("indexrepositories", "insert_batch", "IndexRepositories"),
    "index_files": _indexer("indexfiles", "insert_batch", "IndexFiles"),
    "packages_by_layer": _indexer("packagesbylayer", "query", "PackagesByLayer"),
    "distributions_by_layer": _indexer("distributionbylayer", "query", "DistributionsByLayer"),
    "repositories_by_layer": _indexer("repositoriesbylayer", "query", "RepositoriesByLayer"),
    "files_by_layer": _indexer("filesbylayer", "query", "FilesByLayer"),
    "index_manifest": _indexer("indexmanifest", "query_batch", "IndexManifest"),
    "index_report": _indexer("indexreport", "query", "IndexReport"),
    "index_report_json": _indexer("indexreport", "json", "IndexReport"),
    "affected_manifests": Series(
        "claircore_datastore_getaffectedmanifests_total",
        "claircore_datastore_getaffectedmanifests_duration_seconds",
        {"query": "query_batch"},
        "AffectedManifests",
    ),
    "affected_manifests_batch": Series(
        "claircore_datastore_getaffectedmanifests_total",
        "claircore_datastore_getaffectedmanifests_duration_seconds",
        {"query": "batch"},
        "AffectedManifests",
    ),
}

#: What the store's own series are called.
ROUND_TRIPS: Final = "redis_store_round_trips_total"
RETRIES: Final = "redis_store_retries_total"
LOCK_WAITS: Final = "redis_store_lock_waits_total"
LOCK_WAIT_SECONDS: Final = "redis_store_lock_wait_seconds_total"
ERRORS: Final = "redis_store_errors_total"
UNDECIDED: Final = "redis_store_undecided_comparisons_total"
#: The local cache's counters (``store.cache_stats()``), by field, then its two gauges.
CACHE_COUNTERS: Final = {
    "hits": "reads answered from process memory",
    "misses": "reads the local cache could not answer",
    "invalidations": "answers dropped because Redis said a key they depend on changed",
    "evictions": "answers dropped to stay within the size limits or past their maximum age",
    "refused": "answers not kept because a key changed while they were being read",
    "flushes": "times every answer was dropped (connection lost, FLUSHDB, failover)",
}
CACHE_GAUGES: Final = {"entries": "answers kept now", "bytes": "bytes of answers kept now"}

#: Methods observed outside the ``operation`` descriptor: only the store's own series.
OWN_METHODS: Final = ("manifest_lock",)


class MethodInstruments:
    """The metric children of one method, made once: a call only increments them."""

    __slots__ = (
        "calls",
        "duration",
        "errors",
        "failed_calls",
        "failed_duration",
        "lock_wait_seconds",
        "lock_waits",
        "name",
        "retries",
        "round_trips",
    )

    def __init__(self, metrics: StoreMetrics, name: str) -> None:
        self.name = name
        series = CLAIRCORE.get(name)
        self.calls: Any = None
        self.duration: Any = None
        self.failed_calls: Any = None
        self.failed_duration: Any = None
        if series is not None:
            counter, histogram = (
                metrics.counters[series.counter],
                metrics.histograms[series.histogram],
            )
            if name == "delete_manifests":  # claircore labels its calls by outcome
                self.calls = counter.labels(**series.labels, success="true")
                self.duration = histogram.labels(**series.labels, success="true")
                self.failed_calls = counter.labels(**series.labels, success="false")
                self.failed_duration = histogram.labels(**series.labels, success="false")
            else:
                self.calls = counter.labels(**series.labels)
                self.duration = histogram.labels(**series.labels)
        self.round_trips = metrics.round_trips.labels(method=name)
        self.retries = metrics.retries.labels(method=name)
        self.lock_waits = metrics.lock_waits.labels(method=name)
        self.lock_wait_seconds = metrics.lock_wait_seconds.labels(method=name)
        self.errors = metrics.errors

    def record(self, call: Call, seconds: float, error: BaseException | None) -> None:
        if error is None:
            if self.calls is not None:
                self.calls.inc()
                self.duration.observe(seconds)
        else:
            if self.failed_calls is not None:
                self.failed_calls.inc()
                self.failed_duration.observe(seconds)
            self.errors.labels(method=self.name, error=type(error).__name__).inc()
        if call.round_trips:
            self.round_trips.inc(call.round_trips)
        if call.retries:
            self.retries.inc(call.retries)
        if call.lock_waits:
            self.lock_waits.inc(call.lock_waits)
            self.lock_wait_seconds.inc(call.waited)


class StoreMetrics:
    """The metrics of every store given one registry (they share the series)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Histogram

        self.registry = registry
        self.counters: dict[str, Any] = {}
        self.histograms: dict[str, Any] = {}
        for series in CLAIRCORE.values():
            labels = [*series.labels, *(["success"] if "action" in series.labels else [])]
            if series.counter not in self.counters:
                self.counters[series.counter] = Counter(
                    series.counter,
                    f"Calls of the {series.method} method (claircore's series; one a call here).",
                    labels,
                    registry=registry,
                )
            if series.histogram not in self.histograms:
                self.histograms[series.histogram] = Histogram(
                    series.histogram,
                    f"Duration of the calls of the {series.method} method.",
                    labels,
                    registry=registry,
                    buckets=BUCKETS,
                )
        self.round_trips = Counter(
            ROUND_TRIPS,
            "Redis round trips made by store calls, by method.",
            ["method"],
            registry=registry,
        )
        self.retries = Counter(
            RETRIES,
            "Writes planned again because a concurrent writer changed the manifest first.",
            ["method"],
            registry=registry,
        )
        self.lock_waits = Counter(
            LOCK_WAITS,
            "Pauses waiting for a manifest lock another owner holds.",
            ["method"],
            registry=registry,
        )
        self.lock_wait_seconds = Counter(
            LOCK_WAIT_SECONDS,
            "Seconds spent waiting for manifest locks.",
            ["method"],
            registry=registry,
        )
        self.errors = Counter(
            ERRORS,
            "Store calls that raised, by method and error class.",
            ["method", "error"],
            registry=registry,
        )
        self.collector = StoresCollector()
        registry.register(self.collector)
        self._methods: dict[str, MethodInstruments] = {}
        self._lock = threading.Lock()
        for name in [*CLAIRCORE, *OWN_METHODS]:  # every series exists from the start, at 0
            self.method(name)

    def method(self, name: str) -> MethodInstruments:
        """The instruments of method ``name`` (made on first use)."""
        found = self._methods.get(name)
        if found is None:
            with self._lock:
                found = self._methods.get(name)
                if found is None:
                    found = self._methods[name] = MethodInstruments(self, name)
        return found

    def attach(self, store: Any) -> None:
        """Report ``store``'s local cache and undecided comparisons at every scrape."""
        self.collector.add(store)


class StoresCollector:
    """What the stores keep counting themselves, read at scrape time: the local cache's
    statistics and the undecided matcher comparisons, summed over the live stores and those
    already gone (so the counters never go down)."""

    def __init__(self) -> None:
        self._stores: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.RLock()  # a store may be retired while collect() runs
        self._retired: Tally[str] = Tally()
        self._retired_undecided: Tally[str] = Tally()

    def add(self, store: Any) -> None:
        with self._lock:
            self._stores.add(store)
        weakref.finalize(store, self._retire, store.cache, store.undecided)

    def _retire(self, cache: Any, undecided: Tally[str]) -> None:
        stats = _cache_counts(cache)
        with self._lock:
            self._retired.update(stats)
            self._retired_undecided.update(dict(undecided))

    def describe(self) -> list[Metric]:
        return []  # not known before the first scrape; the registry then checks nothing

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            counts = Tally(self._retired)
            gauges: Tally[str] = Tally()
            undecided = Tally(self._retired_undecided)
            for store in list(self._stores):
                stats = vars(store.cache_stats())
                for field in CACHE_COUNTERS:
                    counts[field] += stats[field]
                for field in CACHE_GAUGES:
                    gauges[field] += stats[field]
                undecided.update(dict(store.undecided))
        for field, help in CACHE_COUNTERS.items():
            name = f"redis_store_local_cache_{field}"
            family = CounterMetricFamily(name, f"Local cache: {help}.")
            family.add_metric([], counts[field])
            yield family
        for field, help in CACHE_GAUGES.items():
            gauge = GaugeMetricFamily(f"redis_store_local_cache_{field}", f"Local cache: {help}.")
            gauge.add_metric([], gauges[field])
            yield gauge
        family = CounterMetricFamily(
            UNDECIDED.removesuffix("_total"),
            "Matcher comparisons AffectedManifests could not decide (counted as not"
            " affected), by matcher.",
            labels=["matcher"],
        )
        for matcher, n in sorted(undecided.items()):
            family.add_metric([matcher], n)
        yield family


def _cache_counts(cache: Any) -> dict[str, int]:
    if cache is None:
        return {}
    with cache.lock:
        stats = vars(cache.stats)
        return {field: stats[field] for field in CACHE_COUNTERS}


_by_registry: weakref.WeakKeyDictionary[Any, StoreMetrics] = weakref.WeakKeyDictionary()
_by_registry_lock = threading.Lock()


def metrics_for(metrics: Any) -> StoreMetrics | None:
    """The metrics a store reports to for ``metrics=``: None or False (none), a
    ``prometheus_client.CollectorRegistry``, or True (prometheus_client's default registry).
    Stores given the same registry share its series."""
    if metrics is None or metrics is False:
        return None
    if isinstance(metrics, StoreMetrics):
        return metrics
    try:
        import prometheus_client
    except ImportError:
        raise InvalidInputError(
            "metrics= needs prometheus_client: pip install 'redis-store[metrics]'"
        ) from None
    registry = prometheus_client.REGISTRY if metrics is True else metrics
    if not isinstance(registry, prometheus_client.CollectorRegistry):
        raise InvalidInputError(
            f"metrics must be a prometheus_client CollectorRegistry, True or None, not {metrics!r}"
        )
    with _by_registry_lock:
        found = _by_registry.get(registry)
        if found is None:
            try:
                found = _by_registry[registry] = StoreMetrics(registry)
            except ValueError as e:  # the registry already has series of these names
                raise InvalidInputError(f"cannot register the store's metrics: {e}") from None
        return found


__all__ = [
    "BUCKETS",
    "CLAIRCORE",
    "MethodInstruments",
    "Series",
    "StoreMetrics",
    "StoresCollector",
    "metrics_for",
]
