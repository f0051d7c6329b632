"""The asyncio front end: :class:`AsyncRedisStore` over ``redis.asyncio.Redis``."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, TypeVar

import redis.asyncio
from redis.exceptions import ResponseError

from redis_store.errors import LockError
from redis_store.models import Digest
from redis_store.observe import watch
from redis_store.store import locks, validate
from redis_store.store.calls import Batch, Fetch, Op, Pause
from redis_store.store.operation import AsyncDriver
from redis_store.store.transport import ClientStore, Send

R = TypeVar("R")


class AsyncRedisStore(AsyncDriver, ClientStore):
    """claircore's indexer Store on a Redis server (asyncio API, same methods awaited)."""

    client_class = redis.asyncio.Redis

    async def _run(self, op: Op[R]) -> R:
        """Run an operation to its end: each batch sent, each pause slept, each report
        fetched from the origin in a worker thread (origins block)."""
        try:
            step = next(op)
            while True:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    step = op.send([])
                elif isinstance(step, Fetch):
                    try:
                        found = await asyncio.to_thread(self._origin().fetch, step.digest)
                    except Exception as e:
                        step = op.throw(e)
                    else:
                        step = op.send([found])
                else:
                    step = op.send(await self._send(step))
        except StopIteration as stop:
            result: R = stop.value
            return result

    async def _send(self, batch: Batch) -> list[Any]:
        """One batch's replies: the exchange (``ClientStore._exchange``) run to its end."""
        exchange = self._exchange(batch)
        try:
            step = next(exchange)
            while True:
                if isinstance(step, Send):
                    step = exchange.send(await self._send_calls(step.calls))
                else:
                    await self._script_loader().execute()
                    step = exchange.send(None)
        except StopIteration as stop:
            replies: list[Any] = stop.value
            return replies

    async def _send_calls(self, calls: Batch) -> list[Any]:
        if self.cluster and getattr(self.client, "_initialize", False):
            await self.client.initialize()  # the slot map, which routing reads
        if len(calls) == 1:
            call = calls[0]
            try:
                command = self._command(call)
                return [await self.client.execute_command(*command, **self._route(call))]
            except ResponseError as e:
                return [e]
        return list(await self._pipeline(calls).execute(raise_on_error=False))

    def manifest_lock(
        self, manifest: Digest | str, *, blocking: bool = True, timeout: float | None = None
    ) -> AsyncManifestLock:
        """The per-manifest index lock, as an async context manager."""
        return AsyncManifestLock(self, validate.digest(manifest, "manifest"), blocking, timeout)

    async def close(self) -> None:
        """Close the client's connections (and the local cache's listeners)."""
        self._close_cache()
        self._close_origin()
        await self.client.aclose()

    async def __aenter__(self) -> AsyncRedisStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncManifestLock:
    """Holds a manifest's lock, renewing its expiry from a task until released (as
    :class:`~redis_store.store.sync.ManifestLock`: a lost lock raises LockError on exit)."""

    def __init__(
        self, store: AsyncRedisStore, digest: Digest, blocking: bool, timeout: float | None
    ) -> None:
        self.store, self.digest = store, digest
        self.key = store.keys.lock(digest)
        self.backoff = locks.Backoff(blocking, timeout)
        self.token = locks.new_token()
        self.renewal = locks.Renewal(store.lock_ttl)
        self._renewer: asyncio.Task[None] | None = None

    @property
    def lost(self) -> str | None:
        """Why the lock was lost while held (None while it is held)."""
        return self.renewal.lost

    async def __aenter__(self) -> AsyncManifestLock:
        store, d = self.store, self.digest
        if d in store._held_locks:
            raise LockError(f"manifest {d} is already locked by this store")
        acquire = locks.acquire(d, self.key, self.token, store.lock_ttl, self.backoff)
        await store._run(watch(store, "manifest_lock", acquire, d))
        self.renewal = locks.Renewal(store.lock_ttl)
        store._held_locks[d] = self.token
        self._renewer = asyncio.create_task(self._renew())
        return self

    async def _renew(self) -> None:
        store, renewal = self.store, self.renewal
        while renewal.lost is None:
            await asyncio.sleep(renewal.wait())
            try:
                ok = await store._run(locks.lock_op(self.key, "renew", self.token, store.lock_ttl))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a timeout, a broken connection: tried again
                renewal.failed(e)
            else:
                renewal.renewed(ok)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        store = self.store
        store._held_locks.pop(self.digest, None)
        try:
            await store._run(locks.lock_op(self.key, "release", self.token, store.lock_ttl))
        finally:
            if self.renewal.lost is not None and kind is None:
                raise LockError(f"manifest {self.digest}: the lock was lost: {self.renewal.lost}")
