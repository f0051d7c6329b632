#!/usr/bin/env python3
"""Nightly cleanup of a redis-store cache tier: expire, then gc, then fsck.

    python scripts/nightly_cleanup.py --url redis://127.0.0.1:6379/0 --older-than-days 30

An example of an ops job written against the library rather than the command line. In order:

1. ``ops.expire``: deletes every manifest nobody indexed or read for ``--older-than-days``
   days, through ``delete_manifests`` (so a manifest an indexer holds locked is skipped, and
   nothing is left half-deleted);
2. ``ops.collect``: reclaims what an interrupted operation left behind (layers, records and
   entities nothing uses), re-checking each item atomically;
3. ``ops.check``: verifies every invariant of the store and lists each violation.

It prints one line per step (``--json``: one JSON object). Exit status: 0 when fsck found
nothing, 1 when it found violations (look, then run ``redis-store fsck --repair`` on a quiet
store) or Redis could not be reached, 2 for bad arguments. All three steps are safe while
indexers run, so it can run from cron or a Kubernetes CronJob at any hour::

    15 3 * * *  python scripts/nightly_cleanup.py --url "$REDIS_URL" --older-than-days 30

``--dry-run`` reports what expire and gc would do without deleting anything.
``--metrics-file /var/lib/node_exporter/textfile/redis_store.prom`` leaves what each step did
for node_exporter's textfile collector (written atomically; needs the ``metrics`` extra):
``redis_store_job_success{job="nightly_cleanup"}``, the steps' durations, manifests expired,
items reclaimed, violations found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from redis_store import InvalidInputError, RedisStore, ops
from redis_store.diagnose import diagnose
from redis_store.observe import textfile
from redis_store.observe.textfile import JobFile

#: What gc reclaims, by kind (its result's fields).
RECLAIMED = ("layers", "records", "packages", "distributions", "repositories", "files")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--url",
        default=os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
        help="Redis URL (default: $REDIS_URL, else redis://localhost:6379/0)",
    )
    ap.add_argument("--namespace", default="claircore", help="key namespace (default: claircore)")
    ap.add_argument(
        "--older-than-days",
        type=float,
        default=30.0,
        metavar="N",
        help="expire manifests unused for N days (default: 30)",
    )
    ap.add_argument("--dry-run", action="store_true", help="change nothing; report what would go")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument(
        "--metrics-file",
        metavar="PATH.prom",
        help="write what the job did for node_exporter's textfile collector",
    )
    args = ap.parse_args(argv)
    if args.older_than_days <= 0:
        ap.error("--older-than-days must be positive")
    if args.metrics_file and not textfile.available():
        ap.error("--metrics-file needs prometheus_client: pip install 'redis-store[metrics]'")
    return args


def cleanup(store: RedisStore, older_than_days: float, dry_run: bool) -> dict[str, Any]:
    """The three steps; returns what each did, as plain data."""
    t0 = time.perf_counter()
    expired = ops.expire(store, older_than_days * 86400, dry_run=dry_run)
    t1 = time.perf_counter()
    collected = ops.collect(store, dry_run=dry_run)
    t2 = time.perf_counter()
    violations = ops.check(store)
    t3 = time.perf_counter()
    return {
        "expire": {**asdict(expired), "seconds": round(t1 - t0, 3)},
        "gc": {**asdict(collected), "seconds": round(t2 - t1, 3)},
        "fsck": {
            "violations": [v.as_dict() for v in violations],
            "seconds": round(t3 - t2, 3),
        },
    }


def summary(result: dict[str, Any], dry_run: bool) -> str:
    e, g, f = result["expire"], result["gc"], result["fsck"]
    reclaimed = sum(g[k] for k in RECLAIMED)
    verb = "would " if dry_run else ""
    lines = [
        f"expire: {verb}delete {len(e['expired'])} manifests, {len(e['skipped_locked'])} locked"
        f" (skipped), {e['unknown']} never used (kept)  [{e['seconds']:.2f} s]",
        f"gc:     {verb}reclaim {reclaimed} items  [{g['seconds']:.2f} s]",
        f"fsck:   {len(f['violations'])} violations  [{f['seconds']:.2f} s]",
    ]
    lines += [f"  {v['kind']}: {v['key']}: {v['detail']}" for v in f["violations"]]
    return "\n".join(lines)


def write_metrics(path: str, namespace: str, result: dict[str, Any] | None, dry_run: bool) -> None:
    """The job's figures, for node_exporter's textfile collector (``result`` None: failed)."""
    job = JobFile(namespace)
    if result is None:
        job.run("nightly_cleanup", seconds=0.0, success=False, dry_run=dry_run)
    else:
        e, g, f = result["expire"], result["gc"], result["fsck"]
        job.run(
            "nightly_cleanup",
            seconds=e["seconds"] + g["seconds"] + f["seconds"],
            success=True,
            dry_run=dry_run,
        )
        for step in ("expire", "gc", "fsck"):
            job.run(step, seconds=result[step]["seconds"], success=True, dry_run=dry_run)
        job.expire(
            expired=len(e["expired"]), locked=len(e["skipped_locked"]), no_recorded_use=e["unknown"]
        )
        job.gc({k: g[k] for k in (*RECLAIMED, "stale_links")})
        job.fsck(found=len(f["violations"]), repaired=0, remaining=len(f["violations"]))
    job.write(path)


def main(argv: list[str] | None = None, *, store: RedisStore | None = None) -> int:
    """Run the job; ``store`` replaces --url (tests pass a store on fakeredis)."""
    try:
        args = parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    own = store is None
    result = None
    try:
        if store is None:
            store = RedisStore.from_url(args.url, namespace=args.namespace)
        result = cleanup(store, args.older_than_days, args.dry_run)
    except (RedisError, RedisClusterException, InvalidInputError) as e:
        found = diagnose(e, args.url)
        print(f"nightly_cleanup: {found.message if found else e}", file=sys.stderr)
        return 2 if found is not None and found.misconfigured else 1
    finally:
        if own and store is not None:
            store.close()
        if args.metrics_file:
            write_metrics(args.metrics_file, args.namespace, result, args.dry_run)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(summary(result, args.dry_run))
    return 1 if result["fsck"]["violations"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
