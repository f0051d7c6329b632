"""A Clair indexer database made from IndexReports: claircore's schema, filled the way
claircore's controller fills it (the origin a cache tier reads through, for tests and the
README's walk-through)."""

from __future__ import annotations

from collections.abc import Iterable

from benchmarks.postgres import PostgresStore
from redis_store import replay
from redis_store.models import Digest, IndexReport


def fill_clair_database(
    dsn: str, reports: Iterable[IndexReport], *, fresh: bool = False
) -> list[Digest]:
    """Create claircore's indexer schema in the database ``dsn`` (if missing; ``fresh``
    drops it first) and index every report into it; returns their digests."""
    store = PostgresStore(dsn, create_schema=False)
    try:
        if fresh:
            store.drop_schema()
        store.create_schema()
        done = []
        for report in reports:
            replay.replay(store, report)
            done.append(Digest(report.hash or ""))
        store.analyze()
        return done
    finally:
        store.close()


__all__ = ["fill_clair_database"]
