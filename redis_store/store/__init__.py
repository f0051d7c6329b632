"""The store: a shared sans-I/O core and its sync and asyncio front ends.

``core`` holds every method once; ``steps`` how the multi-key ones run on one server or a
cluster; ``transport`` how a batch is sent; ``sync`` and ``aio`` the two front ends;
``locks`` the manifest lock; ``api`` the :class:`Store` protocols for type hints.
"""

from redis_store.store.aio import AsyncManifestLock, AsyncRedisStore
from redis_store.store.sync import ManifestLock, RedisStore

__all__ = ["AsyncManifestLock", "AsyncRedisStore", "ManifestLock", "RedisStore"]
