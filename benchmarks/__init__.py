"""Side-by-side benchmark: redis-store against claircore's PostgreSQL schema and the Redis floor.

Not part of the installed package; run it from a checkout with ``python scripts/bench.py``.
``benchmarks.postgres`` is the PostgreSQL baseline (claircore's schema and statements),
``harness`` measures (with ``timing``'s instruments) on the private servers of
``tests.support.servers``, ``report`` writes JSON, Markdown and the chart, and ``cli`` is the
command line. Needs the ``bench`` extra: ``pip install -e '.[bench]'``.
"""
