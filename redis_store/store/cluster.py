"""The Redis Cluster execution of the store methods whose keys span several slots.

On a cluster a script may only touch one slot, so these methods run as ordered, idempotent
per-slot steps (``c_*.lua``) over the same key layout as a single server. Steps that do not
depend on each other share a round trip (a cluster pipeline reaches several shards at once).
The rules that keep readers and repairs right:

* a reference to an entity is taken in ``{g}`` *before* anything uses it, and given back
  *after* the use is gone, so a count is never below the uses (a crash in between leaves a
  count too high, which ``fsck --repair`` lowers; never an entity that is in use but reclaimed);
* a manifest's own keys change in one script on ``{m:<digest>}``: its records switch at once,
  and a deleted manifest answers nothing from its first step on (readers check that a
  manifest ID from the reverse index still names a live manifest);
* ``index_manifest`` notes its unfinished reverse-index work in the manifest (``pending``,
  ``dirty``) so the next writer of the manifest finishes it, and writers of one manifest take
  its lock (or use the one their store holds), so they do not interleave.

``docs/design.md`` lists the steps of every method.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from redis_store.codec import storage
from redis_store.errors import (
    LockError,
    StoreError,
    UnknownLayerError,
    UnknownManifestError,
)
from redis_store.keys import ENTITY_KINDS, bucket_of
from redis_store.store.protocol import Batch, Command, Op, Pause, Script
from redis_store.store.replies import text, unwrap

if TYPE_CHECKING:
    from redis_store.store.core import StoreCore

#: Attempts of a step sequence that found the manifest changed under it.
MAX_RETRIES: Final = 32


def run_steps(
    steps: Sequence[Sequence[Script]], extra: Batch
) -> Op[tuple[list[list[Any]], list[Any]]]:
    """Lists of per-slot steps and ``extra`` calls in one round trip: each step's reply, and
    extra's. (A script may only declare keys of one slot, so there is one per record.)"""
    flat: Batch = [call for calls in steps for call in calls]
    replies = (yield flat + list(extra)) if flat or extra else []
    out: list[list[Any]] = []
    at = 0
    for calls in steps:
        out.append([unwrap(r) for r in replies[at : at + len(calls)]])
        at += len(calls)
    return out, replies[at:]


def read_keys(command: str, keys: Sequence[str], *field: str) -> Op[list[Any]]:
    """One read command (``HGETALL``, ``SMEMBERS``, ``HGET field``) over many keys."""
    replies = (yield [Command((command, key, *field)) for key in keys]) if keys else []
    return [unwrap(r) for r in replies]


# -- manifests ---------------------------------------------------------------------------
def persist_manifest(core: StoreCore, digest: str, layers: list[str]) -> Op[None]:
    """Claim or create the manifest in ``{m:...}``, then link its layers in each ``{l:...}``."""
    k = core.keys
    claim = Script("c_persist", [k.manifest(digest)], ["", *layers])
    (mid,) = yield [claim]
    mid = unwrap(mid)
    extra: Batch = []
    if mid is None:
        (fresh,) = yield [Script("c_new_id", [k.seq, k.manifests], [digest])]
        fresh = unwrap(fresh)
        (mid,) = yield [Script("c_persist", [k.manifest(digest)], [fresh, *layers])]
        mid = unwrap(mid)
        if mid != fresh:  # another writer created the manifest first
            extra.append(Script("c_drop_id", [k.manifests], [fresh, digest]))
    batch: Batch = [Command(("SADD", k.layer(d), mid)) for d in layers]
    batch += extra
    if batch:
        for reply in (yield batch):
            unwrap(reply)


# -- layers ------------------------------------------------------------------------------
def index_artifacts(
    core: StoreCore, kind: str, digest: str, sid: bytes, values: list[bytes], tails: list[bytes]
) -> Op[None]:
    """Check the layer, upsert the entities and take their references in ``{g}``, append the
    artifacts in ``{l:...}``, give back the references of artifacts the layer already held.

    For packages ``values`` alternate source and package values and ``tails`` alternate the
    artifact tail and the filepath, per package; otherwise ``tails`` is empty.
    """
    # checked first, so that bad input changes nothing (not even an ID counter)
    (reply,) = yield [Command(("EXISTS", core.keys.layer(digest)))]
    if not unwrap(reply):
        raise UnknownLayerError(f"layer {digest} was never persisted")
    if not values:
        return
    k = core.keys
    data = [k.entity_data(kind), k.entity_ids(kind), k.entity_refs(kind)]
    (ids,) = yield [Script("c_take", [*data, k.seq], [kind, *values])]
    ids = unwrap(ids)
    if kind == "pkg":
        args: list[Any] = ["pkg", sid]
        for i in range(0, len(ids), 2):
            args += [ids[i + 1], ids[i], tails[i], tails[i + 1]]
    else:
        args = ["-", sid, *ids]
    keys = [k.layer(digest), k.layer_artifacts(digest, kind)]
    (back,) = yield [Script("c_append", keys, args)]
    if isinstance(back, Exception):
        # the layer was never persisted: every reference taken goes back, then the error
        yield [release(core, {kind: ids})]
        unwrap(back, digest)
    if back:
        (reply,) = yield [release(core, {kind: back})]
        unwrap(reply)


def by_layer(
    core: StoreCore, kind: str, digest: str, ids: list[bytes]
) -> Op[tuple[list[bytes], dict[bytes, bytes]]]:
    """(artifacts of the scanners with these IDs, entity values): the artifact list of
    ``{l:...}``, then the entities they name from ``{g}``."""
    k = core.keys
    (listed,) = yield [Command(("LRANGE", k.layer_artifacts(digest, kind), 0, -1))]
    want = set(ids)
    artifacts: list[bytes] = []
    needed: dict[bytes, None] = {}
    for art in unwrap(listed):
        fields = art.partition(b"\n")[0].split(b",", 3)
        if fields[1] in want:
            artifacts.append(art)
            needed[fields[0]] = None
            if kind == "pkg":
                needed[fields[2]] = None
    if not needed:
        return [], {}
    (values,) = yield [Command(("HMGET", k.entity_data(kind), *needed))]
    found = {i: v for i, v in zip(needed, unwrap(values), strict=True) if v is not None}
    if len(found) < len(needed):  # the layer was reclaimed between the two reads
        artifacts = [a for a in artifacts if _artifact_ids(a, kind) <= found.keys()]
    return artifacts, found


def _artifact_ids(art: bytes, kind: str) -> set[bytes]:
    fields = art.partition(b"\n")[0].split(b",", 3)
    return {fields[0], fields[2]} if kind == "pkg" else {fields[0]}


# -- locking the manifest for a multi-step write -----------------------------------------
def _hold(core: StoreCore, digest: str) -> Op[str | None]:
    """Take the manifest's lock unless this store holds it; returns the token to release."""
    if digest in core._held_locks:
        return None
    token = core._new_token()
    pause, waited = 0.005, 0.0
    limit = 2 * core.lock_ttl  # a dead holder's lock has expired by then
    while True:
        (reply,) = yield core._lock_call(digest, "acquire", token)
        if unwrap(reply):
            return token
        if waited >= limit:
            raise LockError(
                f"manifest {digest} is held by another indexer for more than {limit:g}s"
            )
        yield Pause(pause)
        waited += pause
        pause = min(pause * 2, 0.25)


# -- the manifest index ------------------------------------------------------------------
def index_manifest(core: StoreCore, digest: str, rows: dict[str, str]) -> Op[None]:
    """Switch the manifest's records in ``{m:...}``, then update the reverse index."""
    token = yield from _hold(core, digest)
    try:
        yield from _index_manifest(core, digest, rows)
    except GeneratorExit:
        raise
    except BaseException:
        if token is not None:
            yield core._lock_call(digest, "release", token)
        raise
    if token is not None:
        yield core._lock_call(digest, "release", token)


def _index_manifest(core: StoreCore, digest: str, rows: dict[str, str]) -> Op[None]:
    k = core.keys
    m = k.manifest(digest)
    new_list = ",".join(sorted(rows))
    entity = [k.entity_data("pkg"), k.entity_refs("pkg"), k.entity_data("dist")]
    entity += [k.entity_refs("dist"), k.entity_data("repo"), k.entity_refs("repo")]
    for _ in range(MAX_RETRIES):
        (state,) = yield [Command(("HMGET", m, "id", "recs", "pending", "dirty"))]
        mid, recs, pending, dirty = unwrap(state)
        if mid is None:
            raise UnknownManifestError(f"manifest {digest} was never persisted")
        old = dict.fromkeys(_split(recs))
        adds = list(rows) if dirty else [r for r in rows if r not in old]
        removes = [r for r in dict.fromkeys([*old, *_split(pending)]) if r not in rows]
        args: list[Any] = [len(adds)]
        for rec in adds:
            args += [rec, rows[rec]]
        pids = [r.partition(":")[0] for r in removes]
        (names,) = yield [Script("c_check_records", entity, args + pids)]
        names = unwrap(names, "report")
        gone = {r: text(n) for r, n in zip(removes, names, strict=True) if n is not None}
        switch = [text(mid), text(recs or b""), new_list, ",".join(removes)]
        (reply,) = yield [Script("c_switch", [m], switch)]
        if unwrap(reply) == b"RETRY":
            yield [_release_records(core, adds)]
            continue
        bucket = bucket_of(int(mid))
        add_steps = [
            Script("c_rec_add", [k.name(rows[r]), k.bucket(rows[r], r, bucket)], [r, mid, bucket])
            for r in adds
        ]
        remove_steps = [
            Script("c_rec_remove", [k.name(n), k.bucket(n, r, bucket)], [r, bucket, mid])
            for r, n in gone.items()
        ]
        (created, dropped), _ = yield from run_steps([add_steps, remove_steps], [])
        give_back = [r for r, new in zip(adds, created, strict=True) if not new]
        give_back += [r for r, gone_now in zip(gone, dropped, strict=True) if gone_now]
        finish: Batch = [Script("c_settle", [m], [new_list])]
        if give_back:
            finish.append(_release_records(core, give_back))
        for reply in (yield finish):
            unwrap(reply)
        return
    raise StoreError(f"manifest {digest} kept changing while being indexed; try again")


def _release_records(core: StoreCore, records: Iterable[str]) -> Script:
    """Give back the references of records: packages, distributions and repositories."""
    ids: list[list[str]] = [[], [], []]
    for rec in records:
        for t, i in enumerate(rec.split(":")):
            if i != "0":
                ids[t].append(i)
    return release(core, {"pkg": ids[0], "dist": ids[1], "repo": ids[2]})


def release(core: StoreCore, ids: dict[str, list[Any]]) -> Script:
    """Give back references of several kinds in one script (the dictionaries share {g})."""
    args: list[Any] = []
    for kind in ENTITY_KINDS:
        counts = Counter(i for i in ids.get(kind, ()) if i not in ("0", b"0"))
        args.append(len(counts))
        for i, n in counts.items():
            args += [i, n]
    return Script("c_release_all", core.keys.entity_keys(), args)


def _split(value: bytes | None) -> list[str]:
    return text(value).split(",") if value else []


# -- deletion ----------------------------------------------------------------------------
def delete_manifests(core: StoreCore, wanted: Sequence[str]) -> Op[list[str]]:
    """Delete each manifest's own keys in ``{m:...}``, then its records, layers and
    references; every step is batched over all the manifests."""
    k = core.keys
    deleted: list[str] = []
    pending = list(wanted)
    for _ in range(MAX_RETRIES):
        if not pending:
            break
        fields = ("id", "gen", "layers", "recs", "pending")
        states = yield [Command(("HMGET", k.manifest(d), *fields)) for d in pending]
        read = {d: unwrap(s) for d, s in zip(pending, states, strict=True)}
        plans = {d: plan for d, plan in read.items() if plan[0] is not None}
        if not plans:
            break
        calls: Batch = []
        for d, (mid, gen, _, _, _) in plans.items():
            keys = [k.manifest(d), k.manifest_scanned(d), k.report(d), k.lock(d)]
            calls.append(Script("c_delete_manifest", keys, [mid, gen, core._held_locks.get(d, "")]))
        records = {d: list(dict.fromkeys(_split(p[3]) + _split(p[4]))) for d, p in plans.items()}
        pids = [r.partition(":")[0] for recs in records.values() for r in recs]
        if pids:
            calls.append(Command(("HMGET", k.entity_data("pkg"), *pids)))
        replies = yield calls
        names = iter(unwrap(replies[-1]) if pids else ())
        pending = []
        undo: Batch = []
        removals: list[Script] = []
        for (d, plan), reply in zip(plans.items(), replies, strict=False):
            mid, _, layers, _, _ = plan
            recs = [(r, next(names)) for r in records[d]]
            status = unwrap(reply, d)
            if status == b"RETRY":
                pending.append(d)
            if status != b"DELETED":
                continue
            deleted.append(d)
            undo.append(Script("c_drop_id", [k.manifests], [mid, d]))
            bucket = bucket_of(int(mid))
            for rec, value in recs:
                if value is not None:
                    name = storage.package_name(value)
                    keys = [k.name(name), k.bucket(name, rec, bucket)]
                    removals.append(Script("c_rec_remove", keys, [rec, bucket, mid]))
            for layer in _split(layers):
                undo.append(Script("c_layer_leave", k.layer_keys(layer), [mid]))
        if undo or removals:
            yield from _undo(core, removals, undo)
    else:
        raise StoreError(f"manifests {pending} kept changing while being deleted")
    return deleted


def _undo(core: StoreCore, removals: list[Script], steps: Batch) -> Op[None]:
    """Run record removals (grouped per node) and the other steps in one round trip, then
    give back what they held in one more."""
    released: dict[str, list[Any]] = {kind: [] for kind in ENTITY_KINDS}
    (dropped,), replies = yield from run_steps([removals], steps)
    for removal, gone in zip(removals, dropped, strict=True):
        if gone:
            rec = text(removal.args[0])
            for kind, i in zip(("pkg", "dist", "repo"), rec.split(":"), strict=True):
                if i != "0":
                    released[kind].append(i)
    for call, reply in zip(steps, replies, strict=True):
        result = unwrap(reply)
        assert isinstance(call, Script)
        if call.name == "c_layer_leave" and result:
            for kind, ids in zip(ENTITY_KINDS, result, strict=True):
                released[kind] += ids
    if any(released.values()):
        (reply,) = yield [release(core, released)]
        unwrap(reply)


# -- AffectedManifests -------------------------------------------------------------------
def affected_candidates(core: StoreCore, names: list[str]) -> Op[list[Any]]:
    """What ``affected_candidates.lua`` answers on one server, in two trips: the names'
    records from each ``{n:...}``, then the entities they reference from ``{g}``."""
    k = core.keys
    per_name = yield from read_keys("HGETALL", [k.name(n) for n in names])
    flat = [list(_flatten(h)) for h in per_name]
    need: list[dict[bytes, None]] = [{}, {}, {}]
    for rows in flat:
        for rec in rows[::2]:
            for t, i in enumerate(rec.split(b":")):
                if i != b"0":
                    need[t][i] = None
    calls: Batch = []
    for t, kind in enumerate(("pkg", "dist", "repo")):
        if need[t]:
            calls.append(Command(("HMGET", k.entity_data(kind), *need[t])))
    replies = iter((yield calls) if calls else [])
    out: list[Any] = [flat]
    for t in range(3):
        ids = list(need[t])
        out += [ids, unwrap(next(replies)) if ids else []]
    return out


def _flatten(h: Any) -> Iterable[bytes]:
    items = h.items() if isinstance(h, dict) else zip(h[::2], h[1::2], strict=True)
    for key, value in items:
        yield key
        yield value


def manifests_of(core: StoreCore, buckets: list[str]) -> Op[list[Any]]:
    """What ``manifests_of.lua`` answers on one server: bucket members, then the digests of
    the IDs from the table, keeping only manifests that still exist under that ID."""
    k = core.keys
    per_bucket = yield from read_keys("SMEMBERS", buckets)
    ids = list(dict.fromkeys(i for members in per_bucket for i in members))
    if not ids:
        return [per_bucket, [], []]
    (digests,) = yield [Command(("HMGET", k.manifests, *ids))]
    digests = unwrap(digests)
    live = [(i, d) for i, d in zip(ids, digests, strict=True) if d is not None]
    owners = yield from read_keys("HGET", [k.manifest(text(d)) for _, d in live], "id")
    confirmed = {i: d for (i, d), owner in zip(live, owners, strict=True) if owner == i}
    return [per_bucket, ids, [confirmed.get(i) for i in ids]]
