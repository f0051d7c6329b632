"""Which manifests a store holds, filtered the ways operators ask: finished or not, unused
for a while (what ``expire`` would take), using a given layer."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from redis_store.codec import storage
from redis_store.models import Digest
from redis_store.ops.inspect import manifests
from redis_store.ops.scan import ProgressCallback, batched, read_many
from redis_store.store import RedisStore
from redis_store.store.validate import digest as as_digest


@dataclass
class ManifestEntry:
    """One manifest, as ``list`` shows it."""

    digest: Digest
    id: int
    layers: int
    #: Unix seconds of the last index or report read, if recorded.
    last_used: float | None
    #: The stored report's state and success (None: no report, or not read).
    state: str | None = None
    success: bool | None = None

    @property
    def finished(self) -> bool:
        """A finished index report is stored (claircore sets success at IndexFinished)."""
        return bool(self.success)


def list_manifests(
    store: RedisStore,
    *,
    finished: bool | None = None,
    unused_for: float | None = None,
    layer: str | None = None,
    states: bool = False,
    progress: ProgressCallback | None = None,
) -> list[ManifestEntry]:
    """The manifests of the namespace, in ID order: only the finished ones (``finished=True``)
    or the others (False); only those not indexed or read for ``unused_for`` seconds by the
    server's clock (a manifest with no recorded use is never among them, as ``expire`` keeps
    it); only those using ``layer``. ``states`` reads each report's state and success
    (always when filtering on ``finished``)."""
    if unused_for is not None and unused_for < 0:
        raise ValueError("unused_for must not be negative")
    k = store.keys
    if layer is None:
        chosen = list(manifests(store))
    else:
        chosen = _using_layer(store, as_digest(layer, "layer"))
    cutoff = None
    if unused_for is not None:
        seconds, _ = store.client.time()
        cutoff = seconds - unused_for
    read_states = states or finished is not None
    out: list[ManifestEntry] = []
    done = 0
    for chunk in batched(chosen):
        digests = [d for _, d in chunk]
        fields = read_many(store, [k.manifest(d) for d in digests], "hmget", "layers", "used")
        blobs = read_many(store, [k.report(d) for d in digests], "get") if read_states else None
        for i, ((manifest_id, d), (layer_list, used)) in enumerate(zip(chunk, fields, strict=True)):
            last_used = float(used) if used else None
            if cutoff is not None and (last_used is None or last_used >= cutoff):
                continue
            entry = ManifestEntry(d, manifest_id, _count(layer_list), last_used)
            if blobs is not None and blobs[i] is not None:
                entry.state, entry.success = _state(blobs[i])
            if finished is not None and entry.finished != finished:
                continue
            out.append(entry)
        done += len(chunk)
        if progress:
            progress(done, len(chosen))
    return out


def _using_layer(store: RedisStore, layer: Digest) -> list[tuple[int, Digest]]:
    """(ID, digest) of the live manifests a layer lists, in ID order."""
    ids = sorted(int(i) for i in store.client.smembers(store.keys.layer(layer)))
    if not ids:
        return []
    found = store.client.hmget(store.keys.manifests, [str(i) for i in ids])
    return [(i, str.__new__(Digest, d.decode())) for i, d in zip(ids, found, strict=True) if d]


def _count(layer_list: bytes | None) -> int:
    return len(layer_list.split(b",")) if layer_list else 0


def _state(blob: bytes) -> tuple[str | None, bool | None]:
    """A stored report's state and success, from its JSON."""
    doc = orjson.loads(storage.report_json(blob))
    return doc.get("state"), doc.get("success")


__all__ = ["ManifestEntry", "list_manifests"]
