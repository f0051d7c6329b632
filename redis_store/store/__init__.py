"""The store: a shared sans-I/O core and its sync and asyncio front ends."""

from redis_store.store.aio import AsyncManifestLock, AsyncRedisStore
from redis_store.store.sync import ManifestLock, RedisStore

__all__ = ["AsyncManifestLock", "AsyncRedisStore", "ManifestLock", "RedisStore"]
