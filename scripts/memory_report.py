#!/usr/bin/env python3
"""Redis memory a set of IndexReports takes once indexed: INFO memory delta and MEMORY USAGE
by key family.

    python scripts/memory_report.py --url redis://127.0.0.1:6379/0 report.json [...]

Each report is replayed through the store in claircore's controller call order into a fresh
namespace (deleted again afterwards unless --keep).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import redis

from redis_store import IndexReport, RedisStore, replay
from redis_store.keys import KeyLayout


def family(key: str, namespace: str) -> str:
    """``ns:{m:<digest>}:report`` -> ``manifest:report`` and so on."""
    return KeyLayout(namespace).family(key)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--namespace", default="memory-report")
    ap.add_argument("--keep", action="store_true", help="leave the data in Redis")
    ap.add_argument("reports", nargs="+", type=Path)
    args = ap.parse_args(argv)
    client = redis.Redis.from_url(args.url)
    store = RedisStore(client, namespace=args.namespace)
    k = KeyLayout(args.namespace)
    if any(client.scan_iter(match=k.match_pattern(), count=100)):
        print(f"namespace {args.namespace!r} is not empty", file=sys.stderr)
        return 1
    reports = [IndexReport.from_json(p.read_bytes()) for p in args.reports]
    before = int(client.info("memory")["used_memory"])
    for r in reports:
        replay.replay(store, r)
    after = int(client.info("memory")["used_memory"])
    usage: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for key in client.scan_iter(match=k.match_pattern(), count=1000):
        name = key.decode()
        fam = family(name, args.namespace)
        usage[fam] += int(client.memory_usage(key, samples=0) or 0)
        count[fam] += 1
    n = len(reports)
    print(f"manifests: {n}; packages in reports: {sum(len(r.packages or {}) for r in reports)}")
    delta = after - before
    print(f"INFO used_memory delta: {delta} bytes ({delta / n:.0f} per manifest)")
    total = sum(usage.values())
    print(f"MEMORY USAGE sum: {total} bytes ({total / n:.0f} per manifest)")
    print(f"{'key family':<22}{'keys':>7}{'bytes':>11}{'share':>8}")
    for fam, size in usage.most_common():
        print(f"{fam:<22}{count[fam]:>7}{size:>11}{size / total:>8.1%}")
    if not args.keep:
        store.delete_manifests(*[r.hash for r in reports if r.hash])
        for key in client.scan_iter(match=k.match_pattern(), count=1000):
            client.delete(key)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
