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
from redis_store.ops.nodes import primaries
from redis_store.ops.scan import batched, read_many
from redis_store.store import RedisStore
from redis_store.store.connect import is_cluster_client

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


def keys_by_family(store: RedisStore) -> dict[str, list[str]]:
    """Every key of the namespace (SCAN), grouped by family (``manifest:report``, ...)."""
    k = store.keys
    by_family: dict[str, list[str]] = defaultdict(list)
    for raw in store.client.scan_iter(match=k.match_pattern(), count=1000):
        key = raw.decode()
        by_family[k.family(key)].append(key)
    return by_family


def memory_by_family(
    store: RedisStore, by_family: dict[str, list[str]], sample: int = 50
) -> dict[str, int]:
    """Estimated bytes per key family: ``MEMORY USAGE`` of up to ``sample`` keys of each,
    scaled up. Raises ``ResponseError`` where the server has no ``MEMORY USAGE``."""
    memory: dict[str, int] = {}
    rng = random.Random(0)
    for fam, keys in sorted(by_family.items()):
        picked = keys if len(keys) <= sample else rng.sample(keys, sample)
        # small batches: a long pipeline grows the server's query buffer, which counts in
        # the used_memory an eviction then measures
        sizes = [int(x or 0) for x in read_many(store, picked, "memory_usage", batch=50)]
        memory[fam] = int(sum(sizes) / max(len(sizes), 1) * len(keys))
    return memory


@dataclass
class Share:
    """How much of the server's ``used_memory`` one namespace accounts for.

    ``MEMORY USAGE`` misses what Redis spends per key beyond the key and its value (the
    keyspace's tables, allocator rounding), so its sum falls well short of ``used_memory``.
    The namespace's share is therefore the server's data (``used_memory`` above an empty
    server's ``used_memory_startup`` and the scripts it caches) in proportion to what
    ``MEMORY USAGE`` finds for the namespace's keys and for every other key: all of it when
    the namespace is alone."""

    used: int
    startup: int
    scripts: int
    #: Estimated bytes of the namespace's keys, and of every other key on the server.
    namespace: int
    others: int

    @property
    def bytes(self) -> int:
        data = max(self.used - self.startup - self.scripts, 0)
        total = self.namespace + self.others
        return data if total == 0 else round(data * self.namespace / total)


def namespace_share(store: RedisStore, sample: int = 50) -> Share:
    """The namespace's share of ``used_memory``: one SCAN of the server's keys, ``MEMORY
    USAGE`` sampled per family of the namespace and on other keys (other databases'
    keys are taken to weigh what this one's do)."""
    client, k = store.client, store.keys
    prefix = k.namespace + ":{"
    by_family: dict[str, list[str]] = defaultdict(list)
    others: list[str] = []
    seen_others = 0
    rng = random.Random(0)
    for raw in client.scan_iter(count=200):
        key = raw.decode(errors="replace")
        if key.startswith(prefix):
            by_family[k.family(key)].append(key)
            continue
        seen_others += 1  # a uniform sample of the rest (reservoir)
        if len(others) < sample * 4:
            others.append(key)
        elif (i := rng.randrange(seen_others)) < len(others):
            others[i] = key
    mine = sum(memory_by_family(store, by_family, sample).values())
    sizes = [int(x or 0) for x in read_many(store, others, "memory_usage", batch=50)]
    per_other = sum(sizes) / len(sizes) if sizes else (mine / max(1, _count(by_family)))
    elsewhere = _keys_in_other_databases(client)
    info = {"used_memory": 0, "used_memory_startup": 0, "used_memory_scripts": 0}
    for _, node in primaries(client):
        memory = node.info("memory")
        for name in info:
            info[name] += int(memory.get(name, 0))
    return Share(
        info["used_memory"],
        info["used_memory_startup"],
        info["used_memory_scripts"],
        mine,
        int(per_other * (seen_others + elsewhere)),
    )


def _count(by_family: dict[str, list[str]]) -> int:
    return sum(len(v) for v in by_family.values())


def _keys_in_other_databases(client: Any) -> int:
    """Keys in the server's databases other than the client's (a cluster has one)."""
    if is_cluster_client(client):
        return 0
    db = int(client.get_connection_kwargs().get("db", 0) or 0)
    spaces = client.info("keyspace")
    return sum(int(v.get("keys", 0)) for name, v in spaces.items() if name != f"db{db}")


def store_stats(store: RedisStore, *, sample: int = 50, largest: int = 10) -> StoreStats:
    """Read the namespace (SCAN) and summarise it."""
    client, k = store.client, store.keys
    by_family = keys_by_family(store)
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
        out.memory = memory_by_family(store, by_family, sample)
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
