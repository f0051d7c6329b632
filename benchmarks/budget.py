"""The store's own cost per call: each method against a bare round trip of the same shape.

A store call that makes one round trip can cost no less than redis-py sending one command
and reading its reply; what it costs beyond that is the store's own work (checking the
input, building the batch, tracking, decoding). For every read and write of the Store API,
this measures, in one process and on one server, the store's median against the median of
bare redis-py calls of the same shape on a client of their own:

* ``PING`` beside the scanned reads (an answer of a few bytes),
* ``GET`` of the same stored report beside the report reads (the same bytes on the wire),
* ``EVALSHA`` of an empty script beside the scripts (``*_by_layer``, AffectedManifests and
  every write).

The store's overhead is its median minus its round trips times the bare median, in
microseconds and as a share of those round trips. Reads are measured *cold* (the local
cache emptied, untimed, before every call: the call goes to the server and sets up its
tracking) and, for the reads the cache answers, as *hits* (no round trip; the share is then
against one bare round trip). Store and bare calls take turns in blocks of
:data:`BLOCK`, the first alternating, so both see the same machine.

``scripts/budget.py`` prints the table; ``--guard`` (what CI runs, a few seconds) also
checks each call's round trips and that no ratio regressed far past :data:`LIMITS`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from benchmarks.timing import RoundTrips
from redis_store import replay
from redis_store.demo import workload
from redis_store.models import IndexReport, VersionedScanner
from redis_store.store import RedisStore
from redis_store.store.connect import client_from_url

#: Calls each side makes before the other takes over.
BLOCK: Final = 25

#: The namespace the measurement writes (emptied before and after).
NAMESPACE: Final = "budget"


@dataclass
class Case:
    """One store call measured against a bare round trip."""

    name: str
    #: ``PING``, ``GET`` or ``EVALSHA``: the bare call of the same shape.
    shape: str
    #: ``read`` (cold), ``hit`` (answered by the local cache) or ``write``.
    kind: str
    call: Callable[[], Any]
    #: Untimed, before every call (emptying the cache, making what a delete deletes).
    before: Callable[[], Any] | None = None


@dataclass
class Measured:
    """A case's samples: the store's times and round trips, the bare calls' times (ns)."""

    store: list[int] = field(default_factory=list)
    trips: list[int] = field(default_factory=list)
    bare: list[int] = field(default_factory=list)

    def row(self, case: Case) -> dict[str, Any]:
        store_us = statistics.median(self.store) / 1e3
        bare_us = statistics.median(self.bare) / 1e3
        trips = round(statistics.median(self.trips))
        floor_us = max(trips, 1) * bare_us
        overhead = store_us - trips * bare_us
        return {
            "call": case.name,
            "kind": case.kind,
            "shape": case.shape,
            "round_trips": trips,
            "round_trips_max": max(self.trips),
            "samples": len(self.store),
            "store_us": store_us,
            "bare_us": bare_us,
            "overhead_us": overhead,
            # of the round trips the call makes; a hit's is against one round trip
            "overhead_share": overhead / floor_us if floor_us > 0 else None,
            "ratio": store_us / floor_us if floor_us > 0 else None,
        }


class Bare:
    """redis-py calls of each shape, on a client of their own."""

    def __init__(self, url: str, report_key: str) -> None:
        self.client = client_from_url(url)
        self.sha = self.client.script_load("return 0")
        self.report_key = report_key

    def call(self, shape: str) -> Callable[[], Any]:
        client = self.client
        if shape == "PING":
            return lambda: client.ping()
        if shape == "GET":
            key = self.report_key
            return lambda: client.get(key)
        if shape == "EVALSHA":
            sha = self.sha
            return lambda: client.evalsha(sha, 0)
        raise ValueError(shape)

    def close(self) -> None:
        self.client.close()


@dataclass
class Setup:
    """What the cases call with: a small registry indexed through the controller."""

    store: RedisStore
    reports: list[IndexReport]
    #: The manifest the cases read and write: its report as indexed, and as given.
    finished: IndexReport
    original: IndexReport
    spare: Iterator[IndexReport]
    scanners: list[VersionedScanner]


def _empty(store: RedisStore) -> None:
    client = store.client
    keys = list(client.scan_iter(match=f"{NAMESPACE}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])


def prepare(url: str, manifests: int, seed: int = 0) -> Setup:
    """A store on ``url`` (cache on, live) holding ``manifests`` workload manifests."""
    from tests.support.cache import start_cache

    store = RedisStore.from_url(url, namespace=NAMESPACE)
    _empty(store)
    reports = list(workload.generate(manifests, seed))
    scanners: dict[VersionedScanner, None] = {}
    for r in reports:
        for s in replay.plan(r).scanners:
            scanners.setdefault(s, None)
    store.register_scanners(list(scanners))
    start_cache(store)
    finished = [replay.replay(store, r) for r in reports]
    spare = workload.generate(100_000, seed + 1)
    middle = len(reports) // 2
    return Setup(store, reports, finished[middle], reports[middle], spare, list(scanners))


def cases(s: Setup) -> list[Case]:
    """Every read and write of the Store API, on one manifest of the registry."""
    store = s.store
    report = s.finished
    digest = report.hash
    assert digest is not None
    plan = replay.plan(s.original)
    layer = plan.manifest.layers[0]
    found = plan.layers[layer.hash]
    package_scanners = [x for x in s.scanners if x.kind == "package"]
    pkg_scanner = next(iter(found.packages)) if found.packages else package_scanners[0]
    packages = found.packages.get(pkg_scanner, [])
    vuln = workload.sample_vulnerabilities(s.reports, 1, 0)[0]
    dist_scanner, repo_scanner = replay.DISTRIBUTION_SCANNER, replay.REPOSITORY_SCANNER
    clear = store.cache.clear if store.cache is not None else None
    doomed: list[Any] = []

    def make_doomed() -> None:
        r = next(s.spare)
        store.import_report(r)
        doomed.append(r.hash)

    def delete() -> Any:
        return store.delete_manifests(doomed.pop())

    reads: list[tuple[str, str, Callable[[], Any]]] = [
        ("layer_scanned", "PING", lambda: store.layer_scanned(layer, pkg_scanner)),
        ("manifest_scanned", "PING", lambda: store.manifest_scanned(digest, s.scanners)),
        ("index_report", "GET", lambda: store.index_report(digest)),
        ("index_report_json", "GET", lambda: store.index_report_json(digest)),
        ("packages_by_layer", "EVALSHA", lambda: store.packages_by_layer(layer, package_scanners)),
        (
            "distributions_by_layer",
            "EVALSHA",
            lambda: store.distributions_by_layer(layer, [dist_scanner]),
        ),
        (
            "repositories_by_layer",
            "EVALSHA",
            lambda: store.repositories_by_layer(layer, [repo_scanner]),
        ),
        ("affected_manifests", "EVALSHA", lambda: store.affected_manifests(vuln)),
    ]
    out = [Case(name, shape, "read", call, clear) for name, shape, call in reads]
    cached = ("layer_scanned", "manifest_scanned", "index_report", "index_report_json")
    out += [Case(name, "PING", "hit", call) for name, _, call in reads if name in cached]
    writes: list[tuple[str, Callable[[], Any]]] = [
        ("register_scanners", lambda: store.register_scanners(s.scanners)),
        ("persist_manifest", lambda: store.persist_manifest(plan.manifest)),
        ("set_layer_scanned", lambda: store.set_layer_scanned(layer, pkg_scanner)),
        ("index_packages", lambda: store.index_packages(packages, layer, pkg_scanner)),
        (
            "index_distributions",
            lambda: store.index_distributions(found.distributions, layer, dist_scanner),
        ),
        (
            "index_repositories",
            lambda: store.index_repositories(found.repositories, layer, repo_scanner),
        ),
        ("set_index_report", lambda: store.set_index_report(report)),
        ("set_index_finished", lambda: store.set_index_finished(report, plan.scanners)),
        ("index_manifest", lambda: store.index_manifest(report)),
    ]
    out += [Case(name, "EVALSHA", "write", call) for name, call in writes]
    out.append(Case("delete_manifests", "EVALSHA", "write", delete, make_doomed))
    return out


def _block(
    fn: Callable[[], Any], before: Callable[[], Any] | None, n: int, trips: RoundTrips | None
) -> Iterator[tuple[int, int]]:
    clock = time.perf_counter_ns
    for _ in range(n):
        if before is not None:
            before()
        t0 = trips.n if trips is not None else 0
        start = clock()
        fn()
        took = clock() - start
        yield took, (trips.n - t0) if trips is not None else 0


def measure_case(case: Case, bare: Bare, samples: int, trips: RoundTrips) -> Measured:
    """``samples`` store calls and as many bare ones, in alternating blocks."""
    out = Measured()
    bare_call = bare.call(case.shape)
    for b, first in enumerate(range(0, samples, BLOCK)):
        n = min(BLOCK, samples - first)
        sides = ("store", "bare") if b % 2 == 0 else ("bare", "store")
        for side in sides:
            if side == "store":
                for took, rt in _block(case.call, case.before, n, trips):
                    out.store.append(took)
                    out.trips.append(rt)
            else:
                out.bare += [took for took, _ in _block(bare_call, None, n, None)]
    return out


def measure(
    url: str,
    *,
    samples: int = 1000,
    manifests: int = 20,
    only: Sequence[str] = (),
) -> dict[str, Any]:
    """The per-call budget on ``url``: one row per case (see the module's docstring)."""
    setup = prepare(url, manifests)
    store = setup.store
    digest = setup.finished.hash
    assert digest is not None
    bare = Bare(url, store.keys.report(digest))
    trips = RoundTrips()
    rows = []
    try:
        with trips.counting():
            for case in cases(setup):
                if only and case.name not in only:
                    continue
                for _ in range(2):  # warm: connections, scripts, the listener
                    if case.before is not None:
                        case.before()
                    case.call()
                rows.append(measure_case(case, bare, samples, trips).row(case))
    finally:
        bare.close()
        _empty(store)
        store.close()
    return {"samples": samples, "manifests": manifests, "rows": rows}


# -- the regression guard -------------------------------------------------------------------

#: Round trips each case makes (one server, the cache on): the guard fails on any other.
ROUND_TRIPS: Final = {
    ("read", "layer_scanned"): 1,
    ("read", "manifest_scanned"): 1,
    ("read", "index_report"): 1,
    ("read", "index_report_json"): 1,
    ("read", "packages_by_layer"): 1,
    ("read", "distributions_by_layer"): 1,
    ("read", "repositories_by_layer"): 1,
    ("read", "affected_manifests"): 2,
    ("hit", "layer_scanned"): 0,
    ("hit", "manifest_scanned"): 0,
    ("hit", "index_report"): 0,
    ("hit", "index_report_json"): 0,
    ("write", "register_scanners"): 1,
    ("write", "persist_manifest"): 1,
    ("write", "set_layer_scanned"): 1,
    ("write", "index_packages"): 1,
    ("write", "index_distributions"): 1,
    ("write", "index_repositories"): 1,
    ("write", "set_index_report"): 1,
    ("write", "set_index_finished"): 1,
    ("write", "index_manifest"): 1,
    ("write", "delete_manifests"): 1,
}

#: The largest ratio of the store's median to its round trips' bare median the guard lets
#: pass, by kind of call (a hit: to one bare round trip). Each is about twice what this
#: store measures on a loaded 2-CPU machine: it catches a call that got much slower per
#: round trip (a lost shortcut, a second pass over the input), not machine noise. Calls
#: whose cost is mostly their payload (decoding a report's packages, writing a layer's
#: packages or a manifest's records) are held to their round trips only.
LIMITS: Final = {"read": 2.5, "hit": 0.5, "write": 4.0}
#: Calls held to their round trips only.
PAYLOAD_BOUND: Final = frozenset(
    {
        ("read", "packages_by_layer"),
        ("read", "affected_manifests"),
        ("write", "index_packages"),
        ("write", "set_index_report"),
        ("write", "set_index_finished"),
        ("write", "index_manifest"),
        ("write", "delete_manifests"),
    }
)


def guard(result: dict[str, Any]) -> list[str]:
    """What regressed: a call making other round trips than :data:`ROUND_TRIPS`, or a ratio
    above :data:`LIMITS` (empty: nothing)."""
    problems = []
    for row in result["rows"]:
        key = (row["kind"], row["call"])
        want = ROUND_TRIPS.get(key)
        if want is not None and row["round_trips_max"] != want:
            problems.append(
                f"{row['call']} ({row['kind']}): {row['round_trips_max']} round trips,"
                f" expected {want}"
            )
        limit = LIMITS[row["kind"]]
        if key not in PAYLOAD_BOUND and row["ratio"] is not None and row["ratio"] > limit:
            problems.append(
                f"{row['call']} ({row['kind']}): {row['ratio']:.2f}x its round trips'"
                f" bare {row['shape']} (at most {limit:g}x)"
            )
    return problems


# -- the table ------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> list[str]:
    """The budget table (one line per call, reads first)."""
    lines = [
        "| call | round trips | store median | bare round trip | overhead | share |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    label = {"read": "cold", "hit": "cache hit", "write": "write"}
    for row in result["rows"]:
        share = row["overhead_share"]
        lines.append(
            f"| {row['call']} ({label[row['kind']]}) | {row['round_trips']} |"
            f" {row['store_us']:.1f} µs | {row['bare_us']:.1f} µs ({row['shape']}) |"
            f" {row['overhead_us']:.1f} µs | {'-' if share is None else f'{share:.0%}'} |"
        )
    return lines


__all__ = ["LIMITS", "ROUND_TRIPS", "Case", "guard", "markdown", "measure"]
