#!/usr/bin/env python3
"""The store's own cost per call, against a bare redis-py round trip of the same shape.

    python scripts/budget.py                      # starts a private redis-server
    python scripts/budget.py --url redis://127.0.0.1:6379/0 --samples 2000
    python scripts/budget.py --guard              # what CI runs: a few seconds

Prints, for every read (cold, and as a cache hit) and write of the store, its median, the
bare round trip's (PING, GET of the same report, EVALSHA of an empty script), and the
store's overhead in microseconds and as a share of its round trips
(:mod:`benchmarks.budget`). ``--guard`` measures fewer samples and exits 1 when a call makes
other round trips than it should or its ratio to the bare round trip regressed far past
what the store measures (``benchmarks.budget.LIMITS``): a check of ratios taken in one
process, not of absolute times. A Redis on ``--url`` is written to under the namespace
``budget`` (emptied before and after).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):  # run as a file from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import budget


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a Redis to measure on (default: a private redis-server)")
    p.add_argument("--samples", type=int, default=None, help="calls per case (default 1000)")
    p.add_argument("--manifests", type=int, default=20, help="registry size (default 20)")
    p.add_argument("--only", default="", help="comma list of calls to measure")
    p.add_argument("--guard", action="store_true", help="check for regressions; exit 1 on one")
    p.add_argument("--json", action="store_true", help="print the JSON result")
    args = p.parse_args(argv)
    samples = args.samples or (300 if args.guard else 1000)
    only = [x for x in args.only.split(",") if x]
    with ExitStack() as stack:
        url = args.url
        if url is None:
            from tests.support.servers import start_redis

            server = start_redis()
            stack.callback(server.stop)
            url = server.url
        result = budget.measure(url, samples=samples, manifests=args.manifests, only=only)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("\n".join(budget.markdown(result)))
    if args.guard:
        problems = budget.guard(result)
        for problem in problems:
            print(f"regression: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"guard: {len(result['rows'])} calls within their limits", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
