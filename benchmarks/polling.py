"""The polling phase: reader processes poll reports while one process indexes new manifests.

For each store and each reader count, for a fixed time: every reader process reads, in a
loop, ``index_report`` then ``manifest_scanned`` (with every scanner of the workload, what
the controller's CheckManifest asks) of a manifest drawn at random from those indexed, while
one more process indexes manifests the store has never seen (:func:`redis_store.replay.replay`
of a fresh seeded registry). Measured: reads per second of all readers together, read
latencies (p50, p99), and the indexer's manifests per second meanwhile. Each process opens
its own store (on Redis with its local cache on, started and live before the clock starts);
processes come from the ``spawn`` context and are reused from run to run, a fresh store each
run. They inherit the benchmark's CPU placement: every client on the client CPU, the servers
on the others.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import random
import statistics
import time
import traceback
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Final

from benchmarks.timing import percentile
from redis_store import replay
from redis_store.demo import workload
from redis_store.models import IndexReport, VersionedScanner

if TYPE_CHECKING:
    from redis_store.cli.progress import Progress

#: What each reader reads per turn, in order.
POLL_READS: Final = ("index_report", "manifest_scanned")

#: Manifests per second the indexer's pre-generated registry allows for (generating one
#: costs about 2 ms of the client CPU, so it is done before the clock starts; one indexer
#: alone indexes 25-60 a second here). An indexer that runs out stops early; the run says
#: so and its rate is over the time it indexed.
RATE_CAP: Final = 100

#: Seeds of the indexer's registries: far from the workload's and the staleness script's.
SEED_BASE: Final = 1_000_000

#: Seconds a worker may take to get ready (open its store, generate its manifests).
READY_TIMEOUT: Final = 300.0


class PollingError(RuntimeError):
    """A polling process failed; its traceback is the message."""


@dataclass(frozen=True)
class Target:
    """A store the processes open: ``redis`` (a URL) or ``postgres`` (a DSN)."""

    store: str
    where: str
    namespace: str = "bench"


@dataclass(frozen=True)
class PollOptions:
    seconds: float
    #: reader counts, one run each (0: the indexer alone, for its rate without readers)
    readers: tuple[int, ...]
    #: readers touch every field of the report read (the Redis store decodes lazily)
    decode: bool = False
    seed: int = 0


def _open(target: Target) -> Any:
    if target.store == "postgres":
        from benchmarks.postgres import PostgresStore

        return PostgresStore(target.where, create_schema=False)
    from redis_store.store import RedisStore
    from tests.support.cache import start_cache

    store = RedisStore.from_url(target.where, namespace=target.namespace)
    start_cache(store)  # live before the clock starts
    return store


def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


class _Reader:
    def __init__(
        self,
        target: Target,
        digests: Sequence[str],
        scanners: Sequence[VersionedScanner],
        seed: str,
        decode: bool,
    ) -> None:
        self.store = _open(target)
        self.digests = digests
        self.scanners = list(scanners)
        self.rng = random.Random(seed)
        self.decode = decode

    def run(self, start: float, end: float) -> dict[str, Any]:
        report_s, scanned_s = array("d"), array("d")
        digests, scanners, decode = self.digests, self.scanners, self.decode
        pick, n = self.rng.randrange, len(digests)
        index_report, manifest_scanned = self.store.index_report, self.store.manifest_scanned
        clock, now = time.perf_counter, time.monotonic
        _sleep_until(start)
        began = now()
        while True:
            d = digests[pick(n)]
            t0 = clock()
            r = index_report(d)
            if decode and r is not None:
                _ = r.packages  # the first access decodes every field
            t1 = clock()
            manifest_scanned(d, scanners)
            t2 = clock()
            report_s.append(t1 - t0)
            scanned_s.append(t2 - t1)
            if now() >= end:
                break
        out: dict[str, Any] = {
            "seconds": now() - began,
            "index_report": report_s.tobytes(),
            "manifest_scanned": scanned_s.tobytes(),
        }
        stats = getattr(self.store, "cache_stats", None)
        if stats is not None:
            s = stats()
            out["cache"] = {"hits": s.hits, "misses": s.misses, "entries": s.entries}
        return out

    def close(self) -> None:
        self.store.close()


class _Indexer:
    def __init__(self) -> None:
        self.seed: int | None = None
        self.pool: list[IndexReport] = []
        self.scanners: list[VersionedScanner] = []
        self.store: Any = None

    def prepare(self, target: Target, seed: int, count: int) -> None:
        """Open the store and register the registry's scanners (what libindex.New does);
        the registry of ``seed`` is generated once, for the stores that run it in turn."""
        from benchmarks.harness import workload_scanners

        if self.seed != seed or len(self.pool) < count:
            self.pool = list(workload.generate(count, seed))
            self.scanners = workload_scanners(self.pool)
            self.seed = seed
        self.store = _open(target)
        self.store.register_scanners(self.scanners)

    def run(self, start: float, end: float) -> dict[str, Any]:
        times = array("d")
        exhausted = True
        clock, now = time.perf_counter, time.monotonic
        _sleep_until(start)
        began = now()
        for r in self.pool:
            if now() >= end:
                exhausted = False
                break
            t0 = clock()
            replay.replay(self.store, r)
            times.append(clock() - t0)
        return {"seconds": now() - began, "per_manifest": times.tobytes(), "exhausted": exhausted}

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def _worker(
    role: str, conn: Connection, digests: list[str], scanners: list[VersionedScanner]
) -> None:
    """A polling process: prepares and runs what the benchmark sends, until told to stop."""
    indexer = _Indexer()
    job: Any = None
    try:
        while True:
            command, arg = conn.recv()
            if command == "stop":
                return
            if command == "prepare":
                if role == "indexer":
                    indexer.prepare(arg["target"], arg["seed"], arg["count"])
                    job = indexer
                else:
                    job = _Reader(arg["target"], digests, scanners, arg["seed"], arg["decode"])
                conn.send(("ready", None))
            elif command == "run":
                start, end = arg
                result = job.run(start, end)
                job.close()
                conn.send(("done", result))
    except (EOFError, KeyboardInterrupt):
        return
    except BaseException:
        conn.send(("error", traceback.format_exc()))


class _Process:
    """One polling process and the benchmark's end of its pipe."""

    def __init__(self, ctx: Any, role: str, digests: list[str], scanners: list[Any]) -> None:
        self.role = role
        self.conn, theirs = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker, args=(role, theirs, digests, scanners), daemon=True
        )
        self.process.start()
        theirs.close()

    def send(self, command: str, arg: Any = None) -> None:
        self.conn.send((command, arg))

    def expect(self, kind: str, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise PollingError(f"a polling {self.role} did not answer within {timeout:g} s")
        got, value = self.conn.recv()
        if got == "error":
            raise PollingError(f"a polling {self.role} failed:\n{value}")
        if got != kind:
            raise PollingError(f"a polling {self.role} answered {got!r}, not {kind!r}")
        return value

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # the process is gone already
            self.send("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()


def _latency(seconds: Sequence[float]) -> dict[str, Any]:
    if not seconds:
        return {"reads": 0}
    return {
        "reads": len(seconds),
        "p50_ms": statistics.median(seconds) * 1e3,
        "p99_ms": percentile(seconds, 99) * 1e3,
        "max_ms": max(seconds) * 1e3,
    }


def _one_run(
    target: Target,
    readers: int,
    run_index: int,
    opts: PollOptions,
    pool: list[_Process],
    indexer: _Process,
) -> dict[str, Any]:
    seed = SEED_BASE + 100 * opts.seed + run_index
    count = max(1, int(opts.seconds * RATE_CAP) + 1)
    indexer.send("prepare", {"target": target, "seed": seed, "count": count})
    active = pool[:readers]
    for j, p in enumerate(active):
        p.send(
            "prepare",
            {"target": target, "seed": f"poll {opts.seed} {run_index} {j}", "decode": opts.decode},
        )
    for p in [*active, indexer]:
        p.expect("ready", READY_TIMEOUT)
    start = time.monotonic() + 0.1
    end = start + opts.seconds
    for p in [*active, indexer]:
        p.send("run", (start, end))
    timeout = opts.seconds + READY_TIMEOUT
    done = [p.expect("done", timeout) for p in active]
    indexed = indexer.expect("done", timeout)

    by_read: dict[str, array[float]] = {name: array("d") for name in POLL_READS}
    reads = 0
    rate = 0.0
    hits = misses = 0
    for d in done:
        n = 0
        for name in POLL_READS:
            part = array("d")
            part.frombytes(d[name])
            by_read[name].extend(part)
            n += len(part)
        reads += n
        rate += n / d["seconds"] if d["seconds"] > 0 else 0.0
        if "cache" in d:
            hits += d["cache"]["hits"]
            misses += d["cache"]["misses"]
    every = sorted(x for part in by_read.values() for x in part)
    per_manifest = array("d")
    per_manifest.frombytes(indexed["per_manifest"])
    manifests = len(per_manifest)
    out: dict[str, Any] = {
        "store": target.store,
        "readers": readers,
        "seconds": opts.seconds,
        "reads": reads,
        "reads_per_second": rate,
        "read": _latency(every),
        "by_read": {name: _latency(sorted(v)) for name, v in by_read.items()},
        "indexer": {
            "manifests": manifests,
            "seconds": indexed["seconds"],
            "manifests_per_second": manifests / indexed["seconds"] if indexed["seconds"] else 0,
            "exhausted": indexed["exhausted"],
            "per_manifest_ms": _latency(sorted(per_manifest)),
        },
    }
    if target.store != "postgres" and readers:
        out["cache"] = {
            "hits": hits,
            "misses": misses,
            "hit_ratio": hits / (hits + misses) if hits + misses else None,
        }
    return out


def run(
    targets: Sequence[Target],
    digests: Sequence[str],
    scanners: Sequence[VersionedScanner],
    opts: PollOptions,
    progress: Progress,
) -> dict[str, Any]:
    """Every (reader count, store) run; the stores alternate which goes first."""
    counts = sorted(set(opts.readers))
    ctx = mp.get_context("spawn")
    names, scanner_list = list(digests), list(scanners)
    processes: list[_Process] = []
    runs: list[dict[str, Any]] = []
    try:
        indexer = _Process(ctx, "indexer", [], [])
        processes.append(indexer)
        pool = [_Process(ctx, "reader", names, scanner_list) for _ in range(max(counts))]
        processes += pool
        total = len(counts) * len(targets)
        for j, readers in enumerate(counts):
            first = j % len(targets) if targets else 0
            order = [*targets[first:], *targets[:first]]
            for target in order:
                progress.note(
                    f"polling: {target.store}, {readers} reader(s) and one indexer,"
                    f" {opts.seconds:g} s ({len(runs) + 1}/{total})"
                )
                runs.append(_one_run(target, readers, j, opts, pool, indexer))
    finally:
        for p in processes:
            p.stop()
    return {
        "seconds": opts.seconds,
        "readers": counts,
        "decode": opts.decode,
        "reads": list(POLL_READS),
        "manifests_read_from": len(names),
        "runs": runs,
    }


__all__ = ["POLL_READS", "PollOptions", "PollingError", "Target", "run"]
