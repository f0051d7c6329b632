"""Commands that run until stopped (``evict --watch``): a pass every few seconds, as a daemon.

A daemon outlives its Redis: a restart, a Sentinel failover or a network cut makes passes
fail for a while. :func:`run_passes` keeps going: a pass that cannot reach Redis is said on
stderr at once (the work it does is not being done), retried with a growing pause
(:class:`Backoff`), said again every ``remind`` seconds while it lasts, and its end is said
too. Only a misconfiguration (the URL or the server's setup is wrong: running again cannot
help) ends the loop, with exit status 2. Ctrl-C or SIGTERM lets the pass under way finish
(a second one stops it at once) and exits 130 or 143.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Event

from redis.exceptions import RedisClusterException, RedisError

from redis_store.cli.connection import explained, open_store, store_label
from redis_store.cli.console import warn
from redis_store.cli.errors import INTERRUPTED, CommandError, Misconfigured
from redis_store.cli.interrupts import stop_requested
from redis_store.store import RedisStore

#: One pass: the store and the stop event (set by Ctrl-C; a pass checks it between steps).
Pass = Callable[[RedisStore, Event], None]
#: Called with the one-line reason whenever a pass could not reach Redis.
OnOutage = Callable[[str], None]


@dataclass
class Backoff:
    """Pauses between attempts while Redis is out of reach: ``first``, doubling up to ``cap``."""

    first: float = 0.5
    cap: float = 30.0
    _next: float = 0.0

    def pause(self) -> float:
        self._next = min(self.cap, self._next * 2) if self._next else self.first
        return self._next

    def reset(self) -> None:
        self._next = 0.0


def _reason(error: BaseException, args: argparse.Namespace) -> str:
    """Why a pass failed, in one line; raises :class:`Misconfigured` when retrying cannot help."""
    found = explained(error, store_label(args))
    if isinstance(found, Misconfigured):
        raise found
    if isinstance(found, CommandError):
        return str(found)
    first = str(error).splitlines()[0] if str(error) else ""
    return f"Redis error: {type(error).__name__}: {first}"


def run_passes(
    args: argparse.Namespace,
    command: str,
    interval: float,
    one_pass: Pass,
    *,
    what: str,
    on_outage: OnOutage | None = None,
    remind: float = 60.0,
    backoff: Backoff | None = None,
) -> int:
    """Run ``one_pass`` every ``interval`` seconds until stopped; exit status 130 (143 for
    SIGTERM) then. ``what`` names what is not done while Redis is out of reach (for the
    lines on stderr)."""
    backoff = backoff or Backoff()
    note = f"\nredis-store {command}: stopping after this pass (again: at once)"
    store: RedisStore | None = None
    down_since: float | None = None
    said = 0.0
    with stop_requested(note) as stop:
        try:
            while not stop.is_set():
                try:
                    if store is None:
                        store = open_store(args)
                    one_pass(store, stop)
                except Misconfigured:
                    raise
                except (CommandError, RedisError, RedisClusterException) as e:
                    reason = str(e) if isinstance(e, CommandError) else _reason(e, args)
                    now = time.monotonic()
                    if on_outage is not None:
                        on_outage(reason)
                    pause = backoff.pause()
                    if down_since is None or now - said >= remind:
                        since = "" if down_since is None else f" (for {now - down_since:.0f} s)"
                        why = reason.rstrip(". ")
                        warn(command, f"{why}{since}; {what}; retrying, next in {pause:g} s")
                        said = now
                    if down_since is None:
                        down_since = now
                    stop.wait(pause)
                    continue
                if down_since is not None:
                    warn(
                        command,
                        f"Redis answers again after {time.monotonic() - down_since:.0f} s",
                    )
                    down_since = None
                    backoff.reset()
                stop.wait(interval)
        finally:
            if store is not None:
                store.close()
    return INTERRUPTED


__all__ = ["Backoff", "Pass", "run_passes"]
