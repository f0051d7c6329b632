"""The one place the server writes a finished report into the tier.

A report the origin finished (a miss read through, a POST's answer) is imported whole,
under the manifest's lock, as claircore's controller would have written it
(:func:`redis_store.replay.import_report`: checked first, undone if it fails part-way).
Today that runs on a blocking store of its own, in a thread, so the event loop never
waits on it.
"""

from __future__ import annotations

import asyncio

from redis_store.models import IndexReport
from redis_store.replay import ImportOutcome, import_report
from redis_store.store import RedisStore

#: Seconds an import waits for an indexer holding the manifest's lock.
LOCK_WAIT = 30.0


async def import_finished(
    store: RedisStore, report: IndexReport, *, force: bool = False
) -> ImportOutcome:
    """Import ``report``; with ``force``, replace a finished report the tier holds that
    says something else (the origin re-indexed the manifest)."""
    return await asyncio.to_thread(
        import_report, store, report, force=force, lock_timeout=LOCK_WAIT
    )


__all__ = ["import_finished"]
