"""Read a whole namespace in batches: the raw material of fsck, gc and stats."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis_store.keys import KINDS
from redis_store.store import RedisStore

T = TypeVar("T")
BATCH = 500

#: Called with (items done, items in all) as a whole-namespace operation goes on.
ProgressCallback = Callable[[int, int], None]


def batched(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_many(
    store: RedisStore, keys: list[str], command: str, *args: Any, batch: int = BATCH
) -> list[Any]:
    """One command per key, pipelined in batches of ``batch``."""
    out: list[Any] = []
    for chunk in batched(keys, batch):
        pipe = store.client.pipeline(transaction=False)
        for key in chunk:
            getattr(pipe, command)(key, *args)
        out += pipe.execute()
    return out


@dataclass
class Namespace:
    """Everything in one namespace, decoded just enough to check it."""

    #: manifest ID -> digest (the manifest table)
    table: dict[str, str] = field(default_factory=dict)
    #: digest -> manifest hash fields
    manifests: dict[str, dict[str, str]] = field(default_factory=dict)
    manifest_scanned: dict[str, set[str]] = field(default_factory=dict)
    reports: dict[str, bytes] = field(default_factory=dict)
    #: layer digest -> member manifest IDs (None when the layer set is missing)
    layers: dict[str, set[str] | None] = field(default_factory=dict)
    layer_scanned: dict[str, set[str]] = field(default_factory=dict)
    #: (layer digest, kind) -> artifact list
    artifacts: dict[tuple[str, str], list[bytes]] = field(default_factory=dict)
    #: package name -> {record: [bucket numbers]}
    names: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: (name, record, bucket) -> member manifest IDs
    buckets: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    data: dict[str, dict[str, bytes]] = field(default_factory=dict)
    ids: dict[str, dict[bytes, str]] = field(default_factory=dict)
    refs: dict[str, dict[str, int]] = field(default_factory=dict)
    scanners: dict[str, bytes] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)


def _text(b: bytes) -> str:
    return b.decode()


def read_namespace(store: RedisStore, progress: ProgressCallback | None = None) -> Namespace:
    """SCAN the namespace and read every key the layout defines."""
    k, client = store.keys, store.client
    ns = Namespace()
    by_family: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for raw in client.scan_iter(match=k.match_pattern(), count=1000):
        key = raw.decode()
        family, tag, suffix = k.classify(key)
        if family == "other":
            ns.other.append(key)
        else:
            by_family[family].append((key, tag, suffix))
    ns.table = {_text(a): _text(b) for a, b in client.hgetall(k.manifests).items()}
    ns.scanners = {_text(v): i for i, v in client.hgetall(k.scanners).items()}
    for kind in KINDS:
        ns.data[kind] = {_text(i): v for i, v in client.hgetall(k.entity_data(kind)).items()}
        ns.ids[kind] = {h: _text(i) for h, i in client.hgetall(k.entity_ids(kind)).items()}
        ns.refs[kind] = {_text(i): int(n) for i, n in client.hgetall(k.entity_refs(kind)).items()}
    total = sum(len(v) for v in by_family.values())
    done = len(by_family["global"])
    # manifests
    digests = sorted({tag for _, tag, _ in by_family["manifest"]} | set(ns.table.values()))
    hashes = read_many(store, [k.manifest(d) for d in digests], "hgetall")
    scanned = read_many(store, [k.manifest_scanned(d) for d in digests], "smembers")
    blobs = read_many(store, [k.report(d) for d in digests], "get")
    for d, h, sc, blob in zip(digests, hashes, scanned, blobs, strict=True):
        if h:
            ns.manifests[d] = {_text(f): _text(v) for f, v in h.items()}
        if sc:
            ns.manifest_scanned[d] = {_text(x) for x in sc}
        if blob is not None:
            ns.reports[d] = blob
    done += len(by_family["manifest"])
    if progress:
        progress(done, total)
    # layers
    layers = sorted({tag for _, tag, _ in by_family["layer"]})
    present = {tag for _, tag, suffix in by_family["layer"] if suffix == ""}
    members = read_many(store, [k.layer(d) for d in layers], "smembers")
    lscanned = read_many(store, [k.layer_scanned(d) for d in layers], "smembers")
    for d, mem, sc in zip(layers, members, lscanned, strict=True):
        ns.layers[d] = {_text(x) for x in mem} if d in present else None
        if sc:
            ns.layer_scanned[d] = {_text(x) for x in sc}
    pairs = [(d, kind) for d in layers for kind in KINDS]
    lists = read_many(store, [k.layer_artifacts(d, kind) for d, kind in pairs], "lrange", 0, -1)
    ns.artifacts = {p: v for p, v in zip(pairs, lists, strict=True) if v}
    done += len(by_family["layer"])
    if progress:
        progress(done, total)
    # reverse index
    names = sorted({tag for _, tag, suffix in by_family["name"] if suffix == ""})
    for name, h in zip(names, read_many(store, [k.name(n) for n in names], "hgetall"), strict=True):
        ns.names[name] = {_text(r): _text(b).split(",") for r, b in h.items()}
    bucket_keys = [(tag, suffix) for _, tag, suffix in by_family["name"] if suffix]
    sets = read_many(store, [f"{k.name(t)}:{s}" for t, s in bucket_keys], "smembers")
    for (name, suffix), mem in zip(bucket_keys, sets, strict=True):
        rec, _, b = suffix.rpartition(":")
        ns.buckets[(name, rec, b)] = {_text(x) for x in mem}
    done += len(by_family["name"])
    if progress:
        progress(done, total)
    return ns
