"""The blocking front end: :class:`RedisStore` over ``redis.Redis`` or ``fakeredis.FakeRedis``."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, TypeVar

import redis
from redis.exceptions import ResponseError

from redis_store.errors import LockError
from redis_store.models import Digest
from redis_store.observe import watch
from redis_store.store import locks, validate
from redis_store.store.calls import Batch, Fetch, Op, Pause
from redis_store.store.direct import DirectWire
from redis_store.store.operation import SyncDriver
from redis_store.store.transport import ClientStore, Send

R = TypeVar("R")


class RedisStore(SyncDriver, ClientStore):
    """claircore's indexer Store on a Redis server (blocking API)."""

    client_class = redis.Redis

    def __init__(self, client: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(client, *args, **kwargs)
        #: Sends batches straight on pooled connections (None: through redis-py's calls).
        self._direct = None if self.cluster or not DirectWire.usable(client) else DirectWire(client)

    def _run(self, op: Op[R]) -> R:
        """Run an operation to its end: each batch sent, each pause slept, each report
        fetched from the origin (its failure thrown into the operation, which cleans up)."""
        try:
            step = next(op)
            while True:
                if type(step) is list:  # a batch: the common case first
                    step = op.send(self._send(step))
                elif isinstance(step, Pause):
                    time.sleep(step.seconds)
                    step = op.send([])
                elif isinstance(step, Fetch):
                    try:
                        found = self._origin().fetch(step.digest)
                    except Exception as e:
                        step = op.throw(e)
                    else:
                        step = op.send([found])
                else:
                    step = op.send(self._send(step))
        except StopIteration as stop:
            result: R = stop.value
            return result

    def _send(self, batch: Batch) -> list[Any]:
        """One batch's replies: the exchange (``ClientStore._exchange``) run to its end."""
        exchange = self._exchange(batch)
        try:
            step = next(exchange)
            while True:
                if isinstance(step, Send):
                    step = exchange.send(self._send_calls(step.calls))
                else:
                    self._load_scripts()
                    step = exchange.send(None)
        except StopIteration as stop:
            replies: list[Any] = stop.value
            return replies

    def _load_scripts(self) -> None:
        direct = self._direct
        if direct is None:
            self._script_loader().execute()
            return
        replies = direct.send([("SCRIPT", "LOAD", s.script) for s in self.scripts.values()])
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply

    def _send_calls(self, calls: Batch) -> list[Any]:
        direct = self._direct
        if direct is not None:
            return direct.send([self._command(call) for call in calls])
        if len(calls) == 1:
            call = calls[0]
            try:
                return [self.client.execute_command(*self._command(call), **self._route(call))]
            except ResponseError as e:
                return [e]
        return list(self._pipeline(calls).execute(raise_on_error=False))

    def manifest_lock(
        self, manifest: Digest | str, *, blocking: bool = True, timeout: float | None = None
    ) -> ManifestLock:
        """The per-manifest index lock, as a context manager."""
        return ManifestLock(self, validate.digest(manifest, "manifest"), blocking, timeout)

    def close(self) -> None:
        """Close the client's connections (and the local cache's listeners)."""
        self._close_cache()
        self._close_origin()
        self.client.close()

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ManifestLock:
    """Holds a manifest's lock, renewing its expiry from a thread until released.

    A renewal that fails is tried again while the lock has not expired; if the lock is lost
    anyway, the store's writes of the manifest are refused from then on (they carry the
    lock's token), and leaving the ``with`` block raises :class:`LockError`."""

    def __init__(
        self, store: RedisStore, digest: Digest, blocking: bool, timeout: float | None
    ) -> None:
        self.store, self.digest = store, digest
        self.key = store.keys.lock(digest)
        self.backoff = locks.Backoff(blocking, timeout)
        self.token = locks.new_token()
        self.renewal = locks.Renewal(store.lock_ttl)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def lost(self) -> str | None:
        """Why the lock was lost while held (None while it is held)."""
        return self.renewal.lost

    def __enter__(self) -> ManifestLock:
        store, d = self.store, self.digest
        if d in store._held_locks:
            raise LockError(f"manifest {d} is already locked by this store")
        acquire = locks.acquire(d, self.key, self.token, store.lock_ttl, self.backoff)
        store._run(watch(store, "manifest_lock", acquire, d))
        self.renewal = locks.Renewal(store.lock_ttl)
        store._held_locks[d] = self.token
        self._renewer = threading.Thread(target=self._renew, daemon=True, name=f"lock {d}")
        self._renewer.start()
        return self

    def _renew(self) -> None:
        store, renewal = self.store, self.renewal
        while renewal.lost is None and not self._stop.wait(renewal.wait()):
            try:
                ok = store._run(locks.lock_op(self.key, "renew", self.token, store.lock_ttl))
            except Exception as e:  # a timeout, a broken connection: tried again
                renewal.failed(e)
            else:
                renewal.renewed(ok)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        store = self.store
        store._held_locks.pop(self.digest, None)
        try:
            store._run(locks.lock_op(self.key, "release", self.token, store.lock_ttl))
        finally:
            if self.renewal.lost is not None and kind is None:
                raise LockError(f"manifest {self.digest}: the lock was lost: {self.renewal.lost}")
