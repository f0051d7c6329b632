"""The workers of a bulk fill: each fetches reports and imports them, one at a time.

One job runs in the calling process. More run as worker processes (forked from a fresh
server process, so they share nothing with the caller but what they are sent), each with a
store and an origin of its own, made by the ``open_store`` and ``open_origin`` it is given
(which must therefore pickle: ``functools.partial`` of ``RedisStore.from_url`` and
``origin_from_url`` do). Each worker is sent one digest at a time over a pipe and answers
what came of it, so the caller always knows which report a worker holds: a worker that dies
is named with that report.

Workers ignore Ctrl-C: the caller decides when to stop and lets each worker finish the
report it holds (every import is whole or nothing), or, asked a second time, ends them at
once.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import multiprocessing.connection
import pickle
import signal
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store.errors import OriginError, StoreError
from redis_store.interrupts import sigint_handler
from redis_store.models import Digest
from redis_store.store import RedisStore
from redis_store.store.importing import ImportOutcome
from redis_store.store.readthrough import decode
from redis_store.store.replies import out_of_memory
from redis_store.tier.origins import Origin

#: What became of one digest: imported, skipped (stored already), missing (the origin has
#: no finished report), failed (with why), ``stop``: Redis cannot be written (out of
#: reach, out of memory), so no later report can be either (with why), or ``died``.
IMPORTED: Final = "imported"
SKIPPED: Final = "skipped"
MISSING: Final = "missing"
FAILED: Final = "failed"
STOP: Final = "stop"
#: The worker holding the digest died: the report is stored whole or not at all.
DIED: Final = "died"


@dataclass(frozen=True, slots=True)
class Done:
    """A worker's answer for one digest."""

    digest: Digest
    what: str
    why: str = ""


def fill_one(store: RedisStore, origin: Origin, d: Digest, lock_timeout: float) -> Done:
    """Fetch one manifest's report and import it."""
    try:
        source = origin.fetch(d)
        report = None if source is None else decode(origin.name, d, source)
        if report is None:
            return Done(d, MISSING)
        outcome = store.import_report(report, lock_timeout=lock_timeout)
    except (RedisConnectionError, RedisTimeoutError) as e:
        return Done(d, STOP, f"cannot reach Redis: {e}")
    except ResponseError as e:
        if out_of_memory(e):
            return Done(d, STOP, "Redis is out of memory (maxmemory): it refused a write")
        return Done(d, FAILED, f"{type(e).__name__}: {e}")
    except (OriginError, StoreError, ValueError) as e:
        return Done(d, FAILED, str(e))
    if outcome is ImportOutcome.IMPORTED:
        return Done(d, IMPORTED)
    # stored meanwhile (by a read-through or another fill), the same or not: left alone
    return Done(d, SKIPPED)


class InProcess:
    """One job, in the calling process."""

    def __init__(
        self,
        open_store: Callable[[], RedisStore],
        open_origin: Callable[[], Origin],
        lock_timeout: float,
    ) -> None:
        self.store = open_store()
        try:
            self.origin = open_origin()
        except BaseException:
            self.store.close()
            raise
        self.lock_timeout = lock_timeout

    def run(self, digests: Iterator[Digest], stopping: Callable[[], bool]) -> Iterator[Done]:
        """Each digest's outcome, until ``digests`` ends or ``stopping()``."""
        for d in digests:
            if stopping():
                return
            yield fill_one(self.store, self.origin, d, self.lock_timeout)

    def end(self, *, at_once: bool = False) -> None:
        self.store.close()
        self.origin.close()


def _serve(
    conn: multiprocessing.connection.Connection,
    open_store: Callable[[], RedisStore],
    open_origin: Callable[[], Origin],
    lock_timeout: float,
) -> None:
    """A worker process: import each digest it is sent until it is sent None (or the
    caller is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    store = open_store()
    origin = open_origin()
    try:
        while True:
            try:
                d = conn.recv()
            except (EOFError, OSError):  # the caller is gone
                return
            if d is None:
                return
            conn.send(fill_one(store, origin, d, lock_timeout))
    finally:
        store.close()
        origin.close()


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    conn: multiprocessing.connection.Connection
    holding: Digest | None = None


class Processes:
    """``jobs`` worker processes."""

    def __init__(
        self,
        jobs: int,
        open_store: Callable[[], RedisStore],
        open_origin: Callable[[], Origin],
        lock_timeout: float,
    ) -> None:
        for what, opener in (("open_store", open_store), ("open_origin", open_origin)):
            try:
                pickle.dumps(opener)
            except Exception as e:
                raise ValueError(
                    f"jobs > 1 runs worker processes: {what} must pickle (functools.partial of"
                    f" RedisStore.from_url / origin_from_url does): {e}"
                ) from None
        self.jobs, self.lock_timeout = jobs, lock_timeout
        self.open_store, self.open_origin = open_store, open_origin
        self.workers: list[_Worker] = []

    def _start(self) -> None:
        """Start the workers (once there is work for them: a resumed fill that finds
        everything stored starts none). They are forked from a server process that has the
        package loaded, so each starts in milliseconds, sharing nothing with the caller."""
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        with sigint_handler(signal.SIG_IGN):  # inherited: a worker never sees Ctrl-C
            for i in range(self.jobs):
                mine, theirs = context.Pipe()
                process = context.Process(
                    target=_serve,
                    args=(theirs, self.open_store, self.open_origin, self.lock_timeout),
                    name=f"redis-store fill {i}",
                    daemon=True,
                )
                process.start()
                theirs.close()
                self.workers.append(_Worker(process, mine))

    def run(self, digests: Iterator[Digest], stopping: Callable[[], bool]) -> Iterator[Done]:
        """Each digest's outcome, as the workers finish them, until ``digests`` ends or
        ``stopping()``; then every worker finishes the report it holds. A worker that ends
        while holding a report answers ``died`` for it, and no more reports are handed out."""
        first = next(digests, None)
        if first is None or stopping():
            return
        digests = itertools.chain([first], digests)
        self._start()
        idle = deque(self.workers)
        dead = False
        owner: dict[Any, _Worker] = {w.conn: w for w in self.workers}
        owner.update({w.process.sentinel: w for w in self.workers})
        exhausted = False
        while True:
            while idle and not exhausted and not dead and not stopping():
                d = next(digests, None)
                if d is None:
                    exhausted = True
                    break
                w = idle.popleft()
                w.holding = d
                w.conn.send(d)
            busy = [w for w in self.workers if w.holding is not None]
            if not busy:
                return
            ready = multiprocessing.connection.wait(
                [w.conn for w in busy] + [w.process.sentinel for w in busy]
            )
            for r in ready:
                w = owner[r]
                if w.holding is None:
                    continue
                done: Done | None = None
                if r is w.conn:
                    with contextlib.suppress(EOFError, OSError):  # a killed worker: reset or EOF
                        done = w.conn.recv()
                if done is None:
                    done = _died(w)
                    dead = True
                else:
                    idle.append(w)
                w.holding = None
                yield done

    def end(self, *, at_once: bool = False) -> None:
        """Stop every worker: after the report it holds, or ``at_once`` (terminated)."""
        for w in self.workers:
            if at_once:
                w.process.terminate()
            else:
                with contextlib.suppress(BrokenPipeError, OSError):
                    w.conn.send(None)
        for w in self.workers:
            w.process.join()
            w.conn.close()


def _died(w: _Worker) -> Done:
    w.process.join(1)
    code = w.process.exitcode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    assert w.holding is not None
    why = f"worker {w.process.name} (pid {w.process.pid}) died ({how}) while importing {w.holding}"
    return Done(w.holding, DIED, why)


__all__ = [
    "DIED",
    "FAILED",
    "IMPORTED",
    "MISSING",
    "SKIPPED",
    "STOP",
    "Done",
    "InProcess",
    "Processes",
    "fill_one",
]
