"""The asyncio front end: :class:`AsyncRedisStore` over ``redis.asyncio.Redis``."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

import redis.asyncio
from redis.exceptions import ResponseError

from redis_store.errors import LockError
from redis_store.models import Digest
from redis_store.store import validate
from redis_store.store.core import lock_error, new_token
from redis_store.store.protocol import AsyncDriver, Batch
from redis_store.store.transport import (
    Backoff,
    ClientStore,
    merge,
    missing_scripts,
)


class AsyncRedisStore(AsyncDriver, ClientStore):
    """claircore's indexer Store on a Redis server (asyncio API, same methods awaited)."""

    client_class = redis.asyncio.Redis

    async def _send_once(self, batch: Batch) -> list[Any]:
        if self.cluster and getattr(self.client, "_initialize", False):
            await self.client.initialize()  # the slot map, which routing reads
        wire = self._durable(batch)
        if len(wire) == 1:
            try:
                call = wire[0]
                return [
                    await self.client.execute_command(*self._command(call), **self._route(call))
                ]
            except ResponseError as e:
                return [e]
        replies = await self._pipeline(wire).execute(raise_on_error=False)
        return self._acknowledged(batch, list(replies))

    async def _send(self, batch: Batch) -> list[Any]:
        replies = await self._send_once(batch)
        missing = missing_scripts(batch, replies)
        if missing:
            await self._script_loader().execute()
            merge(replies, missing, await self._send_once([batch[i] for i in missing]))
        return replies

    def manifest_lock(
        self, manifest: Digest | str, *, blocking: bool = True, timeout: float | None = None
    ) -> AsyncManifestLock:
        """The per-manifest index lock, as an async context manager."""
        return AsyncManifestLock(self, validate.digest(manifest, "manifest"), blocking, timeout)

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()

    async def __aenter__(self) -> AsyncRedisStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncManifestLock:
    """Holds a manifest's lock, renewing its expiry from a task until released."""

    def __init__(
        self, store: AsyncRedisStore, digest: Digest, blocking: bool, timeout: float | None
    ) -> None:
        self.store, self.digest = store, digest
        self.backoff = Backoff(blocking, timeout)
        self.token = new_token()
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncManifestLock:
        store, d = self.store, self.digest
        if d in store._held_locks:
            raise LockError(f"manifest {d} is already locked by this store")
        while not await store._lock_op(d, "acquire", self.token):
            pause = self.backoff.next_pause()
            if pause is None:
                raise lock_error(d, self.backoff.timeout)
            await asyncio.sleep(pause)
        store._held_locks[d] = self.token
        self._renewer = asyncio.create_task(self._renew())
        return self

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.store.lock_ttl / 3)
            await self.store._lock_op(self.digest, "renew", self.token)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        self.store._held_locks.pop(self.digest, None)
        await self.store._lock_op(self.digest, "release", self.token)
