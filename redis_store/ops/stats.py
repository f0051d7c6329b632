"""Counts per entity, memory by key family, and the largest manifests."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from redis_store.keys import KINDS
from redis_store.models import Digest
from redis_store.ops.inspect import manifests
from redis_store.ops.scan import batched, read_many
from redis_store.store import RedisStore

_NAMES = {"pkg": "packages", "dist": "distributions", "repo": "repositories", "file": "files"}


@dataclass
class StoreStats:
    counts: dict[str, int] = field(default_factory=dict)
    #: Estimated bytes per key family (MEMORY USAGE on a sample of each); None where the
    #: server has no MEMORY USAGE (fakeredis).
    memory: dict[str, int] | None = None
    #: (digest, index records, report bytes), most records first.
    largest: list[tuple[Digest, int, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_stats(store: RedisStore, *, sample: int = 50, largest: int = 10) -> StoreStats:
    """Read the namespace (SCAN) and summarise it."""
    client, k = store.client, store.keys
    by_family: dict[str, list[str]] = defaultdict(list)
    for raw in client.scan_iter(match=k.match_pattern(), count=1000):
        key = raw.decode()
        by_family[k.family(key)].append(key)
    out = StoreStats()
    out.counts["manifests"] = int(client.hlen(k.manifests))
    out.counts["layers"] = len(by_family.get("layer", []))
    out.counts["scanners"] = int(client.hlen(k.scanners))
    for kind in KINDS:
        out.counts[_NAMES[kind]] = int(client.hlen(k.entity_data(kind)))
    out.counts["package names"] = len(by_family.get("name:records", []))
    out.counts["index records"] = sum(
        int(n) for n in read_many(store, by_family.get("name:records", []), "hlen")
    )
    out.counts["keys"] = sum(len(v) for v in by_family.values())
    try:
        memory: dict[str, int] = {}
        rng = random.Random(0)
        for fam, keys in sorted(by_family.items()):
            picked = keys if len(keys) <= sample else rng.sample(keys, sample)
            sizes = [int(x or 0) for x in read_many(store, picked, "memory_usage")]
            memory[fam] = int(sum(sizes) / max(len(sizes), 1) * len(keys))
        out.memory = memory
    except ResponseError:
        out.memory = None
    rows: list[tuple[Digest, int, int]] = []
    digests = [d for _, d in manifests(store)]
    for chunk in batched(digests):
        recs = read_many(store, [k.manifest(d) for d in chunk], "hget", "recs")
        sizes = read_many(store, [k.report(d) for d in chunk], "strlen")
        for d, r, size in zip(chunk, recs, sizes, strict=True):
            rows.append((d, len(r.split(b",")) if r else 0, int(size)))
    out.largest = sorted(rows, key=lambda t: (-t[1], -t[2], t[0]))[:largest]
    return out
