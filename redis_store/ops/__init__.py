"""Operations on a whole store: inspection, consistency checks, cleanup and statistics.

These read the key layout directly (with SCAN, in batches), so they work on any store in
the namespace whatever process wrote it. They take a sync :class:`~redis_store.RedisStore`.
"""

from redis_store.ops.evict import EvictionResult, evict
from redis_store.ops.expire import ExpireResult, expire
from redis_store.ops.fsck import Violation, check, repair
from redis_store.ops.gc import GcResult, collect
from redis_store.ops.inspect import (
    ManifestInfo,
    manifest_info,
    manifests,
    manifests_exist,
    manifests_locked,
    reports_exist,
    scanners,
    stored_reports,
)
from redis_store.ops.listing import ManifestEntry, list_manifests
from redis_store.ops.scan import ProgressCallback
from redis_store.ops.stats import StoreStats, store_stats

__all__ = [
    "EvictionResult",
    "ExpireResult",
    "GcResult",
    "ManifestEntry",
    "ManifestInfo",
    "ProgressCallback",
    "StoreStats",
    "Violation",
    "check",
    "collect",
    "evict",
    "expire",
    "list_manifests",
    "manifest_info",
    "manifests",
    "manifests_exist",
    "manifests_locked",
    "repair",
    "reports_exist",
    "scanners",
    "store_stats",
    "stored_reports",
]
