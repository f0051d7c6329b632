"""The one place the server writes a finished report into the tier.

A report the origin finished (a miss read through, a POST's answer) is imported whole with
the store's ``import_report``: one script call (per-slot steps under the manifest's lock on
a cluster), written whole or not at all, as claircore's controller would have left it.
"""

from __future__ import annotations

from redis_store.store import AsyncRedisStore
from redis_store.store.importing import ImportOutcome, Prepared

#: Seconds an import waits for an indexer holding the manifest's lock.
LOCK_WAIT = 30.0


async def import_finished(
    store: AsyncRedisStore, report: Prepared, *, force: bool = False
) -> ImportOutcome:
    """Import ``report``; with ``force``, replace a finished report the tier holds that
    says something else (the origin re-indexed the manifest)."""
    return await store.import_report(report, force=force, lock_timeout=LOCK_WAIT)


__all__ = ["import_finished"]
