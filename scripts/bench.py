#!/usr/bin/env python3
"""redis-store against claircore's PostgreSQL schema and the Redis floor, side by side.

    python scripts/bench.py --manifests 1000
    python scripts/bench.py --manifests 1000 10000      # both sizes, then the chart

Starts a private PostgreSQL and a private Redis on loopback ports (``--install`` installs
Debian's packages when missing), replays claircore's controller call sequence into each store,
measures reads, AffectedManifests, deletes, memory and storage, and writes
``bench-results/bench-n<N>.json``, ``.md`` and ``latency-vs-n.png``. Needs the ``bench``
extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
