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
from redis_store.store.core import StoreCore, lock_error
from redis_store.store.protocol import Batch, Script, SyncDriver
from redis_store.store.transport import (
    Backoff,
    check_client,
    enqueue,
    merge,
    missing_scripts,
    new_token,
    register_scripts,
)


class RedisStore(SyncDriver, StoreCore):
    """claircore's indexer Store on a Redis server (blocking API)."""

    def __init__(
        self, client: Any, namespace: str = "claircore", *, lock_ttl: float = 30.0
    ) -> None:
        StoreCore.__init__(self, namespace, lock_ttl=lock_ttl)
        check_client(client)
        self.client = client
        self._scripts = register_scripts(client)

    @classmethod
    def from_url(
        cls, url: str, *, namespace: str = "claircore", lock_ttl: float = 30.0, **kwargs: Any
    ) -> RedisStore:
        """A store on a new client for ``redis://``, ``rediss://`` or ``unix://`` URLs."""
        client = redis.Redis.from_url(url, decode_responses=False, **kwargs)
        return cls(client, namespace, lock_ttl=lock_ttl)

    def _send_once(self, batch: Batch) -> list[Any]:
        if len(batch) == 1:
            call = batch[0]
            try:
                if isinstance(call, Script):
                    sha = self._scripts[call.name].sha
                    return [self.client.evalsha(sha, len(call.keys), *call.keys, *call.args)]
                return [self.client.execute_command(*call.args)]
            except ResponseError as e:
                return [e]
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            enqueue(pipe, call, self._scripts)
        return list(pipe.execute(raise_on_error=False))

    def _load_scripts(self) -> None:
        """Load every script in one round trip (after a restart or SCRIPT FLUSH)."""
        pipe = self.client.pipeline(transaction=False)
        for script in self._scripts.values():
            pipe.script_load(script.script)
        pipe.execute()

    def _send(self, batch: Batch) -> list[Any]:
        replies = self._send_once(batch)
        missing = missing_scripts(batch, replies)
        if missing:
            self._load_scripts()
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
