"""The measurement: the stores through the same calls, side by side, in one run.

Each store runs on its own private server; the harness drives them in turn, call for call.
The contestants: ``redis`` (the Redis store with its local cache on, as it ships),
``redis-nocache`` (the same store with ``local_cache=False``, on a second private server)
and ``postgres`` (claircore's schema and statements, :mod:`benchmarks.postgres`).

1. register every scanner of the workload once (what ``libindex.New`` does);
2. replay claircore's controller call sequence (:func:`redis_store.replay.replay`) for every
   manifest of ``workload.generate(N, seed)``, manifest by manifest, alternating which store
   goes first, timing each store call through a proxy (the same proxy for every store);
3. Redis memory (``INFO memory`` delta across the indexing, ``MEMORY USAGE`` by key family;
   on a Redis Cluster, for each primary);
4. the read paths over one sample of manifests and layers: ``index_report`` (as returned,
   and fully decoded), ``index_report_json``, ``manifest_scanned``, ``layer_scanned``,
   ``packages_by_layer``. Each store reads each item twice in a row: *cold* (the local cache
   emptied just before; a store without one just reads) and *repeat* (the same item again).
   Every store takes the item back to back (and the Redis floor where one applies: GET +
   ``orjson.loads`` of the same report's JSON beside ``index_report``, GET beside
   ``index_report_json``, PING beside ``layer_scanned``);
5. ``affected_manifests`` one vulnerability at a time over ``workload.sample_vulnerabilities``,
   then batches (Redis: ``affected_manifests_batch``; PostgreSQL: the same number of
   sequential calls, which is what libindex's AffectedManifests does against claircore);
6. PostgreSQL storage: ``pg_total_relation_size`` of every table after ``VACUUM FULL``;
7. ``delete_manifests`` of 10% of the manifests, one digest per call;
8. the rest of the floor: pipelines of SADDs;
9. polling (:mod:`benchmarks.polling`): reader processes poll ``index_report`` and
   ``manifest_scanned`` while one process indexes new manifests, for the Redis store (cache
   on) and PostgreSQL;
10. cross-process staleness of the local cache (``scripts/staleness.py``'s ``measure``).

Taking turns in short blocks makes each ratio hold on a noisy machine: every store sees the
same machine state (on this project's 2-vCPU VM, a round trip costs 35 or 80+ microseconds
depending on scheduling, for minutes at a time). Redis round trips are counted at the
connection, as ``tests/test_round_trips.py`` does. Then the stores' answers are compared.

The Redis stores run on one server each or (``--redis-topology cluster``) on private Redis
Clusters; the contestants are called ``redis`` and ``redis-nocache`` either way, and the
run's ``meta`` says which.
"""

from __future__ import annotations

import gc
import hashlib
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TextIO, TypeVar

import orjson
import redis

from benchmarks.timing import OpSamples, Recorder, RoundTrips, Timed
from redis_store import replay
from redis_store.cli.progress import Progress
from redis_store.demo import workload
from redis_store.keys import KeyLayout
from redis_store.models import (
    IndexReport,
    Package,
    VersionedScanner,
    distribution_identity,
    package_identity,
    repository_identity,
)
from redis_store.ops.nodes import primaries, used_memory
from redis_store.store import RedisStore
from redis_store.store.connect import client_from_url

STORES = ("redis", "redis-nocache", "postgres")

#: The Redis contestants: the local cache on (as the store ships), and off.
REDIS_STORES = ("redis", "redis-nocache")

#: Where the Redis store runs: one server, or a Redis Cluster.
TOPOLOGIES = ("single", "cluster")

#: Reads measured after indexing, in table order; each read cold, then repeated.
READ_OPS = (
    "index_report",
    "index_report_json",
    "manifest_scanned",
    "layer_scanned",
    "packages_by_layer",
)

#: The two readings of one item: the first after the local cache was emptied, then again.
READINGS = ("cold", "repeat")

#: Items whose index_report_json answers are compared across stores (each is decoded).
JSON_COMPARED = 200


class BenchError(Exception):
    """The benchmark cannot run or found the stores disagreeing; one line for the user."""


# -- the workload -------------------------------------------------------------------------------


@dataclass
class Workload:
    """The reports of one run, and the samples every store is measured on."""

    manifests: int
    seed: int
    digests: list[str]
    scanners: list[VersionedScanner]
    kept: dict[int, IndexReport]
    read_sample: list[int]
    delete_sample: list[int]
    vulnerabilities: list[Any]
    stats: dict[str, Any]
    materialized: list[IndexReport] | None

    def reports(self) -> Iterator[IndexReport]:
        if self.materialized is not None:
            return iter(self.materialized)
        return workload.generate(self.manifests, self.seed)


def _scanners_of(reports: Iterable[IndexReport], found: dict[VersionedScanner, None]) -> None:
    """The scanners replay derives (package detectors in order, then the fixed two)."""
    for r in reports:
        for p in (r.packages or {}).values():
            det = p.detector
            s = (
                VersionedScanner(det.name, det.version, det.kind)
                if det
                else replay.DEFAULT_PACKAGE_SCANNER
            )
            found.setdefault(s, None)


def workload_scanners(reports: Iterable[IndexReport]) -> list[VersionedScanner]:
    """Every scanner replay uses for ``reports`` (what the indexer registers up front)."""
    found: dict[VersionedScanner, None] = {}
    _scanners_of(reports, found)
    found.setdefault(replay.DISTRIBUTION_SCANNER, None)
    found.setdefault(replay.REPOSITORY_SCANNER, None)
    return list(found)


def prepare_workload(
    manifests: int,
    seed: int,
    *,
    vulnerabilities: int,
    reads: int,
    materialize_up_to: int = 20_000,
    vulnerability_pool: int = 10_000,
    progress: Progress | None = None,
) -> Workload:
    """Generate (or stream) the reports and draw the seeded samples."""
    rng = random.Random(f"bench {seed} {manifests}")
    read_sample = rng.sample(range(manifests), min(reads, manifests))
    delete_sample = sorted(rng.sample(range(manifests), manifests // 10))
    keep = set(read_sample)
    materialized: list[IndexReport] | None = [] if manifests <= materialize_up_to else None
    kept: dict[int, IndexReport] = {}
    pool: list[IndexReport] = []
    digests: list[str] = []
    found: dict[VersionedScanner, None] = {}
    for i, r in enumerate(workload.generate(manifests, seed)):
        digests.append(str(r.hash))
        _scanners_of([r], found)
        if materialized is not None:
            materialized.append(r)
        if i in keep:
            kept[i] = r
        if i < vulnerability_pool:
            pool.append(r)
        if progress is not None:
            progress.update("generating", i + 1, manifests)
    if progress is not None:
        progress.clear()
    found.setdefault(replay.DISTRIBUTION_SCANNER, None)
    found.setdefault(replay.REPOSITORY_SCANNER, None)
    stats = workload.describe(materialized if materialized is not None else pool).as_dict()
    if materialized is None:
        stats["note"] = f"statistics of the first {len(pool)} manifests"
    vulns = workload.sample_vulnerabilities(pool, vulnerabilities, seed)
    return Workload(
        manifests=manifests,
        seed=seed,
        digests=digests,
        scanners=list(found),
        kept=kept,
        read_sample=read_sample,
        delete_sample=delete_sample,
        vulnerabilities=vulns,
        stats=stats,
        materialized=materialized,
    )


# -- canonical answers (IDs differ between stores) ----------------------------------------------


def _pkg_key(p: Package | None) -> tuple[Any, ...] | None:
    if p is None:
        return None
    return (
        package_identity(p),
        p.normalized_version.text,
        p.detector.urn if p.detector else None,
        package_identity(p.source) if p.source is not None else None,
        p.source.normalized_version.text if p.source is not None else None,
    )


def canonical_report(r: IndexReport | None) -> str:
    """A digest of the report's content with store-assigned IDs replaced by identities."""
    if r is None:
        return "none"
    dists = {k: distribution_identity(d) for k, d in (r.distributions or {}).items()}
    repos = {k: (repository_identity(x), x.cpe) for k, x in (r.repositories or {}).items()}
    rows = []
    for p in (r.packages or {}).values():
        for e in (r.environments or {}).get(p.id) or ():
            rows.append(
                (
                    _pkg_key(p),
                    e.package_db,
                    str(e.introduced_in),
                    dists.get(e.distribution_id),
                    None
                    if e.repository_ids is None
                    else tuple(repos.get(x) for x in e.repository_ids),
                )
            )
    doc = (
        str(r.hash),
        r.state,
        r.success,
        r.err,
        sorted(map(repr, rows)),
        sorted(map(repr, dists.values())),
        sorted(map(repr, repos.values())),
    )
    return hashlib.sha256(repr(doc).encode()).hexdigest()


def canonical_packages(pkgs: Iterable[Package]) -> str:
    rows = sorted(repr((_pkg_key(p), p.package_db, p.repository_hint, p.filepath)) for p in pkgs)
    return hashlib.sha256(repr(rows).encode()).hexdigest()


# -- one store ----------------------------------------------------------------------------------


def redis_family(key: str, namespace: str) -> str:
    """``ns:{m:<digest>}:report`` -> ``manifest:report`` (the store's own grouping)."""
    return KeyLayout(namespace).family(key)


class Contestant:
    """One store under measurement: its timings, answers and results."""

    name = ""

    def __init__(self, store: Any, trips: RoundTrips | None) -> None:
        self.store = store
        self.recorder = Recorder(trips)
        self.timed = Timed(store, self.recorder, "index.")
        self.result: dict[str, Any] = {"store": self.name}
        self.answers: dict[str, Any] = {}
        self.per_manifest: list[float] = []
        self.batches = 1

    def time(self, op: str, fn: Callable[..., Any], *args: Any) -> Any:
        return self.recorder.time(op, fn, *args)

    def forget(self) -> None:
        """Empty the store's local cache, if it has one (untimed: before a cold read)."""

    def before_index(self) -> None:
        """Called once the scanners are registered, before the first manifest."""

    def settle(self) -> None:
        """Finish background work before a measured phase (untimed)."""

    def after_index(self, manifests: int) -> None:
        """Called when every store has indexed every manifest."""

    def before_delete(self, manifests: int) -> None:
        """Called before the deletes (PostgreSQL measures its storage here)."""

    def after_read(self) -> None:
        """Called after the read phase."""

    def close(self) -> None:
        self.store.close()


class RedisContestant(Contestant):
    name = "redis"

    def __init__(
        self,
        url: str,
        trips: RoundTrips,
        namespace: str = "bench",
        *,
        name: str = "redis",
        local_cache: bool = True,
        shared_server: bool = False,
    ) -> None:
        self.name = name
        store = RedisStore(client_from_url(url), namespace=namespace, local_cache=local_cache)
        super().__init__(store, trips)
        #: a client of its own (a cluster client on a cluster) for memory and settling
        self.client = client_from_url(url)
        self.namespace = namespace
        self.url = url
        self.used_before: dict[str, int] = {}
        #: another contestant writes to the same server: INFO deltas hold both stores' data
        self.shared_server = shared_server
        self.result["local_cache"] = local_cache

    def forget(self) -> None:
        cache = self.store.cache
        if cache is not None:
            cache.clear()

    def cache_result(self, when: str) -> None:
        """Record what the local cache did so far, and its state, under ``cache.<when>``."""
        state = self.store.local_cache
        stats = vars(self.store.cache_stats())
        out = self.result.setdefault("cache", {})
        out[when] = {"state": state.state, "reason": state.reason, **stats}

    def before_index(self) -> None:
        from tests.support.cache import start_cache

        self.used_before = used_memory(self.client)
        # the listener starts on the first cacheable read otherwise: indexing runs with the
        # cache live from the first manifest
        start_cache(self.store)

    def after_read(self) -> None:
        self.cache_result("after_reads")

    def settle(self, timeout: float = 600.0) -> None:
        """Rewrite the AOF of every primary now and wait for it, so that no rewrite (a forked
        child competing with the servers for CPU) starts during the next measurements."""
        deadline = time.monotonic() + timeout
        nodes = [node for _, node in primaries(self.client)]

        def busy() -> bool:
            for node in nodes:
                info = node.info("persistence")
                if (
                    info.get("aof_rewrite_in_progress")
                    or info.get("aof_rewrite_scheduled")
                    or info.get("rdb_bgsave_in_progress")
                ):
                    return True
            return False

        while busy() and time.monotonic() < deadline:
            time.sleep(0.2)
        for node in nodes:
            with suppress(redis.ResponseError):
                node.bgrewriteaof()
        time.sleep(0.2)
        while busy() and time.monotonic() < deadline:
            time.sleep(0.2)

    def before_delete(self, manifests: int) -> None:
        self.settle()

    def after_index(self, manifests: int) -> None:
        self.cache_result("after_index")
        self.settle()
        after = used_memory(self.client)
        usage: Counter[str] = Counter()
        count: Counter[str] = Counter()
        per_node: dict[str, dict[str, Any]] = {}
        for name, node in primaries(self.client):  # one server, or each primary
            node_usage, keys = self._memory_usage(node)
            usage.update(node_usage)
            count.update(keys)
            before = self.used_before.get(name, 0)
            per_node[name] = {
                "used_memory_before": before,
                "used_memory_after": after[name],
                "info_delta_bytes": after[name] - before,
                "memory_usage_bytes": sum(node_usage.values()),
                "keys": sum(keys.values()),
                "families": {f: {"keys": keys[f], "bytes": b} for f, b in node_usage.most_common()},
            }
        total = sum(usage.values())
        before_all, after_all = sum(self.used_before.values()), sum(after.values())
        self.result["memory"] = {
            "used_memory_before": before_all,
            "used_memory_after": after_all,
            "info_delta_bytes": after_all - before_all,
            "info_delta_per_manifest": (after_all - before_all) / manifests,
            "memory_usage_bytes": total,
            "memory_usage_per_manifest": total / manifests,
            "keys": sum(count.values()),
            "families": {
                f: {"keys": count[f], "bytes": usage[f], "per_manifest": usage[f] / manifests}
                for f, _ in usage.most_common()
            },
            "primaries": per_node,
            "server_shared": self.shared_server,
        }

    def _memory_usage(self, node: Any) -> tuple[Counter[str], Counter[str]]:
        """``MEMORY USAGE`` bytes and key counts by key family of one node's keys."""
        usage: Counter[str] = Counter()
        count: Counter[str] = Counter()
        keys = list(node.scan_iter(match=self.namespace + ":*", count=2000))
        for i in range(0, len(keys), 1000):
            chunk = keys[i : i + 1000]
            pipe = node.pipeline(transaction=False)
            for k in chunk:
                pipe.memory_usage(k, samples=0)
            for k, size in zip(chunk, pipe.execute(), strict=True):
                fam = redis_family(k.decode(), self.namespace)
                usage[fam] += int(size or 0)
                count[fam] += 1
        return usage, count

    def close(self) -> None:
        self.cache_result("at_end")
        self.store.close()
        self.client.close()


class PostgresContestant(Contestant):
    name = "postgres"

    def __init__(self, dsn: str) -> None:
        from benchmarks.postgres import PostgresStore

        super().__init__(PostgresStore(dsn), None)

    def after_index(self, manifests: int) -> None:
        # what autovacuum would do in the next minutes (vacuum, statistics) and a checkpoint,
        # now, untimed: otherwise they share the servers' CPU with the read phase
        self.store.settle()

    def before_delete(self, manifests: int) -> None:
        before = self.store.storage(vacuum_full=False)
        after = self.store.storage(vacuum_full=True)
        self.store.settle()
        total = sum(after.values())
        self.result["storage"] = {
            "total_bytes_before_vacuum": sum(before.values()),
            "total_bytes": total,
            "per_manifest": total / manifests,
            "per_manifest_before_vacuum": sum(before.values()) / manifests,
            "tables": {
                t: {"bytes": b, "per_manifest": b / manifests}
                for t, b in sorted(after.items(), key=lambda kv: -kv[1])
            },
        }


class Floor:
    """Raw redis-py round trips on the Redis server, timed beside the stores' calls."""

    GET = "floor: GET + orjson.loads (report JSON)"
    GET_RAW = "floor: GET (report JSON)"
    PING = "floor: PING"
    PING_LOOP = "floor: PING, back to back (warm loop)"
    PIPE = 100
    SADD = f"floor: pipelined {PIPE} SADDs"

    def __init__(self, url: str) -> None:
        self.client = client_from_url(url)  # on a cluster, PING goes to one node
        self.recorder = Recorder(None)

    def load(self, reports: Sequence[IndexReport]) -> list[str]:
        """Store the claircore JSON of ``reports`` under keys of their own."""
        keys = []
        for j, r in enumerate(reports):
            key = f"floor:report:{j}"
            self.client.set(key, r.to_json())
            keys.append(key)
        return keys

    def get_decode(self, key: str) -> Any:
        return orjson.loads(self.client.get(key))

    def get(self, key: str) -> Any:
        return self.client.get(key)

    def sadds(self, j: int) -> Any:
        pipe = self.client.pipeline(transaction=False)
        for m in range(self.PIPE):
            pipe.sadd(f"floor:set:{j % 64}", m + j * self.PIPE)
        return pipe.execute()

    def close(self) -> dict[str, Any]:
        for k in self.client.scan_iter(match="floor:*", count=1000):
            self.client.delete(k)
        self.client.close()
        return {k: v.summary() for k, v in self.recorder.ops.items()}


T = TypeVar("T")


def _rotate(items: Sequence[T], k: int) -> list[T]:
    """``items`` starting at position ``k``: who goes first alternates call by call."""
    if not items:
        return []
    k %= len(items)
    return [*items[k:], *items[:k]]


#: One participant's turn at one item: a call that times itself (its recorder and operation
#: are bound in), returning what it read.
Call = Callable[[], Any]


#: Calls made on one store before the next store takes over, in the interleaved phases.
BLOCK = 25


def _interleaved(
    what: str, rounds: Sequence[Sequence[Call]], progress: Progress, block: int = BLOCK
) -> list[list[Any]]:
    """Run the rounds in blocks: each store (or floor) takes the block's calls in turn, the
    first one alternating block by block; returns the results per round.

    Blocks keep a server busy for a few milliseconds, as a loop of calls would, while the
    stores still take turns far more often than the machine's state changes.
    """
    out: list[list[Any]] = [[None] * len(calls) for calls in rounds]
    done = 0
    for b, first in enumerate(range(0, len(rounds), block)):
        part = range(first, min(first + block, len(rounds)))
        width = len(rounds[first])
        for i in _rotate(list(range(width)), b):
            for j in part:
                out[j][i] = rounds[j][i]()
        done += len(part)
        progress.update(what, done, len(rounds))
    progress.clear()
    return out


def _timed(c: Contestant, op: str, fn: Callable[..., Any], *args: Any) -> Call:
    """One timed call of a contestant, as a round's call."""
    return partial(c.time, op, fn, *args)


def _cold_and_repeat(
    c: Contestant, op: str, fn: Callable[..., Any], *args: Any, label: str = ""
) -> tuple[Any, Any]:
    """Read one item twice: cold (the local cache emptied first, untimed), then again;
    recorded as ``op (cold<label>)`` and ``op (repeat<label>)``."""
    c.forget()
    first = c.time(f"{op} (cold{label})", fn, *args)
    again = c.time(f"{op} (repeat{label})", fn, *args)
    return first, again


def read_decoded(store: Any, digest: Any) -> IndexReport | None:
    """``index_report`` with every field decoded, as a caller that reads the report pays
    (the Redis store returns a report decoded on first attribute access)."""
    report: IndexReport | None = store.index_report(digest)
    if report is not None:
        _ = report.packages  # the first access decodes every field
    return report


def _report_reads(c: Contestant, digest: Any) -> tuple[Any, ...]:
    """index_report cold and repeat as returned, then cold and repeat fully decoded."""
    lazy = _cold_and_repeat(c, "index_report", c.store.index_report, digest)
    decoded = _cold_and_repeat(
        c, "index_report", partial(read_decoded, c.store), digest, label=", decoded"
    )
    return (*lazy, *decoded)


def _pairs(c: Contestant, op: str, fn: Callable[..., Any], *args: Any) -> Call:
    return partial(_cold_and_repeat, c, op, fn, *args)


def _differ(values: Sequence[Any]) -> bool:
    return any(v != values[0] for v in values[1:])


def measure(
    contestants: Sequence[Contestant],
    wl: Workload,
    *,
    floor: Floor | None,
    batch_size: int,
    floor_calls: int,
    progress: Progress,
) -> dict[str, Any] | None:
    """Every phase, with the stores' calls interleaved so that all see the same machine.

    Indexing alternates store by store, manifest by manifest; each read, AffectedManifests
    call and delete is made on every store (and on the floor, where one applies) back to back
    with the first store alternating. Fills each contestant's ``result`` and ``answers``.
    """
    n = wl.manifests
    cs = list(contestants)
    # libindex.New registers every configured scanner once, before any Index call
    for c in cs:
        c.time("register_scanners (once)", c.store.register_scanners, wl.scanners)
        c.before_index()

    # -- indexing: the controller's call sequence, manifest after manifest ----------------
    for i, report in enumerate(wl.reports()):
        for c in _rotate(cs, i):
            t0 = time.perf_counter()
            replay.replay(c.timed, report)
            c.per_manifest.append(time.perf_counter() - t0)
        progress.update("indexing", i + 1, n)
    progress.clear()
    for c in cs:
        total = sum(c.per_manifest)
        reg = sum(c.recorder.ops["index.register_scanners"].seconds)
        c.result["index"] = {
            "manifests": n,
            "seconds": total,
            "manifests_per_second": n / total,
            "per_manifest_ms": OpSamples(c.per_manifest).summary(),
            "register_scanners_seconds": reg,
            "manifests_per_second_without_register_scanners": n / (total - reg),
        }
        c.recorder.ops["end_to_end"] = OpSamples(c.per_manifest)
    for c in cs:
        c.after_index(n)

    # -- read paths: each item cold, then again -------------------------------------------
    sample = [wl.kept[i] for i in wl.read_sample]
    keys = floor.load(sample) if floor is not None else []
    for c in cs:
        c.settle()  # the floor's reports grew the AOF: rewrite it now, not mid-phase
    rounds: list[list[Call]] = []
    for j, r in enumerate(sample):
        calls: list[Call] = [partial(_report_reads, c, r.hash) for c in cs]
        if floor is not None:
            calls.append(partial(floor.recorder.time, Floor.GET, floor.get_decode, keys[j]))
        rounds.append(calls)
    got = _interleaved("index_report", rounds, progress)
    mismatches: list[dict[str, int]] = [{} for _ in cs]
    for i, c in enumerate(cs):
        c.answers["index_report"] = {
            str(r.hash): canonical_report(g[i][0]) for r, g in zip(sample, got, strict=True)
        }
        c.answers["original"] = {str(r.hash): canonical_report(r) for r in sample}
        mismatches[i]["index_report"] = sum(_differ(g[i]) for g in got)
    del got

    rounds = []
    for j, r in enumerate(sample):
        calls = [_pairs(c, "index_report_json", c.store.index_report_json, r.hash) for c in cs]
        if floor is not None:
            calls.append(partial(floor.recorder.time, Floor.GET_RAW, floor.get, keys[j]))
        rounds.append(calls)
    got = _interleaved("index_report_json", rounds, progress)
    for i, c in enumerate(cs):
        c.answers["index_report_json"] = {
            str(r.hash): canonical_report(
                None if g[i][0] is None else IndexReport.from_json(g[i][0])
            )
            for r, g in zip(sample[:JSON_COMPARED], got, strict=False)
        }
        mismatches[i]["index_report_json"] = sum(_differ(g[i]) for g in got)
        c.result.setdefault("reads", {})["index_report_json_missing"] = sum(
            g[i][0] is None for g in got
        )
    del got

    plans = [replay.plan(r) for r in sample]
    rounds = [
        [
            _pairs(c, "manifest_scanned", c.store.manifest_scanned, p.manifest.hash, p.scanners)
            for c in cs
        ]
        for p in plans
    ]
    scanned = _interleaved("manifest_scanned", rounds, progress)

    rng = random.Random(f"bench layers {wl.seed}")
    picks = [(rng.choice(p.manifest.layers), rng.choice(p.scanners)) for p in plans]
    rounds = []
    for layer, s in picks:
        calls = [_pairs(c, "layer_scanned", c.store.layer_scanned, layer, s) for c in cs]
        if floor is not None:
            calls.append(partial(floor.recorder.time, Floor.PING, floor.client.ping))
        rounds.append(calls)
    layer_flags = _interleaved("layer_scanned", rounds, progress)

    layers = list(dict.fromkeys(layer.hash for p in plans for layer in p.manifest.layers))
    layers = layers[: len(sample)]
    pkg_scanners = [s for s in wl.scanners if s.kind == "package"]
    rounds = [
        [_pairs(c, "packages_by_layer", c.store.packages_by_layer, layer, pkg_scanners) for c in cs]
        for layer in layers
    ]
    by_layer = _interleaved("packages_by_layer", rounds, progress)
    for i, c in enumerate(cs):
        c.answers["packages_by_layer"] = {
            str(layer): canonical_packages(g[i][0])
            for layer, g in zip(layers, by_layer, strict=True)
        }
        mismatches[i]["manifest_scanned"] = sum(_differ(g[i]) for g in scanned)
        mismatches[i]["layer_scanned"] = sum(_differ(g[i]) for g in layer_flags)
        mismatches[i]["packages_by_layer"] = sum(_differ(g[i]) for g in by_layer)
        c.result.setdefault("reads", {}).update(
            {
                "manifests": len(sample),
                "manifest_scanned_true": sum(bool(g[i][0]) for g in scanned),
                "layer_scanned_true": sum(bool(g[i][0]) for g in layer_flags),
                "layers": len(layers),
                "package_artifacts": sum(len(g[i][0]) for g in by_layer),
                "index_report_by_size": _by_size(
                    c.recorder.ops["index_report (repeat, decoded)"].seconds, sample
                ),
                # a repeat that answered otherwise than the cold read of the same item
                "repeat_mismatches": mismatches[i],
            }
        )
        c.after_read()

    # -- AffectedManifests ----------------------------------------------------------------
    vulns = wl.vulnerabilities
    rounds = [
        [_timed(c, "affected_manifests", c.store.affected_manifests, v) for c in cs] for v in vulns
    ]
    affected = _interleaved("affected_manifests", rounds, progress)
    batch = vulns[:batch_size]
    label = f"affected_manifests_batch({len(batch)})"
    last: dict[str, Any] = {}
    for k in range(max((c.batches for c in cs), default=0)):
        for c in _rotate(cs, k):
            if k < c.batches:
                last[c.name] = c.time(label, c.store.affected_manifests_batch, batch)
        progress.update(label, k + 1, max(c.batches for c in cs))
    progress.clear()
    for i, c in enumerate(cs):
        answers = [[str(d) for d in g[i]] for g in affected]
        c.answers["affected"] = answers
        result = last.get(c.name)
        c.answers["batch"] = {
            str(d): sorted(ids)
            for d, ids in (result.vulnerable_manifests if result else {}).items()
        }
        c.result["affected"] = {
            "vulnerabilities": len(vulns),
            "manifests_per_vulnerability": sum(map(len, answers)) / len(vulns) if vulns else 0,
            "batch_size": len(batch),
            "batches": c.batches,
            "batch_pairs": sum(len(x) for x in c.answers["batch"].values()),
            "undecided": dict(getattr(c.store, "undecided", {})),
        }

    # -- storage, then deletes --------------------------------------------------------------
    for c in cs:
        c.before_delete(n)
    doomed = [wl.digests[i] for i in wl.delete_sample]
    rounds = [
        [_timed(c, "delete_manifests", c.store.delete_manifests, d) for c in cs] for d in doomed
    ]
    deleted = _interleaved("delete_manifests", rounds, progress)
    for i, c in enumerate(cs):
        c.result["delete"] = {
            "manifests": len(doomed),
            "unexpected_results": sum(
                [str(x) for x in g[i]] != [d] for g, d in zip(deleted, doomed, strict=True)
            ),
            "verified_gone": sum(c.store.index_report(d) is None for d in doomed[:50]),
            "verified_of": min(50, len(doomed)),
        }
        c.result["operations"] = {k: v.summary() for k, v in c.recorder.ops.items()}

    # -- the rest of the floor ------------------------------------------------------------------
    if floor is None:
        return None
    for j in range(floor_calls):
        floor.recorder.time(Floor.PING_LOOP, floor.client.ping)
        progress.update("floor: PING loop", j + 1, floor_calls)
    sadd_rounds = max(floor_calls // 4, 1)
    for j in range(sadd_rounds):
        floor.recorder.time(Floor.SADD, floor.sadds, j)
        progress.update("floor: SADD pipelines", j + 1, sadd_rounds)
    progress.clear()
    out = floor.close()
    sizes = [len(r.to_json()) for r in sample]
    out["report_json_bytes"] = {
        "median": statistics.median(sizes) if sizes else 0,
        "max": max(sizes, default=0),
    }
    return out


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _cpu_split() -> tuple[set[int] | None, set[int] | None]:
    """The client on one CPU, the servers on the others (None, None with fewer than two).

    On a VM, a round trip between processes on different vCPUs costs a cross-CPU wake-up
    (tens of microseconds more than on the same vCPU); left to the scheduler, each server
    lands on either side, and a store's latency would depend on where its server happens
    to run. Pinned, every round trip of every store crosses CPUs the same way.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


@contextmanager
def _affinity(cpus: set[int] | None) -> Iterator[None]:
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _by_size(seconds: list[float], sample: list[IndexReport]) -> list[dict[str, Any]]:
    """index_report medians in three report-size classes (package count terciles)."""
    pairs = sorted(zip((len(r.packages or {}) for r in sample), seconds, strict=True))
    if len(pairs) < 3:
        return []
    out = []
    k = len(pairs) // 3
    for part in (pairs[:k], pairs[k : 2 * k], pairs[2 * k :]):
        out.append(
            {
                "packages_min": part[0][0],
                "packages_max": part[-1][0],
                "calls": len(part),
                "median_ms": statistics.median(s for _, s in part) * 1e3,
            }
        )
    return out


# -- the run ------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_bytes": mem,
        "platform": platform.platform(),
    }


def versions(redis_url: str | None, pg_dsn: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "redis-py": redis.__version__,
        "orjson": orjson.__version__,
    }
    try:
        import hiredis

        out["hiredis"] = getattr(hiredis, "__version__", "installed")
    except ImportError:
        out["hiredis"] = None
    if redis_url is not None:
        c = client_from_url(redis_url)  # on a cluster: one node's, every node is set up alike
        info = c.info("server")
        out["redis"] = info.get("redis_version")
        cfg = c.config_get("append*")
        cfg.update(c.config_get("save"))
        out["redis_settings"] = {
            k: cfg[k] for k in ("appendonly", "appendfsync", "save") if k in cfg
        }
        c.close()
    if pg_dsn is not None:
        import psycopg

        out["psycopg"] = psycopg.__version__
        out["libpq"] = psycopg.pq.version()
        with psycopg.connect(pg_dsn) as conn:
            row = conn.execute("SELECT version()").fetchone()
            out["postgresql"] = row[0] if row else None
            settings = {}
            for s in (
                "fsync",
                "synchronous_commit",
                "shared_buffers",
                "wal_level",
                "full_page_writes",
            ):
                r = conn.execute(f"SHOW {s}").fetchone()
                settings[s] = r[0] if r else None
            out["postgresql_settings"] = settings
    return out


def _compare_pair(r: dict[str, Any], p: dict[str, Any], wl: Workload) -> dict[str, Any]:
    """Does one Redis store answer as PostgreSQL does?"""
    diff_reports = [
        d for d in r["index_report"] if r["index_report"][d] != p["index_report"].get(d)
    ]
    vs_original = [d for d in p["index_report"] if p["index_report"][d] != p["original"][d]]
    diff_json = [
        d
        for d in r["index_report_json"]
        if r["index_report_json"][d] != p["index_report_json"].get(d)
    ]
    diff_layers = [
        x
        for x in r["packages_by_layer"]
        if r["packages_by_layer"][x] != p["packages_by_layer"].get(x)
    ]
    diff_aff = [
        i for i, (a, b) in enumerate(zip(r["affected"], p["affected"], strict=True)) if a != b
    ]
    out: dict[str, Any] = {
        "index_report_compared": len(r["index_report"]),
        "index_report_mismatches": len(diff_reports),
        "index_report_mismatch_examples": diff_reports[:5],
        "postgres_vs_workload_report_mismatches": len(vs_original),
        "index_report_json_compared": len(r["index_report_json"]),
        "index_report_json_mismatches": len(diff_json),
        "packages_by_layer_compared": len(r["packages_by_layer"]),
        "packages_by_layer_mismatches": len(diff_layers),
        "affected_compared": len(r["affected"]),
        "affected_mismatches": len(diff_aff),
        "affected_mismatch_examples": [
            {
                "vulnerability": wl.vulnerabilities[i].to_json().decode(),
                "redis": r["affected"][i],
                "postgres": p["affected"][i],
            }
            for i in diff_aff[:3]
        ],
        "affected_batch_equal": r["batch"] == p["batch"],
    }
    out["all_equal"] = (
        not diff_reports
        and not diff_json
        and not diff_layers
        and not diff_aff
        and out["affected_batch_equal"]
    )
    return out


def compare(
    answers: dict[str, dict[str, Any]], wl: Workload, results: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Do the stores answer alike (and like the workload's own reports), and does each
    answer a repeated read as it answered the first?

    The top level compares ``redis`` with ``postgres`` (as earlier rounds did); the cache-off
    store's comparison is under ``redis-nocache``; ``all_equal`` covers both, and the
    repeats of every store."""
    out: dict[str, Any] = {}
    p = answers.get("postgres")
    if p is None:
        return out
    pairs = {name: _compare_pair(answers[name], p, wl) for name in REDIS_STORES if name in answers}
    if not pairs:
        return out
    out.update(pairs.get("redis", {}))
    out.update({name: v for name, v in pairs.items() if name != "redis"})
    repeats = {
        name: sum((res.get("reads", {}).get("repeat_mismatches") or {}).values())
        for name, res in results.items()
    }
    out["repeat_mismatches"] = repeats
    out["all_equal"] = all(v["all_equal"] for v in pairs.values()) and not any(repeats.values())
    return out


@dataclass
class Options:
    manifests: int
    seed: int = 0
    vulnerabilities: int = 1000
    reads: int = 2000
    batch_size: int = 1000
    batches: int = 3
    postgres_batches: int = 1
    floor_calls: int = 2000
    stores: tuple[str, ...] = STORES
    out: Path = Path("bench-results")
    redis_url: str | None = None
    postgres_dsn: str | None = None
    #: ``single`` (one redis-server) or ``cluster`` (a Redis Cluster of ``cluster_masters``)
    redis_topology: str = "single"
    cluster_masters: int = 3
    install: bool = False
    pin: bool = True
    chart: bool = True
    progress: bool | None = None
    #: seconds of each polling run (0: no polling phase)
    poll_seconds: float = 10.0
    #: reader processes of the polling runs, one run per count (0: the indexer alone)
    poll_readers: tuple[int, ...] = (0, 1, 2, 4)
    #: whether polling readers decode the reports they read (touch every field)
    poll_decode: bool = False
    #: writes per staleness measurement (0: none)
    staleness_writes: int = 500
    #: a results file to compare the cache-off store with (None: the built-in figures)
    previous: Path | None = None
    #: extra meta (set by the command line)
    notes: dict[str, Any] = field(default_factory=dict)


def _redis_contestants(
    opts: Options,
    stack: ExitStack,
    first_url: str | None,
    trips: RoundTrips,
    server_cpus: set[int] | None,
) -> dict[str, RedisContestant]:
    """The Redis contestants asked for. The first runs on the server the run started (or
    ``--redis-url``); the second on a private server (cluster) of its own, so that each
    store's memory is its own, or with ``--redis-url`` on the same one under its own
    namespace (the INFO memory deltas then hold both stores' data)."""
    from tests.support.servers import start_cluster, start_redis

    out: dict[str, RedisContestant] = {}
    wanted = [s for s in REDIS_STORES if s in opts.stores]
    for k, name in enumerate(wanted):
        url, namespace, shared = first_url, "bench", False
        if k > 0:
            if opts.redis_url is not None:
                url, namespace, shared = opts.redis_url, f"bench-{name}", True
                out[wanted[0]].shared_server = True
            elif opts.redis_topology == "cluster":
                second_cluster = start_cluster(
                    opts.cluster_masters, 0, aof=True, stop_timeout=30.0, cpus=server_cpus
                )
                stack.callback(second_cluster.stop)
                url = second_cluster.url
            else:
                server = start_redis(aof=True, timeout=20.0, stop_timeout=30.0, cpus=server_cpus)
                stack.callback(server.stop)
                url = server.url
        assert url is not None
        c = RedisContestant(
            url,
            trips,
            namespace,
            name=name,
            local_cache=name == "redis",
            shared_server=shared,
        )
        c.batches = opts.batches
        out[name] = c
    return out


def _guarded(what: str, progress: Progress, fn: Callable[[], Any]) -> Any:
    """An added phase that fails leaves its error in the results, not a lost run."""
    try:
        return fn()
    except Exception as e:
        progress.clear()
        progress.note(f"{what} failed: {type(e).__name__}: {e}")
        return {"error": f"{type(e).__name__}: {e}"}


def staleness(url: str, writes: int) -> dict[str, Any]:
    """``scripts/staleness.py``'s measurement for both reads it knows, on ``url``."""
    from scripts.staleness import measure as measure_staleness

    return {
        read: measure_staleness(url, writes, read)
        for read in ("index_report_json", "manifest_scanned")
    }


def run(opts: Options, *, log: TextIO | None = None) -> dict[str, Any]:
    """One benchmark at one N: start servers, measure every store, write the result files."""
    from benchmarks import polling, previous, report
    from tests.support.servers import servers

    log = log or sys.stderr
    progress = Progress(log, enabled=opts.progress)
    if "postgres" in opts.stores:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise BenchError(
                "the PostgreSQL baseline needs psycopg: pip install 'redis-store[bench]'"
            ) from None
    before = None
    if "redis-nocache" in opts.stores:
        before = previous.figures(opts.redis_topology, opts.manifests, opts.previous)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_run = time.perf_counter()
    progress.note(f"N={opts.manifests}: generating the workload (seed {opts.seed})")
    wl = prepare_workload(
        opts.manifests,
        opts.seed,
        vulnerabilities=opts.vulnerabilities,
        reads=opts.reads,
        progress=progress,
    )
    # The workload stays in memory for the whole run: keep the collector off it, so that
    # full collections do not charge decode-heavy calls for scanning millions of objects.
    gc.collect()
    gc.freeze()
    client_cpus, server_cpus = _cpu_split() if opts.pin else (None, None)
    need_redis = any(s in opts.stores for s in REDIS_STORES) and opts.redis_url is None
    need_pg = "postgres" in opts.stores and opts.postgres_dsn is None
    results: dict[str, Any] = {}
    answers: dict[str, dict[str, Any]] = {}
    floor: dict[str, Any] | None = None
    polled: dict[str, Any] | None = None
    stale: dict[str, Any] | None = None
    affinity_before = os.sched_getaffinity(0) if client_cpus else None
    cluster = opts.redis_topology == "cluster"
    with ExitStack() as stack:
        srv = stack.enter_context(
            servers(
                postgres=need_pg,
                redis=need_redis,
                install=opts.install,
                cpus=server_cpus,
                cluster_masters=opts.cluster_masters if cluster else 0,
            )
        )
        first_url = opts.redis_url or srv.redis_url
        pg_dsn = opts.postgres_dsn or (srv.postgres.dsn if srv.postgres else None)
        trips = RoundTrips()
        redis_cs = _redis_contestants(opts, stack, first_url, trips, server_cpus)
        stack.enter_context(_affinity(client_cpus))
        contestants: list[Contestant] = []
        floor_probe: Floor | None = None
        try:
            for name in opts.stores:
                if name in redis_cs:
                    contestants.append(redis_cs[name])
                else:
                    assert pg_dsn is not None
                    c: Contestant = PostgresContestant(pg_dsn)
                    c.batches = opts.postgres_batches
                    contestants.append(c)
            if first_url is not None:
                floor_probe = Floor(first_url)
            progress.note(
                f"N={opts.manifests}: {', '.join(opts.stores)} side by side"
                f"{' with the Redis floor' if floor_probe else ''}"
            )
            with trips.counting() if redis_cs else _nothing():
                floor = measure(
                    contestants,
                    wl,
                    floor=floor_probe,
                    batch_size=opts.batch_size,
                    floor_calls=opts.floor_calls,
                    progress=progress,
                )
        finally:
            for c in contestants:
                c.close()
        for c in contestants:
            results[c.name] = c.result
            answers[c.name] = c.answers
        redis_url = redis_cs["redis"].url if "redis" in redis_cs else None

        # -- polling, then staleness (each store closed: these run in processes of their own)
        targets = []
        if redis_url is not None:
            targets.append(polling.Target("redis", redis_url, "bench"))
        if pg_dsn is not None:
            targets.append(polling.Target("postgres", pg_dsn))
        if opts.poll_seconds > 0 and opts.poll_readers and targets:
            doomed = set(wl.delete_sample)
            indexed = [d for i, d in enumerate(wl.digests) if i not in doomed]
            settings = polling.PollOptions(
                seconds=opts.poll_seconds,
                readers=opts.poll_readers,
                decode=opts.poll_decode,
                seed=opts.seed,
            )
            polled = _guarded(
                "polling",
                progress,
                lambda: polling.run(targets, indexed, wl.scanners, settings, progress),
            )
        if opts.staleness_writes > 0 and redis_url is not None:
            url = redis_url
            progress.note(f"staleness: {opts.staleness_writes} writes per read")
            stale = _guarded("staleness", progress, lambda: staleness(url, opts.staleness_writes))
        vers = versions(first_url, pg_dsn)
    gc.unfreeze()
    doc: dict[str, Any] = {
        "meta": {
            "manifests": opts.manifests,
            "seed": opts.seed,
            "vulnerabilities": len(wl.vulnerabilities),
            "reads": len(wl.read_sample),
            "deletes": len(wl.delete_sample),
            "batch_size": opts.batch_size,
            "batches": opts.batches,
            "postgres_batches": opts.postgres_batches,
            "stores": list(opts.stores),
            "redis_topology": opts.redis_topology,
            "cluster_masters": opts.cluster_masters if cluster else None,
            "poll_seconds": opts.poll_seconds,
            "poll_readers": list(opts.poll_readers),
            "poll_decode": opts.poll_decode,
            "staleness_writes": opts.staleness_writes,
            "started": started,
            "run_seconds": time.perf_counter() - t_run,
            "machine": machine_info(),
            "versions": vers,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "cpus": {
                "client": sorted(client_cpus) if client_cpus else None,
                "servers": sorted(server_cpus) if server_cpus else None,
                "before": sorted(affinity_before) if affinity_before else None,
            },
            **opts.notes,
        },
        "workload": wl.stats,
        "stores": results,
        "floor": floor,
        "polling": polled,
        "staleness": stale,
        "cache_off_vs_previous": (
            previous.compare(results["redis-nocache"], before, floor)
            if before is not None and "redis-nocache" in results
            else None
        ),
        "checks": compare(answers, wl, results),
    }
    doc["targets"] = report.targets(doc)
    opts.out.mkdir(parents=True, exist_ok=True)
    paths = report.write(doc, opts.out, draw=opts.chart)
    doc["files"] = {k: str(v) for k, v in paths.items()}
    return doc


__all__ = [
    "READINGS",
    "READ_OPS",
    "REDIS_STORES",
    "STORES",
    "TOPOLOGIES",
    "BenchError",
    "Contestant",
    "Floor",
    "Options",
    "PostgresContestant",
    "RedisContestant",
    "canonical_report",
    "measure",
    "prepare_workload",
    "read_decoded",
    "run",
    "staleness",
    "workload_scanners",
]
