#!/usr/bin/env python3
"""Latency of affected_manifests on a real Redis: single calls and batches.

    python scripts/affected_latency.py --url redis://127.0.0.1:6379/0 --manifests 1000

Indexes a seeded workload (redis_store.demo.workload) into a scratch namespace with claircore's
controller call sequence, draws vulnerabilities from its packages, then times
``affected_manifests`` one at a time and ``affected_manifests_batch`` for the whole sample.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import redis

from redis_store import RedisStore, replay
from redis_store.demo import workload
from redis_store.keys import KeyLayout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--namespace", default="affected-latency")
    ap.add_argument("--manifests", type=int, default=1000)
    ap.add_argument("--vulnerabilities", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=5, help="timed runs of the whole batch")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    client = redis.Redis.from_url(args.url)
    k = KeyLayout(args.namespace)
    if any(client.scan_iter(match=k.match_pattern(), count=100)):
        print(f"namespace {args.namespace!r} is not empty", file=sys.stderr)
        return 1
    store = RedisStore(client, namespace=args.namespace)
    reports = list(workload.generate(args.manifests, seed=args.seed))
    t0 = time.perf_counter()
    for r in reports:
        replay.replay(store, r)
    print(f"indexed {len(reports)} manifests in {time.perf_counter() - t0:.1f} s")
    vulns = workload.sample_vulnerabilities(reports, args.vulnerabilities, seed=args.seed)
    single = []
    hits = 0
    for v in vulns:
        t = time.perf_counter()
        hits += len(store.affected_manifests(v))
        single.append(time.perf_counter() - t)
    batches = []
    for _ in range(args.batches):
        t = time.perf_counter()
        result = store.affected_manifests_batch(vulns)
        batches.append(time.perf_counter() - t)
    pairs = sum(len(ids) for ids in result.vulnerable_manifests.values())
    q = statistics.quantiles(single, n=100)
    print(
        f"affected_manifests x{len(vulns)}: median {statistics.median(single) * 1e3:.3f} ms, "
        f"p99 {q[98] * 1e3:.3f} ms, {hits / len(vulns):.1f} manifests per vulnerability"
    )
    print(
        f"affected_manifests_batch({len(vulns)}) x{len(batches)}: median "
        f"{statistics.median(batches) * 1e3:.1f} ms ({pairs} manifest-vulnerability pairs)"
    )
    print(f"sequential single calls for the same {len(vulns)}: {sum(single) * 1e3:.1f} ms")
    store.delete_manifests(*[r.hash for r in reports if r.hash])
    for key in client.scan_iter(match=k.match_pattern(), count=1000):
        client.delete(key)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
