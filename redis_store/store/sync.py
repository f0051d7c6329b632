"""The blocking front end: :class:`RedisStore` over ``redis.Redis`` or ``fakeredis.FakeRedis``."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import redis
from redis.exceptions import ResponseError

from redis_store.errors import LockError
from redis_store.models import Digest
from redis_store.store import validate
from redis_store.store.core import lock_error, new_token
from redis_store.store.protocol import Batch, SyncDriver
from redis_store.store.transport import (
    Backoff,
    ClientStore,
    merge,
    missing_scripts,
)


class RedisStore(SyncDriver, ClientStore):
    """claircore's indexer Store on a Redis server (blocking API)."""

    client_class = redis.Redis

    def _send_once(self, batch: Batch) -> list[Any]:
        wire = self._durable(batch)
        if len(wire) == 1:
            try:
                return [
                    self.client.execute_command(*self._command(wire[0]), **self._route(wire[0]))
                ]
            except ResponseError as e:
                return [e]
        replies = self._pipeline(wire).execute(raise_on_error=False)
        return self._acknowledged(batch, list(replies))

    def _send(self, batch: Batch) -> list[Any]:
        replies = self._send_once(batch)
        missing = missing_scripts(batch, replies)
        if missing:
            self._script_loader().execute()
            merge(replies, missing, self._send_once([batch[i] for i in missing]))
        return replies

    def manifest_lock(
        self, manifest: Digest | str, *, blocking: bool = True, timeout: float | None = None
    ) -> ManifestLock:
        """The per-manifest index lock, as a context manager."""
        return ManifestLock(self, validate.digest(manifest, "manifest"), blocking, timeout)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ManifestLock:
    """Holds a manifest's lock, renewing its expiry from a thread until released."""

    def __init__(
        self, store: RedisStore, digest: Digest, blocking: bool, timeout: float | None
    ) -> None:
        self.store, self.digest = store, digest
        self.backoff = Backoff(blocking, timeout)
        self.token = new_token()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> ManifestLock:
        store, d = self.store, self.digest
        if d in store._held_locks:
            raise LockError(f"manifest {d} is already locked by this store")
        while not store._lock_op(d, "acquire", self.token):
            pause = self.backoff.next_pause()
            if pause is None:
                raise lock_error(d, self.backoff.timeout)
            time.sleep(pause)
        store._held_locks[d] = self.token
        self._renewer = threading.Thread(target=self._renew, daemon=True, name=f"lock {d}")
        self._renewer.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.store.lock_ttl / 3):
            self.store._lock_op(self.digest, "renew", self.token)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self.store._held_locks.pop(self.digest, None)
        self.store._lock_op(self.digest, "release", self.token)
