"""A bulk fill: every report an origin holds (or those named) that the store lacks.

Reports already in the store are skipped before anything is fetched, so a fill stopped
part-way is resumed by running it again. The rest are fetched and imported by workers
(:mod:`.workers`), each report with the store's ``import_report``: whole or not at all.
Setting ``stop`` (the command line does on Ctrl-C) stops handing out reports and lets every
worker finish the one it holds; a KeyboardInterrupt (the command line's second Ctrl-C) ends
the workers at once (an import cut short is not written).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store import ops
from redis_store.errors import OriginError
from redis_store.fill.workers import (
    DIED,
    FAILED,
    IMPORTED,
    MISSING,
    SKIPPED,
    STOP,
    InProcess,
    Processes,
)
from redis_store.models import Digest
from redis_store.ops import mirror
from redis_store.ops.scan import batched
from redis_store.store import RedisStore, validate
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
    #: Why the fill stopped early (Redis unreachable or full, the origin's listing failed,
    #: a worker died).
    aborted: str = ""
    #: Worker processes used (0: the fill ran in the calling process).
    processes: int = 0
    #: Whether the fill read the origin's whole listing and imported all of it: the tier
    #: then holds every finished manifest the origin holds (:mod:`redis_store.ops.mirror`).
    complete_mirror: bool = False

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
            "processes": self.processes,
            "complete_mirror": self.complete_mirror,
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
            if self.imported:
                text += f" ({self.imported_per_second:.1f} imported/s)"
        return text


def fill_from_origin(
    open_store: Callable[[], RedisStore],
    open_origin: Callable[[], Origin],
    digests: Iterable[str] | None = None,
    *,
    jobs: int = 1,
    lock_timeout: float = 10.0,
    on_progress: FillProgress | None = None,
    stop: threading.Event | None = None,
) -> FillResult:
    """Import the origin's reports (``digests``, or every one it lists) not yet stored.

    ``open_store`` and ``open_origin`` make a store and an origin (one for the listing and
    the check of what is stored, one per worker); with ``jobs`` > 1 the workers are
    processes and both must pickle. A report that fails is in ``failed``; nothing is
    raised for it. Raises :class:`OriginError` when the origin cannot be opened.
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    result = FillResult()
    stop = stop or threading.Event()
    start = time.perf_counter()
    listing = list(digests) if digests is not None else None
    total = None if listing is None else len(listing)

    def progress() -> None:
        if on_progress is not None:
            on_progress(result.handled, total)

    checker = open_store()
    try:
        origin = open_origin() if listing is None else None
        # a fill of the whole listing marks the tier a complete mirror when all of it is in
        mark = mirror.begin_fill(checker) if origin is not None else None
        try:
            source: Iterator[str] = iter(listing) if listing is not None else origin.digests()  # type: ignore[union-attr]
            todo = _not_stored(checker, source, result, progress, stop)
            workers: InProcess | Processes = (
                InProcess(open_store, open_origin, lock_timeout)
                if jobs == 1
                else Processes(jobs, open_store, open_origin, lock_timeout)
            )
            result.processes = 0 if jobs == 1 else jobs
            uncertain: list[Digest] = []  # held by a worker that died
            _run(workers, todo, result, progress, stop, uncertain)
            for d, stored in zip(uncertain, ops.reports_exist(checker, uncertain), strict=True):
                if stored:  # it died after its import was written
                    result.imported.append(d)
            whole = not (result.failed or result.interrupted or result.aborted or stop.is_set())
            if mark is not None and origin is not None and whole:
                status = mirror.mark_complete(checker, mark, origin=origin.name)
                result.complete_mirror = status.complete
            if stop.is_set() and not result.aborted:  # the caller asked to stop
                result.interrupted = True
        finally:
            if origin is not None:
                origin.close()
    except OriginError as e:
        result.aborted = str(e)
    except (RedisConnectionError, RedisTimeoutError) as e:
        result.aborted = f"cannot reach Redis: {e}"
    finally:
        checker.close()
    result.seconds = time.perf_counter() - start
    return result


def _not_stored(
    checker: RedisStore,
    digests: Iterator[str],
    result: FillResult,
    progress: Callable[[], None],
    stop: threading.Event,
) -> Iterator[Digest]:
    """The digests whose report is not stored, checked 500 at a time (the others are
    counted as skipped)."""
    for chunk in batched(digests, 500):
        if stop.is_set():
            return
        wanted = [validate.digest(d, "digests") for d in chunk]
        for d, stored in zip(wanted, ops.reports_exist(checker, wanted), strict=True):
            if stored:
                result.skipped.append(d)
                progress()
            else:
                yield d


def _run(
    workers: InProcess | Processes,
    todo: Iterator[Digest],
    result: FillResult,
    progress: Callable[[], None],
    stop: threading.Event,
    uncertain: list[Digest],
) -> None:
    """Hand out the digests and count what comes back, until they run out or ``stop`` is
    set (then every worker finishes the report it holds). KeyboardInterrupt ends the
    workers at once."""
    at_once = False
    try:
        for done in workers.run(todo, stop.is_set):
            if done.what == IMPORTED:
                result.imported.append(done.digest)
            elif done.what == SKIPPED:
                result.skipped.append(done.digest)
            elif done.what == MISSING:
                result.missing.append(done.digest)
            elif done.what == FAILED:
                result.failed.append((done.digest, done.why))
            elif done.what in (STOP, DIED):
                if done.what == DIED:
                    uncertain.append(done.digest)
                if not result.aborted:
                    result.aborted = done.why
                stop.set()
            progress()
    except KeyboardInterrupt:
        result.interrupted = True
        at_once = True
    except OriginError as e:  # the origin's listing may fail part-way
        result.aborted = str(e)
        stop.set()
    finally:
        workers.end(at_once=at_once)


__all__ = ["FillProgress", "FillResult", "fill_from_origin"]
