#!/usr/bin/env python3
"""Make a Clair indexer database from IndexReport files, for a cache tier to read through.

    python scripts/clair_db.py postgresql://USER@HOST/DB REPORT.json...
    python scripts/clair_db.py postgresql://USER@HOST/DB --workload 2000   # generated ones

Creates claircore's indexer schema in the database (if it is not there; ``--fresh`` drops it
first) and indexes each report into it as claircore's controller would, so that
``indexreport.scan_result`` holds the reports. Run from a checkout (``pip install -e
".[bench]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clair_database import fill_clair_database
from redis_store import IndexReport
from redis_store.demo import workload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dsn", help="the database, as a libpq URL or connection string")
    parser.add_argument("reports", nargs="*", type=Path, help="IndexReport JSON files")
    parser.add_argument(
        "--workload",
        type=int,
        default=0,
        metavar="N",
        help="also N generated reports (redis_store.demo.workload, seeded)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the workload's seed (default 0)")
    parser.add_argument("--fresh", action="store_true", help="drop claircore's tables first")
    args = parser.parse_args()
    if not args.reports and not args.workload:
        parser.error("give report files, --workload N, or both")
    reports = [IndexReport.from_json(p.read_bytes()) for p in args.reports]
    reports += list(workload.generate(args.workload, seed=args.seed))
    digests = fill_clair_database(args.dsn.removeprefix("clair+"), reports, fresh=args.fresh)
    for d in digests:
        print(d)
    print(f"{len(digests)} reports in claircore's schema", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
