"""Filling a store from an origin ahead of time (``redis-store import --from``).

Above the store, beside :mod:`redis_store.ops`: :func:`fill_from_origin` lists what the origin
holds (or takes the digests given), skips what is stored already, and has workers fetch and
import the rest (:mod:`.workers`: in the calling process for one job, worker processes for
more, so decoding and encoding run on every CPU).
"""

from __future__ import annotations

from redis_store.fill.bulk import FillProgress, FillResult, fill_from_origin

__all__ = ["FillProgress", "FillResult", "fill_from_origin"]
