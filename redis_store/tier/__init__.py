"""The cache tier: a store in front of an existing Clair, filling itself on a miss.

An *origin* is where the reports really live: Clair's indexer HTTP API
(:class:`ClairIndexerOrigin`) or its PostgreSQL database (:class:`ClairDatabaseOrigin`). A
store built with ``origin=`` answers ``index_report``, ``index_report_json`` and
``manifest_scanned`` for a manifest it does not hold by fetching the report and importing it
(:mod:`redis_store.store.readthrough`), under the manifest's lock, so concurrent misses
fetch once. Every other method reads only what the store holds. This package sits below
the store; above it, :mod:`redis_store.fill` fills a store from an origin ahead of time and
:mod:`redis_store.ops.evict` keeps it within a memory budget.
"""

from __future__ import annotations

from redis_store.errors import OriginError
from redis_store.tier.http import ClairIndexerOrigin
from redis_store.tier.origins import Origin, ReadThrough, TierStats
from redis_store.tier.postgres import ClairDatabaseOrigin
from redis_store.tier.urls import origin_from_url

__all__ = [
    "ClairDatabaseOrigin",
    "ClairIndexerOrigin",
    "Origin",
    "OriginError",
    "ReadThrough",
    "TierStats",
    "origin_from_url",
]
