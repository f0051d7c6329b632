"""The cache tier measured on real servers: the import against the controller path it
replaced, what a miss costs against a hit, how fast bulk fills run, and how closely
``evict --watch`` holds a memory budget under a steady stream of imports.

Four parts, each on a private redis-server (and PostgreSQL, for the database origin) on
loopback:

- **import against replay** (:mod:`benchmarks.imports`): the shared real reports and the
  workload's size mix written both ways; medians per report, memory per manifest.
- **miss and hit**: the largest shared report read through each origin (Clair's indexer API
  served over loopback HTTP, and Clair's database in claircore's schema): a miss is
  ``index_report`` of a manifest the store lacks (fetch, import, answer), cold (a store that
  knows nothing of it: a new namespace) and after an eviction (the same store, the manifest
  deleted); the fetch alone is timed too; hits are the same read again, with the local
  cache off and on.
- **bulk fill**: ``redis-store import --from`` as a user runs it (a subprocess, its
  ``--json`` summary): from the database with ``--jobs`` 1, 2 and 4 into an empty store (then
  once more: a resumed fill skips everything), beside the rate of the origin's fetches
  alone; and from the indexer API answering each report after a delay, ``--jobs`` 1 and 4.
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

from benchmarks import imports
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
    """Misses (cold and after an eviction), the origin's fetch alone, and hits."""
    through = ReadThrough(origin, not_found_ttl=0)
    fetch = [_timed(lambda: origin.fetch(digest)) for _ in range(reps)]
    redis.flush()
    client = redis.client()
    cold: list[float] = []
    for i in range(reps):  # a store that knows nothing of the report's entities
        with RedisStore(client, f"cold{i}", local_cache=False, origin=through) as store:
            cold.append(_timed(lambda: store.index_report(digest)))
    redis.flush()
    evicted: list[float] = []
    hit: dict[str, list[float]] = {"hit_no_local_cache": [], "hit_local_cache": []}
    for local, name in ((False, "hit_no_local_cache"), (True, "hit_local_cache")):
        with RedisStore(client, "tier", local_cache=local, origin=through) as store:
            for _ in range(reps):
                store.delete_manifests(digest)  # evicted: its entities go with it
                evicted.append(_timed(lambda: store.index_report(digest)))
                assert store.index_report(digest) is not None
            for _ in range(hits):
                hit[name].append(_timed(lambda: store.index_report(digest)))
    stats = through.stats()
    return {
        "origin": origin.name,
        "fetch": _ms(fetch),
        "miss": _ms(cold),
        "miss_after_eviction": _ms(evicted),
        **{k: _ms(v) for k, v in hit.items()},
        "origin_fetches": stats.fetched,
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
    imp = doc["import"]
    rows = [["report", "packages", "controller (replay)", "import", "ratio"]]
    for name, r in zip(doc["shared_names"], imp["shared"], strict=True):
        rows.append(
            [name, str(r["packages"]), f"{r['replay_ms']} ms", f"{r['import_ms']} ms",
             f"{r['ratio']}x"]
        )  # fmt: skip
    mix = imp["mix"]
    for size in ("small", "medium", "large"):
        if size in mix:
            g = mix[size]
            ratio = round(g["replay_ms"] / g["import_ms"], 1)
            rows.append(
                [f"workload, {size} ({g['reports']})", "", f"{g['replay_ms']} ms",
                 f"{g['import_ms']} ms", f"{ratio}x"]
            )  # fmt: skip
    a = mix["all"]
    rows.append(
        [f"workload, all {imp['mix_reports']}", "", f"{a['replay_ms']} ms", f"{a['import_ms']} ms",
         f"{a['ratio']}x"]
    )  # fmt: skip
    m = imp["memory"]
    out += [
        f"Import against the controller path, per report (medians; each shared report"
        f" {imp['reps']} times into an empty namespace; the workload mix one report after"
        f" another, size groups split at {mix['size_bounds']} packages):",
        "",
        _table(rows),
        "",
        f"Memory per manifest after the workload mix: controller"
        f" {m['replay_bytes_per_manifest']} B, import {m['import_bytes_per_manifest']} B"
        f" (ratio {m['ratio']}).",
        "",
    ]
    rows = [["origin", "fetch", "miss, cold", "miss after eviction", "hit", "hit, local cache"]]
    keys = ("fetch", "miss", "miss_after_eviction", "hit_no_local_cache", "hit_local_cache")
    for mh in doc["miss_and_hit"]:
        rows.append(
            [mh["origin"]] + [f"{mh[k]['median_ms']} ms (p95 {mh[k]['p95_ms']})" for k in keys]
        )
    out += [f"Miss and hit for {doc['report']} (medians):", "", _table(rows), ""]
    rows = [["origin", "--jobs", "imported", "seconds", "imported/s", "rerun: skipped in"]]
    for f in doc["bulk_fill"]:
        rows.append(
            [f["origin"], str(f["jobs"]), str(f["imported"]), str(f["seconds"]),
             str(f["imported_per_second"]), f"{f['rerun_skipped']} in {f['rerun_seconds']} s"]
        )  # fmt: skip
    alone = doc["origin_alone"]
    before = doc["controller_fill"]
    out += [
        "Bulk fill (`redis-store import --from`):",
        "",
        _table(rows),
        "",
        "The database origin alone (every report fetched, one after another, nothing"
        f" imported): {alone['fetched']} in {alone['seconds']} s, {alone['per_second']}"
        " reports/s. The same reports fetched and written by the controller path, one after"
        f" another (the fill before the import): {before['per_second']} reports/s.",
        "",
    ]
    out += ["Targets:", "", _table(targets(doc)), ""]
    b = doc.get("budget")
    if b is None:
        return "\n".join(out)
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


def targets(doc: dict[str, Any]) -> list[list[str]]:
    """Each target of the import, met or missed, from this run's figures."""
    rows = [["target", "wanted", "measured", ""]]

    def row(name: str, wanted: float, got: float, unit: str, *, most: bool = False) -> None:
        met = got <= wanted if most else got >= wanted
        bound = "at most" if most else "at least"
        rows.append([name, f"{bound} {wanted:g}{unit}", f"{got:g}{unit}", "met" if met else
                     f"missed by {abs(got - wanted) / wanted:.0%}"])  # fmt: skip

    imp = doc["import"]
    shared = statistics.median(r["ratio"] for r in imp["shared"])
    row("import vs controller, shared reports (median)", 10, shared, "x")
    row("import vs controller, workload mix (median)", 10, imp["mix"]["all"]["ratio"], "x")
    row("memory per manifest, import / controller", 1.05, imp["memory"]["ratio"], "", most=True)
    fills = doc["bulk_fill"]
    db1 = next(f for f in fills if f["origin"] == "database" and f["jobs"] == 1)
    before = doc["controller_fill"]["per_second"]
    rate = db1["imported_per_second"]
    row("bulk fill, --jobs 1, vs the controller path", 10, round(rate / before, 1), "x")
    alone = doc["origin_alone"]["per_second"]
    row("bulk fill, --jobs 1, vs the origin alone", 0.5, round(rate / alone, 2), "x")
    api = [f for f in fills if f["origin"].startswith("API")]
    if len(api) == 2:
        scaled = api[1]["imported_per_second"] / api[0]["imported_per_second"]
        row("API with a delay: --jobs 4 vs --jobs 1", 3, round(scaled, 1), "x")
    for mh in doc["miss_and_hit"]:
        row(f"miss, {mh['origin']}", 10, mh["miss"]["median_ms"], " ms", most=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="misses per origin (default 20)")
    parser.add_argument("--hits", type=int, default=200, help="hits per mode (default 200)")
    parser.add_argument(
        "--fill", type=int, default=1000, help="workload reports in the database (default 1000)"
    )
    parser.add_argument(
        "--mix", type=int, default=1000, help="workload reports of the import run (default 1000)"
    )
    parser.add_argument(
        "--delay", type=float, default=0.005, help="the API's delay per report, s (default 0.005)"
    )
    parser.add_argument(
        "--stream-seconds", type=float, default=600.0, help="0: no budget stream (default 600)"
    )
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
    filled = [IndexReport.from_json(r.to_json()) for r in workload.generate(args.fill, seed=17)]
    api = ClairAPI(reports | {str(r.hash): r.to_json() for r in filled})
    doc: dict[str, Any] = {}
    try:
        print("import against replay ...", file=sys.stderr)
        shared = [IndexReport.from_json(b) for b in raw.values()]
        mix = [IndexReport.from_json(r.to_json()) for r in workload.generate(args.mix, seed=23)]
        imp = imports.import_against_replay(redis, shared, mix, reps=max(5, args.reps // 2))
        print(json.dumps(imp), file=sys.stderr)
        print("filling the Clair database ...", file=sys.stderr)
        fill_clair_database(pg.dsn, shared + filled)
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
        every = [str(IndexReport.from_json(b).hash) for b in reports.values()]
        every += [str(r.hash) for r in filled]
        make_db: Any = lambda: ClairDatabaseOrigin(db_url, timeout=10.0)  # noqa: E731
        alone = imports.origin_alone(make_db, every)
        before = imports.controller_fill(redis, make_db, every)
        fills = [{"origin": "database", **imports.fill(redis, db_url, jobs)} for jobs in (1, 2, 4)]
        args.out.mkdir(parents=True, exist_ok=True)
        listed = args.out / "digests.txt"
        listed.write_text("\n".join(every) + "\n")
        api.delay_seconds = args.delay
        for jobs in (1, 4):
            run = imports.fill(redis, api.url, jobs, digests=str(listed))
            fills.append({"origin": f"API, {1000 * args.delay:g} ms a report", **run})
        api.delay_seconds = 0.0
        print(json.dumps(fills), file=sys.stderr)
        doc = {
            "command": "python scripts/tier_bench.py " + " ".join(argv or sys.argv[1:]),
            "redis": redis.version(),
            "postgres": pg.version(),
            "report": LARGEST,
            "shared_names": list(raw),
            "import": imp,
            "miss_and_hit": mh,
            "origin_alone": alone,
            "controller_fill": before,
            "bulk_fill": fills,
        }
        if args.stream_seconds > 0:
            print(f"budget stream for {args.stream_seconds:g} s ...", file=sys.stderr)
            doc["budget"] = budget_stream(
                redis, budget, args.stream_seconds, args.evict_every, args.hot
            )
    finally:
        api.stop()
        pg.stop()
        redis.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tier.json").write_text(json.dumps(doc, indent=2))
    text = render(doc)
    (args.out / "tier.md").write_text(text)
    print(text)
    stream = doc.get("budget")
    if stream is None:
        return 0
    return 0 if stream["fsck_problems"] == 0 and stream["hot_kept"] == stream["hot_set"] else 1


__all__ = ["budget_stream", "main", "miss_and_hit", "render"]
