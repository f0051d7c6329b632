"""A memory budget for a cache tier: delete the least recently used manifests until the
server's ``used_memory`` is under it.

Redis' own eviction must stay off (``maxmemory-policy noeviction``): a key evicted on its
own would leave reverse indexes pointing at nothing. This evicts whole manifests instead,
through ``delete_manifests`` (atomic per manifest, reclaiming the layers, records and
packages no other manifest uses, skipping manifests an indexer holds locked), oldest
recorded use first (the ``used`` time ``expire`` reads; a manifest with none recorded counts
as the oldest). It deletes in rounds sized from what the previous rounds freed, reading
``INFO memory`` after each, so it stops close to the budget rather than far under it. Uses
are recorded at most once a minute per manifest, so manifests used within the same minute
are told apart by their ID (the older first).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from redis_store.errors import StoreError
from redis_store.models import Digest
from redis_store.ops.inspect import manifests, manifests_locked
from redis_store.ops.nodes import used_memory
from redis_store.ops.scan import ProgressCallback, batched, read_many
from redis_store.store import RedisStore

#: The first round deletes this many manifests; later rounds half as many as the memory
#: still over budget needs at the bytes per manifest measured so far (at most MAX_ROUND).
FIRST_ROUND = 10
MAX_ROUND = 500


@dataclass
class EvictionResult:
    """One eviction pass: the budget, memory before and after, what was deleted."""

    budget: int
    used_before: int
    used_after: int
    evicted: list[Digest] = field(default_factory=list)
    skipped_locked: list[Digest] = field(default_factory=list)
    #: Delete calls made (each deletes up to a round's manifests).
    rounds: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    #: With dry_run: what the chosen manifests' own keys take (MEMORY USAGE); layers and
    #: packages they share with others are not counted, so a real pass frees more.
    estimated_bytes: int = 0

    @property
    def under_budget(self) -> bool:
        return self.used_after <= self.budget

    @property
    def freed(self) -> int:
        return self.used_before - self.used_after

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "used_before": self.used_before,
            "used_after": self.used_after,
            "under_budget": self.under_budget,
            "evicted": len(self.evicted),
            "skipped_locked": len(self.skipped_locked),
            "rounds": self.rounds,
            "seconds": round(self.seconds, 3),
            "ms_per_manifest": (
                round(1000 * self.seconds / len(self.evicted), 3) if self.evicted else None
            ),
            "dry_run": self.dry_run,
            "estimated_bytes": self.estimated_bytes if self.dry_run else None,
            "digests": self.evicted,
        }


def memory_used(store: RedisStore) -> int:
    """``used_memory`` of the server (on a cluster, the sum over its primaries)."""
    try:
        return sum(used_memory(store.client).values())
    except ResponseError as e:  # fakeredis has no INFO
        raise StoreError(
            f"evict reads the server's INFO memory, which this server does not answer ({e})"
        ) from None


def least_recently_used(store: RedisStore) -> list[Digest]:
    """Every manifest, least recently used first (no recorded use first, by ID)."""
    k = store.keys
    rows: list[tuple[float, int, Digest]] = []
    for chunk in batched(list(manifests(store))):
        uses = read_many(store, [k.manifest(d) for _, d in chunk], "hget", "used")
        rows += [
            (-1.0 if u is None else float(u), mid, d)
            for (mid, d), u in zip(chunk, uses, strict=True)
        ]
    rows.sort()
    return [d for _, _, d in rows]


def evict(
    store: RedisStore,
    max_memory: int,
    *,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> EvictionResult:
    """Delete least recently used manifests until ``used_memory`` is at most ``max_memory``
    bytes (or nothing is left to delete). ``dry_run`` deletes nothing and names the
    manifests it would delete by an estimate of what each frees: ``MEMORY USAGE`` of the
    manifest's own keys, a lower bound (the layers freed with their last user are not
    counted), so it names at least as many as a real run deletes."""
    if max_memory <= 0:
        raise ValueError("max_memory must be positive")
    start = time.perf_counter()
    used = memory_used(store)
    result = EvictionResult(max_memory, used, used, dry_run=dry_run)
    if used <= max_memory:
        result.seconds = time.perf_counter() - start
        return result
    order = least_recently_used(store)
    if dry_run:
        _plan(store, order, used - max_memory, result)
    else:
        _delete(store, order, max_memory, result, progress)
    result.seconds = time.perf_counter() - start
    return result


def _delete(
    store: RedisStore,
    order: list[Digest],
    budget: int,
    result: EvictionResult,
    progress: ProgressCallback | None,
) -> None:
    at, size = 0, FIRST_ROUND
    used = result.used_before
    while used > budget and at < len(order):
        chunk = order[at : at + size]
        at += len(chunk)
        deleted = set(store.delete_manifests(*chunk))
        result.rounds += 1
        result.evicted += [d for d in chunk if d in deleted]
        left = [d for d in chunk if d not in deleted]
        if left:  # locked by an indexer, or deleted by another meanwhile
            locked = manifests_locked(store, left)
            result.skipped_locked += [d for d, held in zip(left, locked, strict=True) if held]
        used = memory_used(store)
        result.used_after = used
        if progress:
            progress(len(result.evicted), len(order))
        freed = result.used_before - used
        if result.evicted and freed > 0:
            per_manifest = freed / len(result.evicted)
            # half of what the rest needs at the rate so far: the rate varies (a layer is
            # freed with its last user), so close in rather than overshoot
            size = max(1, min(MAX_ROUND, math.ceil(0.5 * (used - budget) / per_manifest)))


def _plan(store: RedisStore, order: list[Digest], over: int, result: EvictionResult) -> None:
    k = store.keys
    for chunk in batched(order, 100):
        pipe = store.client.pipeline(transaction=False)
        for d in chunk:
            for key in (k.manifest(d), k.report(d), k.manifest_scanned(d)):
                pipe.memory_usage(key)
        sizes = pipe.execute()
        for i, d in enumerate(chunk):
            result.estimated_bytes += sum(int(n or 0) for n in sizes[3 * i : 3 * i + 3])
            result.evicted.append(d)
            if result.estimated_bytes >= over:
                result.used_after = result.used_before - result.estimated_bytes
                return
    result.used_after = result.used_before - result.estimated_bytes


__all__ = ["EvictionResult", "evict", "least_recently_used", "memory_used"]
