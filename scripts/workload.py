#!/usr/bin/env python3
"""Generated IndexReports as JSON lines, for trying the command line on realistic data.

    python scripts/workload.py 200 > registry.jsonl
    python scripts/workload.py 5 --seed 3 --out reports/   # one sha256-<hex>.json each

The reports are ``redis_store.demo.workload.generate(N, seed)``: shared Debian, RHEL and
Alpine base layers with Go, Python and Java packages on top; the same seed gives the same
reports (and digests). Run from a checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis_store.demo import workload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", type=int, metavar="N", help="how many reports")
    parser.add_argument("--seed", type=int, default=0, help="the workload's seed (default 0)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="one file per report here")
    args = parser.parse_args()
    if args.manifests < 1:
        parser.error("N must be at least 1")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    for report in workload.generate(args.manifests, seed=args.seed):
        data = report.to_json()
        if args.out is None:
            sys.stdout.buffer.write(data + b"\n")
        else:
            (args.out / (str(report.hash).replace(":", "-") + ".json")).write_bytes(data + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
