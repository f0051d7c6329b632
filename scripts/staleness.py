#!/usr/bin/env python3
"""How long a process can still answer the old value after another process's write.

    python scripts/staleness.py --url redis://127.0.0.1:6379/0 --writes 1000

One process indexes a manifest, then rewrites its report (``set_index_report``) ``--writes``
times; another process, with the local cache on, polls ``index_report_json`` (or
``manifest_scanned`` with ``--read manifest_scanned``, whose answer a delete and a re-index
flip) as fast as it can. For each write, the staleness is how long after the write returned
in the writer the reader still gave the old answer: the end of its last call that answered
the old value (0 if there was none), on the monotonic clock both processes read
(CLOCK_MONOTONIC is system-wide). Prints the median, p99 and maximum, in microseconds,
as JSON with ``--json``. A Redis on ``--url`` is used as is: point it at a scratch server
(it writes the namespace ``staleness``, emptied first).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis_store import IndexReport, RedisStore, VersionedScanner
from redis_store.demo.workload import generate
from redis_store.replay import replay

NAMESPACE = "staleness"


def _setup(url: str) -> IndexReport:
    with RedisStore.from_url(url, namespace=NAMESPACE, local_cache=False) as store:
        keys = list(store.client.scan_iter(f"{NAMESPACE}:*", count=1000))
        if keys:
            store.client.delete(*keys)
        (report,) = [replay(store, r) for r in generate(1, seed=77)]
        return IndexReport.from_json(report.to_json())


def _reader(url: str, digest: str, read: str, pipe: Connection) -> None:
    store = RedisStore.from_url(url, namespace=NAMESPACE)
    scanner = [VersionedScanner("os-release", "1", "distribution")]
    deadline = time.monotonic() + 10
    while not store.local_cache.live:  # the listener connects on the first cached read
        store.index_report_json(digest)
        if time.monotonic() > deadline:
            pipe.send(("error", f"the local cache did not go live: {store.local_cache}"))
            return
        time.sleep(0.01)

    def answer() -> Any:
        if read == "manifest_scanned":
            return store.manifest_scanned(digest, scanner)
        return store.index_report_json(digest)

    seen = answer()
    pipe.send(("ready", None))
    while True:
        message, _ = pipe.recv()
        if message == "stop":
            break
        # poll until the answer changes; then report when the last old answer was given
        last_old = time.monotonic_ns()
        while (value := answer()) == seen:
            last_old = time.monotonic_ns()
        seen = value
        pipe.send(("seen", last_old))
    stats = store.cache_stats()
    pipe.send(("stats", {"hits": stats.hits, "misses": stats.misses}))
    store.close()


def measure(url: str, writes: int, read: str = "index_report_json") -> dict[str, Any]:
    """Staleness figures (µs) of ``writes`` writes seen by a second process."""
    report = _setup(url)
    assert report.hash is not None
    digest = str(report.hash)
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    reader = ctx.Process(target=_reader, args=(url, digest, read, theirs), daemon=True)
    reader.start()
    kind, detail = ours.recv()
    if kind == "error":
        raise RuntimeError(detail)
    writer = RedisStore.from_url(url, namespace=NAMESPACE, local_cache=False)
    samples: list[float] = []
    for i in range(writes):
        ours.send(("next", i))
        time.sleep(0.002)  # the reader is polling the cached answer by now
        if read == "manifest_scanned":
            if i % 2 == 0:
                writer.delete_manifests(digest)
            else:
                replay(writer, report)
        else:
            writer.set_index_report(IndexReport(hash=report.hash, state=f"W{i}"))
        returned = time.monotonic_ns()
        _, last_old = ours.recv()
        samples.append(max(0, last_old - returned) / 1000)
    ours.send(("stop", None))
    _, reader_stats = ours.recv()
    reader.join(10)
    writer.close()
    ordered = sorted(samples)
    return {
        "read": read,
        "writes": writes,
        "median_us": statistics.median(ordered),
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_us": ordered[-1],
        "reader": reader_stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument(
        "--read", choices=("index_report_json", "manifest_scanned"), default="index_report_json"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.url, args.writes, args.read)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['read']}: {result['writes']} writes; stale for median "
            f"{result['median_us']:.0f} µs, p99 {result['p99_us']:.0f} µs, "
            f"max {result['max_us']:.0f} µs after the write returned"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
