"""The local cache: answers kept in the process, dropped when Redis says they changed.

``entries`` holds the answers, indexed by the Redis keys they were read from; ``tracking``
keeps one invalidation listener per node (RESP3 ``CLIENT TRACKING`` with ``REDIRECT``);
``uses`` batches the use times that reads served from memory still owe ``expire``. The store
(:mod:`redis_store.store.transport`) wires them together; ``docs/design.md`` says what is
cached and what is guaranteed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis_store.cache.entries import MISS, CacheStats, Entries, Fence


@dataclass(frozen=True)
class CacheConfig:
    """Limits of a store's local cache: ``RedisStore(client, local_cache=CacheConfig(...))``."""

    #: Answers kept at most (least recently used dropped first).
    max_entries: int = 100_000
    #: Bytes of answers kept at most (their size as read from Redis).
    max_bytes: int = 256 << 20
    #: Seconds an answer is kept at most, whatever Redis says: a backstop.
    max_age: float = 300.0

    def __post_init__(self) -> None:
        if not (isinstance(self.max_entries, int) and self.max_entries > 0):
            raise ValueError(f"max_entries must be a positive integer, not {self.max_entries!r}")
        if not (isinstance(self.max_bytes, int) and self.max_bytes > 0):
            raise ValueError(f"max_bytes must be a positive integer, not {self.max_bytes!r}")
        if not self.max_age > 0:
            raise ValueError(f"max_age must be positive seconds, not {self.max_age!r}")


@dataclass(frozen=True)
class LocalCacheState:
    """What ``store.local_cache`` says: whether answers are served from memory, and why not."""

    #: Asked for (``local_cache=`` not False).
    enabled: bool
    #: ``live`` (answers served from memory), ``starting``, ``reconnecting`` (tracking lost:
    #: reads go to Redis until it is back), ``off`` (see ``reason``) or ``closed``.
    state: str
    reason: str = ""
    #: The nodes an invalidation listener is connected to.
    nodes: tuple[str, ...] = ()
    config: CacheConfig = field(default_factory=CacheConfig)

    @property
    def live(self) -> bool:
        return self.state == "live"


__all__ = ["MISS", "CacheConfig", "CacheStats", "Entries", "Fence", "LocalCacheState"]
