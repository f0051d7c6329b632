"""Run the async store through the same tests as the sync one.

``BlockingAsyncStore`` drives an :class:`AsyncRedisStore` on a private event loop and
exposes the blocking API, so every test of the suite runs against both front ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from redis_store import AsyncRedisStore


class BlockingAsyncStore:
    def __init__(self, store: AsyncRedisStore, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop

    @property
    def inner(self) -> AsyncRedisStore:
        return self._store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if asyncio.iscoroutine(result):
                return self._loop.run_until_complete(result)
            return result

        return call

    @contextlib.contextmanager
    def manifest_lock(self, manifest: Any, **kwargs: Any) -> Iterator[Any]:
        lock = self._store.manifest_lock(manifest, **kwargs)
        held = self._loop.run_until_complete(lock.__aenter__())
        try:
            yield held
        finally:
            self._loop.run_until_complete(lock.__aexit__(None, None, None))
