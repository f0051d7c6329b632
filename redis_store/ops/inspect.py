"""Look inside a store: its manifests, one manifest's layers and scanners, the registry, and
which manifests exist or are locked right now."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import orjson

from redis_store.codec import storage
from redis_store.models import Digest, VersionedScanner
from redis_store.ops.scan import batched, read_many
from redis_store.store import RedisStore
from redis_store.store.validate import digest as as_digest


@dataclass
class ManifestInfo:
    """What the store holds about one manifest."""

    digest: Digest
    id: int
    layers: list[Digest]
    scanners: list[VersionedScanner] = field(default_factory=list)
    records: int = 0
    has_report: bool = False
    report_bytes: int = 0
    #: Unix seconds of the last index_* / index_report use, if recorded.
    last_used: float | None = None


def scanners(store: RedisStore) -> dict[int, VersionedScanner]:
    """The scanner registry, by scanner ID."""
    out = {}
    for identity, scanner_id in store.client.hgetall(store.keys.scanners).items():
        name, version, kind = orjson.loads(identity)
        out[int(scanner_id)] = VersionedScanner(name, version, kind)
    return dict(sorted(out.items()))


def manifests(store: RedisStore) -> Iterator[tuple[int, Digest]]:
    """Every manifest (ID, digest), in ID order, read in batches."""
    table = store.keys.manifests
    items = []
    for mid, d in store.client.hscan_iter(table, count=1000):
        items.append((int(mid), str.__new__(Digest, d.decode())))
    yield from sorted(items)


def manifest_info(store: RedisStore, manifest: Digest | str) -> ManifestInfo | None:
    """The manifest's ID, layers (persisted order), finished scanners, record count."""
    d = as_digest(manifest, "manifest")
    k = store.keys
    pipe = store.client.pipeline(transaction=False)
    pipe.hgetall(k.manifest(d))
    pipe.smembers(k.manifest_scanned(d))
    pipe.strlen(k.report(d))
    h, scanned, size = pipe.execute()
    if not h:
        return None
    registry = scanners(store)
    layers = [str.__new__(Digest, x) for x in h.get(b"layers", b"").decode().split(",") if x]
    recs = h.get(b"recs", b"")
    used = h.get(b"used")
    return ManifestInfo(
        digest=d,
        id=int(h[b"id"]),
        layers=layers,
        scanners=[registry[int(s)] for s in sorted(scanned, key=int) if int(s) in registry],
        records=len(recs.split(b",")) if recs else 0,
        has_report=size > 0,
        report_bytes=int(size),
        last_used=float(used) if used else None,
    )


def stored_reports(
    store: RedisStore, digests: Iterable[str], batch: int = 100
) -> Iterator[tuple[Digest, bytes | None]]:
    """Each manifest's stored report in claircore's JSON (None: no report), read in pipelined
    batches. Unlike ``index_report``, reading here is not a use of the manifest: inspecting
    a store (a report shown, a nightly export) must not keep its manifests from ``expire``
    nor reorder ``evict``'s least recently used."""
    for chunk in batched((as_digest(d, "digests") for d in digests), batch):
        blobs = read_many(store, [store.keys.report(d) for d in chunk], "get")
        for d, blob in zip(chunk, blobs, strict=True):
            yield d, None if blob is None else storage.report_json(blob)


def manifests_exist(store: RedisStore, digests: Sequence[str]) -> list[bool]:
    """Whether each manifest exists (its hash key does), in order; one EXISTS per manifest,
    pipelined in batches. Tells an unknown digest from one a delete skipped."""
    return [bool(n) for n in read_many(store, [store.keys.manifest(d) for d in digests], "exists")]


def reports_exist(store: RedisStore, digests: Sequence[str]) -> list[bool]:
    """Whether each manifest has a report stored, in order (pipelined like
    :func:`manifests_exist`): what a bulk fill from an origin skips."""
    return [bool(n) for n in read_many(store, [store.keys.report(d) for d in digests], "exists")]


def manifests_locked(store: RedisStore, digests: Sequence[str]) -> list[bool]:
    """Whether someone (an indexer, an import) holds each manifest's index lock right now, in
    order: the reason ``delete_manifests`` skips an existing manifest."""
    return [bool(n) for n in read_many(store, [store.keys.lock(d) for d in digests], "exists")]
