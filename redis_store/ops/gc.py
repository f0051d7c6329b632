"""Reclaim what deletion left behind, safely while indexers run.

On a Redis Cluster the same candidates are reclaimed in the cluster's two steps (the layer's
or name's slot first, then the references in ``{g}``). Manifest-table entries of manifests
that do not exist are left to ``fsck --repair``: an entry is written before its manifest
claims it, so a collector running beside indexers cannot tell an orphan from a new manifest.

Deletion reclaims everything inline (reference counts), so on a healthy store this finds
nothing. It exists for what an interrupted multi-step operation, an older version or a hand
edit may leave: layers no manifest uses, records with no manifest, and packages,
distributions, repositories and files nothing references. Candidates come from a snapshot;
each is reclaimed by a script that re-checks, atomically, that it is still unused, so an
indexer that starts using it meanwhile wins.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from redis_store.keys import KINDS
from redis_store.ops.fsck import unlist_bucket
from redis_store.ops.scan import ProgressCallback, batched, read_namespace
from redis_store.store import RedisStore
from redis_store.store.steps.cluster import release_call

_FIELDS = {"pkg": "packages", "dist": "distributions", "repo": "repositories", "file": "files"}


@dataclass
class GcResult:
    """What was reclaimed (or, with dry_run, would be)."""

    layers: int = 0
    records: int = 0
    packages: int = 0
    distributions: int = 0
    repositories: int = 0
    files: int = 0
    #: Links to deleted manifests removed from layers and records still in use.
    stale_links: int = 0
    dry_run: bool = False

    @property
    def total(self) -> int:
        return (
            self.layers
            + self.records
            + self.packages
            + self.distributions
            + self.repositories
            + self.files
        )


def _release(store: RedisStore, ids: dict[str, list[str]]) -> None:
    """Give back references in {g}, after what held them is gone (a cluster's last step)."""
    call = release_call(store.keys, ids)
    store.scripts[call.name](keys=call.keys, args=call.args)


def collect(
    store: RedisStore, *, dry_run: bool = False, progress: ProgressCallback | None = None
) -> GcResult:
    """Reclaim unused layers, records and entities; returns the counts."""
    ns = read_namespace(store, progress)
    k, scripts = store.keys, store.scripts
    result = GcResult(dry_run=dry_run)
    entity_keys = k.entity_keys()
    # a manifest exists while its hash does; IDs of deleted ones are never handed out again
    live = {h.get("id", "") for h in ns.manifests.values()}
    for layer, members in ns.layers.items():
        dead = sorted((members or set()) - live)
        if members is not None and len(dead) < len(members):  # a live manifest uses it
            result.stale_links += len(dead)
            if dead and not dry_run:
                store.client.srem(k.layer(layer), *dead)  # safe: IDs are never reused
            continue
        if dry_run:
            result.layers += 1
        elif store.cluster:  # two steps: the layer's slot, then references in {g}
            held = scripts["cluster/leave_layer"](keys=k.layer_keys(layer), args=dead)
            if held:
                _release(store, dict(zip(KINDS, held, strict=True)))
                result.layers += 1
        else:
            keys = [*k.layer_keys(layer), *entity_keys]
            result.layers += int(scripts["gc_layer"](keys=keys, args=dead))
    for name, recs in ns.names.items():
        for rec, buckets in recs.items():
            members = set().union(*(ns.buckets.get((name, rec, b), set()) for b in buckets))
            if members & live:
                for b in buckets:
                    dead = sorted(ns.buckets.get((name, rec, b), set()) - live)
                    result.stale_links += len(dead)
                    if dead and not dry_run:
                        store.client.srem(k.bucket(name, rec, int(b)), *dead)
                        if not store.client.exists(k.bucket(name, rec, int(b))):
                            unlist_bucket(store, name, rec, b)
                continue
            if dry_run:
                result.records += 1
                continue
            bucket_keys = [k.bucket(name, rec, int(b)) for b in buckets]
            if store.cluster:  # two steps: the name's slot, then references in {g}
                args = [rec, *buckets, *sorted(members)]
                if scripts["cluster/remove_record"](keys=[k.name(name), *bucket_keys], args=args):
                    p, d, r = rec.split(":")
                    _release(store, {"pkg": [p], "dist": [d], "repo": [r]})
                    result.records += 1
                continue
            keys = [k.name(name), *entity_keys, *bucket_keys]
            result.records += int(scripts["gc_record"](keys=keys, args=[rec, *sorted(members)]))
    # entities: referenced by layer artifacts and records (as of the snapshot)
    used: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for (layer, kind), arts in ns.artifacts.items():
        if not (ns.layers.get(layer) or set()) & live:
            continue
        for art in arts:
            head = art.split(b"\n", 1)[0].decode().split(",")
            used[kind][head[0]] += 1
            if kind == "pkg":
                used[kind][head[2]] += 1
    for name, recs in ns.names.items():
        for rec, buckets in recs.items():
            if not set().union(*(ns.buckets.get((name, rec, b), set()) for b in buckets)) & live:
                continue
            p, d, r = rec.split(":")
            used["pkg"][p] += 1
            used["dist"][d] += 1
            used["repo"][r] += 1
    for kind in KINDS:
        unused = [i for i in ns.data[kind] if not used[kind][i]]
        if dry_run:
            n = len(unused)
        else:
            n = 0
            data, ids, refs = k.entity_data(kind), k.entity_ids(kind), k.entity_refs(kind)
            for chunk in batched(unused):
                n += int(scripts["gc_entities"](keys=[data, ids, refs], args=chunk))
        setattr(result, _FIELDS[kind], getattr(result, _FIELDS[kind]) + n)
    return result
