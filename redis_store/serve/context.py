"""What one worker holds while it serves: its stores, its origin clients, the held state,
limits, metrics, and the memories of the miss path."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from redis_store.ops import mirror
from redis_store.ops.mirror import MirrorStatus
from redis_store.serve.auth import PskVerifier
from redis_store.serve.config import ServeConfig
from redis_store.serve.introspect import ServeMetrics
from redis_store.serve.limits import ConcurrencyLimit
from redis_store.serve.negotiate import GzipMemo
from redis_store.serve.origin import DatabaseReports, IndexerAPI
from redis_store.serve.state import OriginState
from redis_store.store import AsyncRedisStore

log = logging.getLogger("redis_store.serve")

#: How many not-found digests a worker remembers at most.
ABSENT_MAX = 100_000


@dataclass
class Serving:
    """A worker's serving state."""

    config: ServeConfig
    #: The tier, read on the hot path (with its local cache), and imported into.
    store: AsyncRedisStore
    api: IndexerAPI | None
    database: DatabaseReports | None
    state: OriginState
    verifier: PskVerifier | None
    limit: ConcurrencyLimit
    gzip: GzipMemo
    metrics: ServeMetrics
    #: Misses being read through, by digest (one fetch and import each).
    misses: dict[str, asyncio.Task[tuple[str, bytes | None]]] = field(default_factory=dict)
    #: Digests the origin had no report of, until when (monotonic time).
    absent: OrderedDict[str, float] = field(default_factory=OrderedDict)
    #: The mirror mark must be cleared but Redis did not take it yet.
    mirror_dirty: bool = False
    #: The last mirror status read (for the status file).
    last_mirror: MirrorStatus | None = None
    #: Whether Redis answered the last health check, and why not.
    redis_ok: bool = False
    redis_error: str = ""

    @property
    def origin_name(self) -> str:
        if self.api is not None:
            return self.api.name
        return self.database.name if self.database is not None else ""

    def recently_absent(self, digest: str) -> bool:
        until = self.absent.get(digest)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self.absent[digest]
        return False

    def note_absent(self, digest: str) -> None:
        ttl = self.config.not_found_ttl
        if ttl <= 0:
            return
        self.absent[digest] = time.monotonic() + ttl
        self.absent.move_to_end(digest)
        while len(self.absent) > ABSENT_MAX:
            self.absent.popitem(last=False)

    async def mirror_status(self) -> MirrorStatus:
        status = await mirror.status_async(self.store)
        self.last_mirror = status
        self.metrics.mirror_complete.set(1 if status.complete and not self.mirror_dirty else 0)
        return status

    async def mirror_lost(self, why: str) -> None:
        """The tier misses a manifest the origin finished: it is no longer a complete
        mirror. If Redis cannot take that now, this worker keeps retrying (and answers
        nothing from the tier that depends on it) until it can."""
        log.warning("the tier is no longer a complete mirror: %s", why)
        try:
            await mirror.clear_async(self.store)
        except Exception as e:  # Redis down: the background check retries
            log.warning("cannot clear the mirror mark yet (%s): retrying", e)
            self.mirror_dirty = True
            return
        self.mirror_dirty = False
        self.metrics.mirror_complete.set(0)


__all__ = ["Serving"]
