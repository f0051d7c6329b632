"""The cache-tier policy: delete manifests nobody indexed or read for a while.

The store records, per manifest, the server time of its last ``set_index_report``,
``set_index_finished``, ``persist_manifest`` or ``index_report`` (at most once a minute, so
reads stay cheap). Expired manifests go through ``delete_manifests``, the same safe path as
any delete: atomic per manifest, skipping manifests an indexer holds the lock of. Redis TTLs
are never put on store keys: they would leave reverse indexes pointing at nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis_store.models import Digest
from redis_store.ops.inspect import manifests, manifests_locked
from redis_store.ops.scan import ProgressCallback, batched, read_many
from redis_store.store import RedisStore


@dataclass
class ExpireResult:
    """Manifests expired (deleted, or with dry_run to be deleted), skipped, and unknown."""

    expired: list[Digest] = field(default_factory=list)
    skipped_locked: list[Digest] = field(default_factory=list)
    #: Manifests with no recorded use (written before uses were recorded): kept.
    unknown: int = 0
    dry_run: bool = False


def expire(
    store: RedisStore,
    older_than: float,
    *,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> ExpireResult:
    """Delete manifests not indexed or read for ``older_than`` seconds (server clock)."""
    if older_than < 0:
        raise ValueError("older_than must not be negative")
    seconds, _ = store.client.time()
    cutoff = seconds - older_than
    result = ExpireResult(dry_run=dry_run)
    k = store.keys
    all_manifests = [d for _, d in manifests(store)]
    done = 0
    for chunk in batched(all_manifests):
        used = [
            (d, u)
            for d, u in zip(
                chunk,
                read_many(store, [k.manifest(d) for d in chunk], "hget", "used"),
                strict=True,
            )
        ]
        stale = []
        for d, u in used:
            if u is None:
                result.unknown += 1
            elif float(u) < cutoff:
                stale.append(d)
        if dry_run:
            result.expired += stale
        elif stale:
            deleted = set(store.delete_manifests(*stale))
            result.expired += [d for d in stale if d in deleted]
            left = [d for d in stale if d not in deleted]
            locked = manifests_locked(store, left)
            result.skipped_locked += [d for d, held in zip(left, locked, strict=True) if held]
        done += len(chunk)
        if progress:
            progress(done, len(all_manifests))
    return result
