"""redis_store: claircore's indexer Store on Redis.

Everything public is importable from here: the models and their claircore JSON codec, the
errors, the two stores (:class:`RedisStore`, :class:`AsyncRedisStore`) and their protocols
(:class:`Store`, :class:`AsyncStore`) for type hints, and the cache tier's origins
(:mod:`redis_store.tier`).
"""

from redis_store import replay as replay
from redis_store.cache import CacheConfig, CacheStats, LocalCacheState
from redis_store.codec import wire as _wire  # noqa: F401 - the models' JSON methods go through it
from redis_store.errors import (
    DigestError,
    DurabilityError,
    InvalidInputError,
    LockError,
    MatcherError,
    OriginError,
    SentinelSetupError,
    StoreError,
    UnknownLayerError,
    UnknownManifestError,
    UnknownScannerError,
)
from redis_store.matchers import DEFAULT_MATCHERS, Constraint, Matcher
from redis_store.models import *  # noqa: F403 - the models are the public API
from redis_store.models import __all__ as _models_all
from redis_store.store import AsyncManifestLock, AsyncRedisStore, ManifestLock, RedisStore
from redis_store.store.api import AsyncStore, Store
from redis_store.store.importing import ImportOutcome
from redis_store.tier import ClairDatabaseOrigin, ClairIndexerOrigin, Origin, ReadThrough
from redis_store.version import __version__ as __version__

__all__ = [
    "DEFAULT_MATCHERS",
    "Constraint",
    "Matcher",
    "AsyncManifestLock",
    "AsyncRedisStore",
    "AsyncStore",
    "CacheConfig",
    "CacheStats",
    "ClairDatabaseOrigin",
    "ClairIndexerOrigin",
    "DigestError",
    "DurabilityError",
    "ImportOutcome",
    "InvalidInputError",
    "LocalCacheState",
    "LockError",
    "ManifestLock",
    "MatcherError",
    "Origin",
    "OriginError",
    "ReadThrough",
    "RedisStore",
    "SentinelSetupError",
    "Store",
    "StoreError",
    "UnknownLayerError",
    "UnknownManifestError",
    "UnknownScannerError",
    *_models_all,
]
