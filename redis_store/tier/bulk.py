"""Filling a store from an origin ahead of time: every manifest it lists, or those named.

Reports already in the store are skipped before anything is fetched (so a fill stopped
part-way is resumed by running it again); the rest are fetched and imported by ``jobs``
worker threads, each with a store of its own, each report through
:func:`redis_store.replay.import_report` (under its lock, whole or not at all). Stopping
(``stop`` set, or Ctrl-C in the calling thread) lets every worker finish the report it is
on, so what is in the store is whole.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store import ops, replay
from redis_store.errors import OriginError, StoreError
from redis_store.models import Digest
from redis_store.ops.scan import batched
from redis_store.store import RedisStore, validate
from redis_store.store.fill import decode
from redis_store.tier.origins import Origin

#: ``on_progress(handled, total)``: total is None while the listing is still being read.
FillProgress = Callable[[int, int | None], None]


@dataclass
class FillResult:
    """What a fill did."""

    imported: list[Digest] = field(default_factory=list)
    #: Already in the store (skipped before fetching, or found stored when imported).
    skipped: list[Digest] = field(default_factory=list)
    #: The origin had no finished report of these.
    missing: list[Digest] = field(default_factory=list)
    failed: list[tuple[Digest, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    #: Why the fill stopped early (Redis unreachable, the origin's listing failed).
    aborted: str = ""

    @property
    def handled(self) -> int:
        return len(self.imported) + len(self.skipped) + len(self.missing) + len(self.failed)

    @property
    def imported_per_second(self) -> float:
        return len(self.imported) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": len(self.imported),
            "skipped": len(self.skipped),
            "missing": len(self.missing),
            "failed": len(self.failed),
            "seconds": round(self.seconds, 3),
            "imported_per_second": round(self.imported_per_second, 1),
            "interrupted": self.interrupted,
            "aborted": self.aborted or None,
            "failures": [{"digest": d, "error": e} for d, e in self.failed],
            "missing_digests": self.missing,
        }

    def summary(self) -> str:
        text = (
            f"imported {len(self.imported)}, skipped {len(self.skipped)} (already here),"
            f" missing {len(self.missing)} (no finished report at the origin),"
            f" failed {len(self.failed)}"
        )
        if self.seconds > 0:
            text += f" in {self.seconds:.2f} s"
            if self.imported:  # a rate of nothing imported says nothing
                text += f" ({self.imported_per_second:.1f} imported/s)"
        return text


def fill_from_origin(
    open_store: Callable[[], RedisStore],
    origin: Origin,
    digests: Iterable[str] | None = None,
    *,
    jobs: int = 1,
    lock_timeout: float = 10.0,
    on_progress: FillProgress | None = None,
    stop: threading.Event | None = None,
) -> FillResult:
    """Import the origin's reports (``digests``, or every one it lists) not yet stored.

    ``open_store`` makes a store per worker (and one to check what is stored); each is
    closed at the end. Raises nothing for a report that fails: it is in ``failed``.
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    result = FillResult()
    stop = stop or threading.Event()
    work: queue.Queue[Digest | None] = queue.Queue(maxsize=4 * jobs)
    lock = threading.Lock()
    start = time.perf_counter()
    total: int | None = None
    listing = list(digests) if digests is not None else None
    if listing is not None:
        total = len(listing)

    def progress() -> None:
        if on_progress is not None:
            on_progress(result.handled, total)

    def record(bucket: list[Any], item: Any) -> None:
        with lock:
            bucket.append(item)
            progress()

    def worker() -> None:
        store = open_store()
        try:
            while (d := work.get()) is not None:
                if stop.is_set() or result.aborted:
                    continue  # drain: the feeder is stopping too
                _one(store, origin, d, lock_timeout, result, record)
        except (RedisConnectionError, RedisTimeoutError) as e:
            result.aborted = f"cannot reach Redis: {e}"
            stop.set()
            while work.get() is not None:  # let the feeder finish
                pass
        finally:
            store.close()

    threads = [threading.Thread(target=worker, name=f"fill {i}") for i in range(jobs)]
    for t in threads:
        t.start()
    checker = open_store()
    try:
        source: Iterator[str] = iter(listing) if listing is not None else origin.digests()
        for chunk in batched(source, 500):
            if stop.is_set():
                break
            wanted = [validate.digest(d, "digests") for d in chunk]
            for d, stored in zip(wanted, ops.reports_exist(checker, wanted), strict=True):
                if stop.is_set():
                    break
                if stored:
                    record(result.skipped, d)
                else:
                    work.put(d)
    except KeyboardInterrupt:
        result.interrupted = True
        stop.set()
    except OriginError as e:
        result.aborted = str(e)
        stop.set()
    except (RedisConnectionError, RedisTimeoutError) as e:
        result.aborted = f"cannot reach Redis: {e}"
        stop.set()
    finally:
        for _ in threads:
            work.put(None)
        try:
            for t in threads:
                t.join()
        except KeyboardInterrupt:  # a second Ctrl-C while workers finish: wait anyway
            result.interrupted = True
            for t in threads:
                t.join()
        checker.close()
    result.seconds = time.perf_counter() - start
    return result


def _one(
    store: RedisStore,
    origin: Origin,
    d: Digest,
    lock_timeout: float,
    result: FillResult,
    record: Callable[[list[Any], Any], None],
) -> None:
    """Fetch and import one manifest's report, recording what came of it."""
    try:
        source = origin.fetch(d)
        report = None if source is None else decode(origin.name, d, source)
        if report is None:
            return record(result.missing, d)
        outcome = replay.import_report(store, report, lock_timeout=lock_timeout)
    except (RedisConnectionError, RedisTimeoutError):
        raise
    except (OriginError, StoreError, ValueError) as e:
        return record(result.failed, (d, str(e)))
    if outcome is replay.ImportOutcome.IMPORTED:
        record(result.imported, d)
    else:  # stored meanwhile, by a read-through or another fill
        record(result.skipped, d)


__all__ = ["FillProgress", "FillResult", "fill_from_origin"]
