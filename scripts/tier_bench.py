#!/usr/bin/env python3
"""The cache tier on real servers: miss against hit, bulk fill rate, a budget held.

    python scripts/tier_bench.py                      # about 12 minutes
    python scripts/tier_bench.py --stream-seconds 60 --fill 200

Starts a private Redis (maxmemory twice the budget, noeviction), a private PostgreSQL in
claircore's schema filled from the shared reports and workload reports, and Clair's indexer
API served over loopback; writes ``bench-results/tier.json`` and ``tier.md``. Needs the
``bench`` extra and the shared reports beside the checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.tier import main

if __name__ == "__main__":
    raise SystemExit(main())
