"""The cache tier measured on real servers: what a miss costs against a hit, how fast a bulk
fill from Clair's database runs, and how closely ``evict --watch`` holds a memory budget
under a steady stream of imports.

Three parts, each on a private redis-server (and PostgreSQL, for the database origin) on
loopback:

- **miss and hit**: the largest shared report read through each origin (Clair's indexer API
  served over loopback HTTP, and Clair's database in claircore's schema): a miss is
  ``index_report`` on an empty store (fetch, import, answer); the fetch alone is timed too;
  hits are the same read again, with the local cache off and on.
- **bulk fill**: ``redis-store import --from clair+postgresql://...`` as a user runs it (a
  subprocess, its ``--json`` summary), with ``--jobs 1`` and ``--jobs 4`` into an empty
  store, then once more to show a resumed fill skipping everything.
- **budget**: a writer imports workload manifests without pause while a reader keeps a hot
  set in use; ``redis-store evict --max-memory B --watch S`` runs beside them; ``used_memory``
  is sampled every second. The hot set should survive; ``used_memory`` should stay near B.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.clair_database import fill_clair_database
from benchmarks.timing import percentile
from redis_store import ClairDatabaseOrigin, ClairIndexerOrigin, IndexReport, RedisStore
from redis_store.demo import workload
from redis_store.tier.origins import Origin, ReadThrough
from tests.support import servers
from tests.support.clair import ClairAPI

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "claircore"
LARGEST = "rhacs-rhel8.index.json"
MiB = 1024 * 1024


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(1000 * statistics.median(samples), 3),
        "p95_ms": round(1000 * percentile(samples, 0.95), 3),
        "n": len(samples),
    }


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def miss_and_hit(
    redis: servers.RedisServer, origin: Origin, digest: str, reps: int, hits: int
) -> dict[str, Any]:
    """Misses (the store emptied before each), the origin's fetch alone, and hits."""
    through = ReadThrough(origin, not_found_ttl=0)
    fetch = [_timed(lambda: origin.fetch(digest)) for _ in range(reps)]
    miss: list[float] = []
    hit: dict[str, list[float]] = {"hit_no_local_cache": [], "hit_local_cache": []}
    for local, name in ((False, "hit_no_local_cache"), (True, "hit_local_cache")):
        with RedisStore(redis.client(), "tier", local_cache=local, origin=through) as store:
            for _ in range(reps):
                redis.flush()
                miss.append(_timed(lambda: store.index_report(digest)))
                assert store.index_report(digest) is not None
            for _ in range(hits):
                hit[name].append(_timed(lambda: store.index_report(digest)))
    stats = through.stats()
    return {
        "origin": origin.name,
        "fetch": _ms(fetch),
        "miss": _ms(miss),
        **{k: _ms(v) for k, v in hit.items()},
        "origin_fetches": stats.fetched,
    }


def bulk_fill(redis: servers.RedisServer, origin_url: str, jobs: int) -> dict[str, Any]:
    """``redis-store import --from`` into an empty store, as a subprocess."""
    redis.flush()
    argv = [
        sys.executable, "-m", "redis_store", "import", "--url", redis.url,
        "--namespace", "tier", "--from", origin_url, "--jobs", str(jobs), "--json", "-q",
    ]  # fmt: skip
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"import --from failed ({out.returncode}): {out.stderr.strip()}")
    doc = json.loads(out.stdout)
    again = subprocess.run(argv, capture_output=True, text=True, check=True)
    resumed = json.loads(again.stdout)
    return {
        "jobs": jobs,
        "imported": doc["imported"],
        "seconds": doc["seconds"],
        "imported_per_second": doc["imported_per_second"],
        "wall_seconds": round(wall, 2),
        "rerun_skipped": resumed["skipped"],
        "rerun_seconds": resumed["seconds"],
    }


@contextmanager
def _evict_watch(redis: servers.RedisServer, budget: int, every: float) -> Iterator[list[Any]]:
    """``redis-store evict --watch`` in a subprocess; yields the passes it reports."""
    argv = [
        sys.executable, "-m", "redis_store", "evict", "--url", redis.url,
        "--namespace", "tier", "--max-memory", str(budget), "--watch", str(every), "--json",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    passes: list[Any] = []

    def read() -> None:
        assert proc.stdout is not None
        doc = ""
        for line in proc.stdout:  # pretty-printed JSON documents, one per pass
            doc += line
            if line.startswith("}"):
                passes.append(json.loads(doc))
                doc = ""

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield passes
    finally:
        proc.terminate()  # SIGTERM, as Ctrl-C: the pass under way finishes whole
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)


def budget_stream(
    redis: servers.RedisServer, budget: int, seconds: float, every: float, hot: int
) -> dict[str, Any]:
    """Import without pause for ``seconds`` under ``evict --watch``; sample used_memory."""
    redis.flush()
    stop = threading.Event()
    imported: list[str] = []
    hot_set: list[str] = []
    reads = [0]

    def write() -> None:
        with RedisStore(redis.client(), "tier") as store:
            for report in workload.generate(10_000_000, seed=21):
                if stop.is_set():
                    return
                store.import_report(report)
                imported.append(str(report.hash))
                if len(hot_set) < hot:
                    hot_set.append(str(report.hash))

    def read() -> None:
        with RedisStore(redis.client(), "tier", local_cache=False) as store:
            while not stop.is_set():
                for d in list(hot_set):
                    store.index_report(d)
                    reads[0] += 1
                stop.wait(1.0)

    client = redis.client()
    samples: list[tuple[float, int]] = []
    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    with _evict_watch(redis, budget, every) as passes:
        start = time.monotonic()
        for t in threads:
            t.start()
        while (now := time.monotonic() - start) < seconds:
            samples.append((now, int(client.info("memory")["used_memory"])))
            time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
    with RedisStore(client, "tier") as store:
        hot_kept = sum(store.index_report(d) is not None for d in hot_set)
        from redis_store import ops

        problems = ops.check(store)
    filled = [u for t, u in samples if u > budget * 0.9 or t > seconds / 4]
    evicted = sum(p["evicted"] for p in passes)
    evict_seconds = sum(p["seconds"] for p in passes if p["evicted"])
    return {
        "budget": budget,
        "seconds": round(seconds, 1),
        "evict_every_seconds": every,
        "imported": len(imported),
        "imported_per_second": round(len(imported) / seconds, 1),
        "evicted": evicted,
        "evict_passes": len(passes),
        "ms_per_manifest_evicted": round(1000 * evict_seconds / evicted, 3) if evicted else None,
        "samples": len(samples),
        "used_max": max(u for _, u in samples),
        "used_median_once_full": int(statistics.median(filled)) if filled else None,
        "used_over_budget_share": round(sum(u > budget for _, u in samples) / len(samples), 3),
        "max_over_budget": max(0, max(u for _, u in samples) - budget),
        "hot_set": len(hot_set),
        "hot_kept": hot_kept,
        "hot_reads": reads[0],
        "fsck_problems": len(problems),
        "series": [(round(t, 1), u) for t, u in samples],
    }


def _table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def render(doc: dict[str, Any]) -> str:
    """The results as Markdown."""
    out = [f"# Cache tier ({doc['redis']}, {doc['postgres']})", "", f"    {doc['command']}", ""]
    rows = [["origin", "fetch", "miss (fetch + import)", "hit", "hit, local cache"]]
    for m in doc["miss_and_hit"]:
        rows.append(
            [m["origin"]]
            + [
                f"{m[k]['median_ms']} ms (p95 {m[k]['p95_ms']})"
                for k in ("fetch", "miss", "hit_no_local_cache", "hit_local_cache")
            ]
        )
    out += [f"Miss and hit for {doc['report']} (medians):", "", _table(rows), ""]
    rows = [["--jobs", "imported", "seconds", "imported/s", "rerun: skipped in"]]
    for f in doc["bulk_fill"]:
        rows.append(
            [str(f["jobs"]), str(f["imported"]), str(f["seconds"]),
             str(f["imported_per_second"]), f"{f['rerun_skipped']} in {f['rerun_seconds']} s"]
        )  # fmt: skip
    out += ["Bulk fill from the database:", "", _table(rows), ""]
    b = doc["budget"]
    mb = 1 / MiB
    rows = [
        ["budget", f"{b['budget'] * mb:.1f} MiB"],
        ["stream", f"{b['seconds']} s, {b['imported']} imported ({b['imported_per_second']}/s)"],
        ["evict --watch", f"every {b['evict_every_seconds']} s: {b['evicted']} evicted"
         f" in {b['evict_passes']} passes, {b['ms_per_manifest_evicted']} ms each"],
        ["used_memory, median once full", f"{(b['used_median_once_full'] or 0) * mb:.1f} MiB"],
        ["used_memory, max", f"{b['used_max'] * mb:.1f} MiB"
         f" (+{b['max_over_budget'] * mb:.1f} MiB over the budget)"],
        ["samples over the budget", f"{100 * b['used_over_budget_share']:.1f}% of {b['samples']}"],
        ["hot set kept", f"{b['hot_kept']} of {b['hot_set']} ({b['hot_reads']} reads)"],
        ["fsck after", f"{b['fsck_problems']} problems"],
    ]  # fmt: skip
    out += ["Memory against the budget under a steady import stream:", "", _table(rows), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="misses per origin (default 20)")
    parser.add_argument("--hits", type=int, default=200, help="hits per mode (default 200)")
    parser.add_argument(
        "--fill", type=int, default=1000, help="workload reports in the database (default 1000)"
    )
    parser.add_argument("--stream-seconds", type=float, default=600.0)
    parser.add_argument("--budget", type=float, default=64.0, help="MiB (default 64)")
    parser.add_argument("--evict-every", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--hot", type=int, default=50, help="manifests kept in use (default 50)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    largest = SHARED / LARGEST
    if not largest.exists():
        parser.error(f"the shared reports are not beside the checkout ({LARGEST})")
    raw = {p.name: p.read_bytes() for p in sorted(SHARED.glob("*.index.json"))}
    reports = {str(IndexReport.from_json(b).hash): b for b in raw.values()}
    digest = str(IndexReport.from_json(raw[LARGEST]).hash)
    budget = int(args.budget * MiB)
    redis = servers.start_redis("--maxmemory", str(2 * budget))
    pg = servers.start_postgres()
    api = ClairAPI(reports)
    try:
        print("filling the Clair database ...", file=sys.stderr)
        shared = [IndexReport.from_json(b) for b in reports.values()]
        fill_clair_database(pg.dsn, shared + list(workload.generate(args.fill, seed=17)))
        db_url = f"clair+postgresql://{pg.user}@127.0.0.1:{pg.port}/{pg.database}"
        origins: list[Origin] = [
            ClairIndexerOrigin(api.url, timeout=10.0),
            ClairDatabaseOrigin(db_url, timeout=10.0),
        ]
        print("miss and hit ...", file=sys.stderr)
        mh = [miss_and_hit(redis, o, digest, args.reps, args.hits) for o in origins]
        for o in origins:
            o.close()
        print(json.dumps(mh), file=sys.stderr)
        print("bulk fill ...", file=sys.stderr)
        fills = [bulk_fill(redis, db_url, jobs) for jobs in (1, 4)]
        print(json.dumps(fills), file=sys.stderr)
        print(f"budget stream for {args.stream_seconds:g} s ...", file=sys.stderr)
        stream = budget_stream(redis, budget, args.stream_seconds, args.evict_every, args.hot)
        doc = {
            "command": "python scripts/tier_bench.py " + " ".join(argv or sys.argv[1:]),
            "redis": redis.version(),
            "postgres": pg.version(),
            "report": LARGEST,
            "miss_and_hit": mh,
            "bulk_fill": fills,
            "budget": stream,
        }
    finally:
        api.stop()
        pg.stop()
        redis.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tier.json").write_text(json.dumps(doc, indent=2))
    text = render(doc)
    (args.out / "tier.md").write_text(text)
    print(text)
    return 0 if stream["fsck_problems"] == 0 and stream["hot_kept"] == stream["hot_set"] else 1


__all__ = ["budget_stream", "bulk_fill", "main", "miss_and_hit", "render"]
