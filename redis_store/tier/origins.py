"""What an origin is, and how a store reads through one (:class:`ReadThrough`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from redis_store.errors import InvalidInputError
from redis_store.models import Digest


@runtime_checkable
class Origin(Protocol):
    """Where a cache tier's reports really live (Clair's indexer API, or its database).

    Origins block; an asyncio store calls them in a worker thread, so they must be safe to
    call from several threads at once.
    """

    #: How the origin is named in messages (its URL without credentials).
    name: str
    #: Seconds one fetch may take before it fails with :class:`OriginError`.
    timeout: float

    def fetch(self, digest: str) -> bytes | None:
        """The manifest's report in claircore's JSON, or None when the origin has none.

        Raises :class:`~redis_store.errors.OriginError` when the origin cannot answer."""
        ...

    def digests(self) -> Iterator[Digest]:
        """Every manifest the origin holds a finished report of (for bulk loads); raises
        :class:`~redis_store.errors.OriginError` if it cannot list them."""
        ...

    def close(self) -> None:
        """Release the origin's connections."""
        ...


@dataclass(frozen=True, slots=True)
class TierStats:
    """What a store's read-through did since it was made."""

    #: Reports asked of the origin (each a miss that took the manifest's lock).
    fetched: int
    #: Reports imported from the origin.
    imported: int
    #: Misses the origin had no finished report for, and misses answered from that memory.
    not_found: int
    not_found_remembered: int
    #: Misses that found the report imported (by another process) once the lock was theirs.
    imported_elsewhere: int
    #: Fetches or imports that failed (an OriginError, or the import undone).
    failed: int


@dataclass
class ReadThrough:
    """A store's origin and how it reads through it.

    ``not_found_ttl``: how long a manifest the origin has no finished report of is
    remembered as such in this process (a client polling for a report being indexed
    asks the origin at most once per this many seconds). ``lock_timeout``: how long a miss
    waits for another process that is importing the same manifest (default: twice the
    origin's timeout, plus 5 s). ``remembered``: at most this many not-found digests kept.
    """

    origin: Origin
    not_found_ttl: float = 5.0
    lock_timeout: float | None = None
    remembered: int = 100_000
    _absent: OrderedDict[str, float] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _counts: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    #: Digests this store is importing now (their lock is then held by the import, not by
    #: the caller: a second miss of the same digest waits for the lock).
    filling: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.origin, Origin):
            raise InvalidInputError(f"origin: expected an Origin, got {type(self.origin).__name__}")
        if not self.not_found_ttl >= 0:
            raise InvalidInputError("not_found_ttl must be zero or positive")
        if self.lock_timeout is not None and not self.lock_timeout > 0:
            raise InvalidInputError("lock_timeout must be positive")
        if self.remembered < 0:
            raise InvalidInputError("remembered must be zero or positive")

    @property
    def wait(self) -> float:
        """Seconds a miss waits for the manifest's lock."""
        if self.lock_timeout is not None:
            return self.lock_timeout
        return 2 * self.origin.timeout + 5.0

    def recently_absent(self, digest: str) -> bool:
        """Whether the origin said "none" for ``digest`` less than ``not_found_ttl`` ago."""
        with self._lock:
            until = self._absent.get(digest)
            if until is None:
                return False
            if until > time.monotonic():
                self.count("not_found_remembered")
                return True
            del self._absent[digest]
            return False

    def note_absent(self, digest: str) -> None:
        if self.not_found_ttl == 0 or self.remembered == 0:
            return
        with self._lock:
            self._absent[digest] = time.monotonic() + self.not_found_ttl
            self._absent.move_to_end(digest)
            while len(self._absent) > self.remembered:
                self._absent.popitem(last=False)

    def forget_absent(self, digest: str) -> None:
        with self._lock:
            self._absent.pop(digest, None)

    def count(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1

    def stats(self) -> TierStats:
        c = self._counts
        return TierStats(
            fetched=c.get("fetched", 0),
            imported=c.get("imported", 0),
            not_found=c.get("not_found", 0),
            not_found_remembered=c.get("not_found_remembered", 0),
            imported_elsewhere=c.get("imported_elsewhere", 0),
            failed=c.get("failed", 0),
        )


__all__ = ["Origin", "ReadThrough", "TierStats"]
