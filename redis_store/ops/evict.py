"""A memory budget for a cache tier: delete the least recently used manifests until the
server's ``used_memory`` is under it.

The budget is the server's ``used_memory`` (on a cluster, summed over the primaries): the
figure Redis compares with ``maxmemory`` before it refuses writes, whatever namespaces
share the server. Only the store's own namespace is evicted, so when other data holds most
of the memory, evicting every manifest would not bring the server under the budget: a
pass that would need the whole namespace (by an estimate of what its keys take) refuses
(:class:`EvictionRefused`) unless ``allow_all``, and a budget below what the server uses
holding nothing at all (``used_memory_startup``) is refused as a mistake.

Redis' own eviction must stay off (``maxmemory-policy noeviction``): a key evicted on its
own would leave reverse indexes pointing at nothing. This evicts whole manifests instead,
through ``delete_manifests`` (atomic per manifest, reclaiming the layers, records and
packages no other manifest uses, skipping manifests an indexer holds locked), oldest
recorded use first (the ``used`` time ``expire`` reads; a manifest with none recorded counts
as the oldest). It deletes in rounds sized from what the previous rounds freed, reading
``INFO memory`` after each, so it stops close to the budget rather than far under it. Uses
are recorded at most once a minute per manifest, so manifests used within the same minute
are told apart by their ID (the older first). Stopping (``stop`` set between rounds, or
Ctrl-C in a round) ends the pass with what it deleted so far.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisClusterException, RedisError, ResponseError

from redis_store.errors import InvalidInputError, StoreError
from redis_store.interrupts import no_interrupts
from redis_store.models import Digest
from redis_store.ops.inspect import manifests, manifests_exist, manifests_locked
from redis_store.ops.nodes import memory_floor, used_memory
from redis_store.ops.scan import ProgressCallback, batched, read_many
from redis_store.ops.stats import namespace_share
from redis_store.store import RedisStore

#: The first round deletes this many manifests; later rounds half as many as the memory
#: still over budget needs at the bytes per manifest measured so far (at most MAX_ROUND).
FIRST_ROUND = 10
MAX_ROUND = 500
#: What a server keeps, about, of the memory a namespace's data took once it is all deleted
#: (measured at 1 MiB on Redis 7: an emptied server stays above a new one).
SLACK = 1 << 20


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
    #: About how much of used_memory the namespace accounts for (read when the pass was
    #: over budget; see :class:`~redis_store.ops.stats.Share`).
    namespace_bytes: int | None = None
    #: Manifests in the namespace when the pass began.
    manifests: int = 0
    #: Stopped before the budget was reached (``stop`` set, or Ctrl-C).
    interrupted: bool = False
    #: A Redis error that ended the pass after it had deleted something (else it is raised).
    error: Exception | None = None

    @property
    def takes_everything(self) -> bool:
        """Whether meeting the budget would leave the namespace (nearly) empty: the budget
        is within :data:`SLACK` (or a tenth of the namespace's share) of what the server
        would use without the namespace's data, since a server keeps some of what it frees."""
        if self.namespace_bytes is None:
            return False
        without = self.used_before - self.namespace_bytes
        return self.budget < without + max(SLACK, self.namespace_bytes // 10)

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
            "namespace_bytes": self.namespace_bytes,
            "manifests": self.manifests,
            "interrupted": self.interrupted,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
            "digests": self.evicted,
        }


class EvictionRefused(StoreError):
    """Meeting the budget would take every manifest of the namespace (and, where other
    data holds the rest of the memory, still leave the server over it): nothing was
    deleted. ``result`` holds the figures."""

    def __init__(self, result: EvictionResult, namespace: str) -> None:
        self.result = result
        r = result
        share = r.namespace_bytes or 0
        rest = r.used_before - share
        super().__init__(
            f"meeting the budget of {_mib(r.budget)} would take (nearly) every manifest of"
            f" namespace {namespace!r} ({r.manifests}): used_memory is {_mib(r.used_before)},"
            f" of which the namespace accounts for about {_mib(share)}"
            + (
                f"; the rest of the server ({_mib(rest)}) is over the budget by itself"
                if rest > r.budget
                else ""
            )
        )


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


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
    stop: threading.Event | None = None,
    allow_all: bool = False,
) -> EvictionResult:
    """Delete least recently used manifests until ``used_memory`` is at most ``max_memory``
    bytes (or nothing is left to delete). ``dry_run`` deletes nothing and names the
    manifests it would delete by an estimate of what each frees: ``MEMORY USAGE`` of the
    manifest's own keys, a lower bound (the layers freed with their last user are not
    counted), so it names at least as many as a real run deletes.

    Raises :class:`EvictionRefused` (deleting nothing) when the budget would take the whole
    namespace, unless ``allow_all``; :class:`~redis_store.errors.InvalidInputError` for a
    budget below the server's memory with no data. ``stop``, checked between rounds, and
    Ctrl-C end the pass early: ``interrupted`` is then set and ``evicted`` is what went."""
    if max_memory <= 0:
        raise InvalidInputError("max_memory must be positive")
    start = time.perf_counter()
    used = memory_used(store)
    floor = memory_floor(store.client)
    if max_memory < floor:
        raise InvalidInputError(
            f"max_memory {_mib(max_memory)} is below what the server uses holding no data"
            f" at all (used_memory_startup {_mib(floor)}): no eviction can meet it"
        )
    result = EvictionResult(max_memory, used, used, dry_run=dry_run)
    if used <= max_memory:
        result.seconds = time.perf_counter() - start
        return result
    try:
        order = least_recently_used(store)
        result.manifests = len(order)
        if not order:  # other data holds the memory: nothing here to evict
            return result
        result.namespace_bytes = namespace_share(store).bytes
        # reading the share left client buffers on the server: the rounds measure from here
        used = result.used_before = result.used_after = memory_used(store)
        if result.takes_everything and not (allow_all or dry_run):
            raise EvictionRefused(result, store.namespace)
        if dry_run:
            _plan(store, order, used - max_memory, result)
        else:
            _delete(store, order, max_memory, result, progress, stop)
    except (RedisError, RedisClusterException) as e:
        if not result.evicted:
            raise
        result.error = e
    except KeyboardInterrupt:
        result.interrupted = True
        if not dry_run:
            with no_interrupts(), contextlib.suppress(RedisError):
                result.used_after = memory_used(store)
    result.seconds = time.perf_counter() - start
    return result


def _delete(
    store: RedisStore,
    order: list[Digest],
    budget: int,
    result: EvictionResult,
    progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> None:
    at, size = 0, FIRST_ROUND
    used = result.used_before
    while used > budget and at < len(order):
        if stop is not None and stop.is_set():
            result.interrupted = True
            return
        chunk = order[at : at + size]
        at += len(chunk)
        try:
            deleted = set(store.delete_manifests(*chunk))
        except KeyboardInterrupt:  # the call is atomic per manifest: see which went
            with no_interrupts():
                exist = manifests_exist(store, chunk)
                result.evicted += [d for d, e in zip(chunk, exist, strict=True) if not e]
            raise
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


__all__ = ["EvictionRefused", "EvictionResult", "evict", "least_recently_used", "memory_used"]
