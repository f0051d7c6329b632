"""Manifest locks: the owner token, the lock script call, and the one acquire loop.

A lock is ``ns:{m:<digest>}:lock`` holding its owner's random token with an expiry
(``lock.lua``: acquire, renew and release are compare-and-set on the token). The acquire loop
is an operation like any other: it yields the lock call, and between attempts a
:class:`~redis_store.store.calls.Pause` that the front end sleeps (blocking or awaited), so
``ManifestLock``, ``AsyncManifestLock`` and the cluster steps share it. A leaf module: it
knows lock keys as strings, not the key layout or the store.
"""

from __future__ import annotations

import secrets
import time
from typing import Final, Literal

from redis_store.errors import LockError
from redis_store.options import flag, seconds
from redis_store.store.calls import Batch, Op, Pause, ScriptCall
from redis_store.store.replies import unwrap

LockOp = Literal["acquire", "renew", "release"]

#: First and longest pause between two attempts to take a held lock, in seconds.
FIRST_PAUSE: Final = 0.005
LONGEST_PAUSE: Final = 0.25


def new_token() -> str:
    """A lock owner's token: 128 random bits."""
    return secrets.token_hex(16)


def lock_call(key: str, op: LockOp, token: str, ttl: float) -> Batch:
    """The batch that acquires, renews or releases the lock ``key`` for ``token``."""
    return [ScriptCall("lock", [key], [op, token, int(ttl * 1000)])]


def lock_op(key: str, op: LockOp, token: str, ttl: float) -> Op[bool]:
    """One lock call; whether it succeeded (acquired, renewed, released by its owner)."""
    (reply,) = yield lock_call(key, op, token, ttl)
    return bool(unwrap(reply))


class Backoff:
    """Waiting for a lock: a deadline and growing pauses between attempts."""

    def __init__(self, blocking: bool, timeout: float | None) -> None:
        self.blocking = flag(blocking, "blocking")
        if timeout is not None:
            timeout = seconds(timeout, "timeout", least=0)
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.pause = FIRST_PAUSE

    def next_pause(self) -> float | None:
        """Seconds to sleep before the next attempt, or None to give up."""
        if not self.blocking:
            return None
        pause, self.pause = self.pause, min(self.pause * 2, LONGEST_PAUSE)
        if self.deadline is None:
            return pause
        left = self.deadline - time.monotonic()
        return None if left <= 0 else min(pause, left)


def acquire(digest: str, key: str, token: str, ttl: float, backoff: Backoff) -> Op[None]:
    """Take the lock of manifest ``digest``, pausing between attempts as ``backoff`` says;
    raises :class:`LockError` when it gives up."""
    while not (yield from lock_op(key, "acquire", token, ttl)):
        pause = backoff.next_pause()
        if pause is None:
            raise lock_error(digest, backoff.timeout if backoff.blocking else None)
        yield Pause(pause)


class Renewal:
    """When a holder renews its lock, and when it has lost it.

    A renewal every ``ttl / 3`` seconds; one that fails (a timeout, a broken connection) is
    tried again at once and then more and more slowly, as long as the lock has not expired
    since the last renewal that succeeded. A renewal the server refuses (the token is not
    there: expired, or taken by another) means the lock is lost at once. The front ends'
    renewal loops follow this; the holder learns of a loss when it releases the lock.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.expires = time.monotonic() + ttl
        self.failures = 0
        #: Why the lock was lost, once it was (None while held).
        self.lost: str | None = None

    def wait(self) -> float:
        """Seconds until the next attempt."""
        if not self.failures:
            return self.ttl / 3
        pause: float = min(FIRST_PAUSE * 2.0**self.failures, LONGEST_PAUSE, self.ttl / 10)
        return max(0.0, min(pause, self.expires - time.monotonic()))

    def renewed(self, ok: bool) -> None:
        """A renewal the server answered: ``ok`` when it still held this holder's token."""
        if ok:
            self.expires = time.monotonic() + self.ttl
            self.failures = 0
        else:
            self.lost = "it expired or another indexer took it"

    def failed(self, error: BaseException) -> None:
        """A renewal that got no answer."""
        self.failures += 1
        if time.monotonic() >= self.expires:
            self.lost = (
                f"it could not be renewed before it expired ({type(error).__name__}: {error})"
            )


def lock_error(digest: str, waited: float | None) -> LockError:
    """Another owner holds the lock: right away (``waited`` None), or after a wait."""
    if waited is None:
        return LockError(f"manifest {digest} is locked by another indexer")
    return LockError(f"manifest {digest} is still locked by another indexer after {waited:g}s")


__all__ = [
    "Backoff",
    "LockOp",
    "Renewal",
    "acquire",
    "lock_call",
    "lock_error",
    "lock_op",
    "new_token",
]
