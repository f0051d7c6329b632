"""The entries of the local cache: bounded, indexed by the Redis keys they depend on.

Every entry names the Redis keys its answer was read from. An invalidation of a key (from
the server's tracking, or from the store's own write) drops every entry indexed under it,
in O(entries dropped), whatever the cache's size. The cache is an LRU bounded by entries and
by bytes, and every entry has a maximum age, as a backstop.

A read that misses takes a :class:`Fence` before it is sent and offers its answer with it
afterwards; the answer is kept only if none of its keys was invalidated in between and the
tracking that covers it is still the same (same listener connections, still live). So an
invalidation that overtakes the reply it concerns is never lost.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

#: What :meth:`Entries.get` returns when the cache holds no answer.
MISS: Final = object()

#: Recent invalidations remembered per key for fences; past this, fences taken before the
#: oldest forgotten invalidation refuse their answers (nothing is ever kept on doubt).
REMEMBERED_INVALIDATIONS: Final = 65536


@dataclass
class CacheStats:
    """What the local cache did since the store was made (``store.cache_stats()``)."""

    hits: int = 0
    misses: int = 0
    #: Entries dropped because a key they depend on changed (server or own write).
    invalidations: int = 0
    #: Entries dropped to stay within the size limits or past their maximum age.
    evictions: int = 0
    #: Answers not kept because a key changed while they were being read.
    refused: int = 0
    #: Times everything was dropped (connection lost, FLUSHDB, failover ...).
    flushes: int = 0
    entries: int = 0
    bytes: int = 0


@dataclass(slots=True)
class Fence:
    """Taken by a read before it is sent: the tracking epoch and invalidation count then.

    ``tracked`` is set by the transport once the server confirmed it tracks the read's
    connection for this cache (``CLIENT TRACKING ... REDIRECT``); an answer read without it
    is never kept."""

    epoch: int
    seq: int
    tracked: bool = False


@dataclass(slots=True)
class _Entry:
    value: Any
    depends: tuple[str, ...]
    size: int
    expires: float


@dataclass
class Entries:
    """The cache's entries. Thread-safe: one lock around every change (a store may be used
    from several threads, and invalidations are applied from the listener thread)."""

    max_entries: int = 100_000
    max_bytes: int = 256 << 20
    max_age: float = 300.0
    #: Called before every look-up and store, under the lock (the tracking shares it):
    #: applies invalidations that already arrived (the tracking's non-blocking poll), so
    #: none is ever answered past.
    poll: Callable[[], None] = lambda: None
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._by_key: dict[str, set[Hashable]] = {}
        self._seq = 0
        self._invalidated_at: dict[str, int] = {}
        self._forgotten_below = 0
        #: Changes whenever tracking is lost or re-established: fences of another epoch
        #: refuse their answers.
        self.epoch = 0
        #: Whether answers may be kept at all (tracking live).
        self.live = False

    # -- reading ---------------------------------------------------------------------------
    def get(self, key: Hashable) -> Any:
        """The answer kept under ``key``, or :data:`MISS`."""
        with self.lock:
            self.poll()
            entry = self._entries.get(key)
            if entry is None or not self.live:
                self.stats.misses += 1
                return MISS
            if entry.expires <= time.monotonic():
                self._drop(key, entry)
                self.stats.evictions += 1
                self.stats.misses += 1
                return MISS
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry.value

    def hit(self, key: Hashable, *, falsy: bool = True) -> Any:
        """The answer kept under ``key`` if there is one (counted as a hit), else
        :data:`MISS` without counting a miss: a method's shortcut asks this first, and on
        :data:`MISS` its operation looks the answer up again and counts the miss once.
        ``falsy=False`` takes a kept false answer as MISS (the operation has more to do
        with it, such as reading it through from an origin)."""
        with self.lock:
            self.poll()
            entry = self._entries.get(key)
            if entry is None or not self.live or (not falsy and not entry.value):
                return MISS
            if entry.expires <= time.monotonic():
                return MISS
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry.value

    def fence(self) -> Fence:
        """What a read takes before it is sent (see :class:`Fence`)."""
        with self.lock:
            return Fence(self.epoch, self._seq)

    def put(
        self, key: Hashable, value: Any, depends: Iterable[str], size: int, fence: Fence
    ) -> bool:
        """Keep ``value`` under ``key`` if nothing it ``depends`` on changed since ``fence``;
        returns whether it was kept."""
        deps = tuple(depends)
        with self.lock:
            self.poll()
            if not self._admissible(deps, fence):
                self.stats.refused += 1
                return False
            entries = self._entries
            old = entries.get(key)
            if old is not None:
                self._drop(key, old)
            entries[key] = _Entry(value, deps, size, time.monotonic() + self.max_age)
            by_key = self._by_key
            for d in deps:
                keys = by_key.get(d)
                if keys is None:
                    by_key[d] = {key}
                else:
                    keys.add(key)
            stats = self.stats
            stats.bytes += size
            stats.entries = len(entries)
            if stats.entries > self.max_entries or stats.bytes > self.max_bytes:
                self._shrink()
            return True

    def _admissible(self, deps: tuple[str, ...], fence: Fence) -> bool:
        if not (self.live and fence.tracked and fence.epoch == self.epoch):
            return False
        if fence.seq == self._seq:
            return True
        if fence.seq < self._forgotten_below:
            return False
        at = self._invalidated_at
        return all(at.get(d, -1) <= fence.seq for d in deps)

    # -- dropping ----------------------------------------------------------------------------
    def invalidate(self, keys: Iterable[str]) -> int:
        """Drop every entry that depends on one of ``keys``; returns how many."""
        dropped = 0
        with self.lock:
            for key in keys:
                self._seq += 1
                self._invalidated_at[key] = self._seq
                for entry_key in self._by_key.pop(key, ()):
                    entry = self._entries.get(entry_key)
                    if entry is not None:
                        self._drop(entry_key, entry)
                        dropped += 1
            if len(self._invalidated_at) > REMEMBERED_INVALIDATIONS:
                self._invalidated_at.clear()
                self._forgotten_below = self._seq + 1
            self.stats.invalidations += dropped
        return dropped

    def clear(self, *, live: bool | None = None) -> None:
        """Drop everything and start a new epoch (tracking lost, re-established, a flush);
        ``live`` also says whether answers may be kept from now on."""
        with self.lock:
            if self._entries:
                self.stats.flushes += 1
            self._entries.clear()
            self._by_key.clear()
            self._invalidated_at.clear()
            self._seq += 1
            self._forgotten_below = self._seq
            self.epoch += 1
            if live is not None:
                self.live = live
            self.stats.entries = 0
            self.stats.bytes = 0

    def _drop(self, key: Hashable, entry: _Entry) -> None:
        del self._entries[key]
        for d in entry.depends:
            keys = self._by_key.get(d)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_key[d]
        self.stats.bytes -= entry.size
        self.stats.entries = len(self._entries)

    def _shrink(self) -> None:
        while self._entries and (
            len(self._entries) > self.max_entries or self.stats.bytes > self.max_bytes
        ):
            key, entry = next(iter(self._entries.items()))
            self._drop(key, entry)
            self.stats.evictions += 1

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["MISS", "CacheStats", "Entries", "Fence"]
