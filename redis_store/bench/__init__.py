"""Side-by-side benchmark: redis-store against claircore's PostgreSQL schema and the Redis floor.

``redis_store.bench.postgres`` is the PostgreSQL baseline (claircore's schema and statements),
``servers`` starts private servers, ``harness`` measures and ``report`` writes JSON, Markdown
and the chart. Needs the ``bench`` extra: ``pip install 'redis-store[bench]'``.
"""
