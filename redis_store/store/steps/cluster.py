"""The multi-key methods on a Redis Cluster: ordered, idempotent per-slot steps.

On a cluster a script may only touch one slot, so these methods run as steps
(``scripts/cluster/*.lua``) over the same key layout as a single server. Steps that do not
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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis_store.cache.entries import Fence
from redis_store.codec import storage
from redis_store.errors import StoreError, UnknownLayerError, UnknownManifestError
from redis_store.keys import KINDS, KeyLayout, bucket_of
from redis_store.store import locks
from redis_store.store.calls import Batch, Command, Op, ScriptCall
from redis_store.store.replies import text, unwrap
from redis_store.store.steps import (
    MAX_RETRIES,
    BucketMembers,
    ImportPlan,
    ImportWrite,
    PackageValues,
)
from redis_store.store.steps.single import IMPORTED_KINDS, packed


def run_steps(
    steps: Sequence[Sequence[ScriptCall]], extra: Batch
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


def release_call(keys: KeyLayout, ids: Mapping[str, Iterable[Any]]) -> ScriptCall:
    """Give back references of several kinds in one script (the dictionaries share {g});
    an entity left without references is reclaimed."""
    args: list[Any] = []
    for kind in KINDS:
        counts = Counter(i for i in ids.get(kind, ()) if i not in ("0", b"0"))
        args.append(len(counts))
        for i, n in counts.items():
            args += [i, n]
    return ScriptCall("cluster/release_entities", keys.entity_keys(), args)


def _split(value: bytes | None) -> list[str]:
    return text(value).split(",") if value else []


class ClusterSteps:
    """:class:`~redis_store.store.steps.Steps` for a Redis Cluster: per-slot steps."""

    scripts_span_slots = False

    def forget(self) -> None:
        """Nothing is remembered across calls on a cluster."""

    def __init__(self, keys: KeyLayout, lock_ttl: float) -> None:
        self.keys = keys
        #: The manifest lock a multi-step write takes when its store holds none: waited for
        #: up to twice this (a dead holder's lock has expired by then).
        self.lock_ttl = lock_ttl

    # -- manifests -----------------------------------------------------------------------
    def persist_manifest(self, digest: str, layers: list[str]) -> Op[None]:
        """Claim or create the manifest in ``{m:...}``, then link its layers in each
        ``{l:...}``."""
        k = self.keys
        (manifest_id,) = yield [
            ScriptCall("cluster/persist_manifest", [k.manifest(digest)], ["", *layers])
        ]
        manifest_id = unwrap(manifest_id)
        extra: Batch = []
        if manifest_id is None:
            new_id_call = ScriptCall("cluster/new_manifest_id", [k.seq, k.manifests], [digest])
            (fresh,) = yield [new_id_call]
            fresh = unwrap(fresh)
            claim = ScriptCall("cluster/persist_manifest", [k.manifest(digest)], [fresh, *layers])
            (manifest_id,) = yield [claim]
            manifest_id = unwrap(manifest_id)
            if manifest_id != fresh:  # another writer created the manifest first
                extra.append(ScriptCall("cluster/drop_manifest_id", [k.manifests], [fresh, digest]))
        batch: Batch = [Command(("SADD", k.layer(d), manifest_id)) for d in layers]
        batch += extra
        if batch:
            for reply in (yield batch):
                unwrap(reply)

    # -- layers --------------------------------------------------------------------------
    def index_packages(
        self, layer: str, scanner_id: bytes, epoch: str, packages: list[PackageValues]
    ) -> Op[None]:
        values = [v for source, package, _, _ in packages for v in (source, package)]
        tails = [v for _, _, tail, filepath in packages for v in (tail, filepath)]
        yield from self._index_artifacts("pkg", layer, scanner_id, values, tails)

    def index_entities(
        self, kind: str, layer: str, scanner_id: bytes, epoch: str, values: list[bytes]
    ) -> Op[None]:
        yield from self._index_artifacts(kind, layer, scanner_id, values, [])

    def _index_artifacts(
        self, kind: str, layer: str, scanner_id: bytes, values: list[bytes], tails: list[bytes]
    ) -> Op[None]:
        """Check the layer, upsert the entities and take their references in ``{g}``, append
        the artifacts in ``{l:...}``, give back the references of artifacts the layer already
        held.

        For packages ``values`` alternate source and package values and ``tails`` alternate
        the artifact tail and the filepath, per package; otherwise ``tails`` is empty.
        """
        k = self.keys
        # checked first, so that bad input changes nothing (not even an ID counter)
        (reply,) = yield [Command(("EXISTS", k.layer(layer)))]
        if not unwrap(reply):
            raise UnknownLayerError(f"layer {layer} was never persisted")
        if not values:
            return
        data = [k.entity_data(kind), k.entity_ids(kind), k.entity_refs(kind)]
        (ids,) = yield [ScriptCall("cluster/take_entities", [*data, k.seq], [kind, *values])]
        ids = unwrap(ids)
        if kind == "pkg":
            args: list[Any] = ["pkg", scanner_id]
            for i in range(0, len(ids), 2):
                args += [ids[i + 1], ids[i], tails[i], tails[i + 1]]
        else:
            args = ["-", scanner_id, *ids]
        keys = [k.layer(layer), k.layer_artifacts(layer, kind)]
        (back,) = yield [ScriptCall("cluster/append_artifacts", keys, args)]
        if isinstance(back, Exception):
            # the layer was never persisted: every reference taken goes back, then the error
            yield [release_call(k, {kind: ids})]
            unwrap(back, layer)
        if back:
            (reply,) = yield [release_call(k, {kind: back})]
            unwrap(reply)

    def by_layer(
        self, kind: str, layer: str, scanner_ids: list[bytes], fence: Fence | None, extra: Batch
    ) -> Op[tuple[list[bytes], dict[bytes, bytes], list[Any]]]:
        """The artifact list of ``{l:...}``, then the entities they name from ``{g}`` (which
        do not change while the layer references them)."""
        k = self.keys
        listing = Command(("LRANGE", k.layer_artifacts(layer, kind), 0, -1), fence=fence)
        listed, *others = yield [listing, *extra]
        want = set(scanner_ids)
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
            return [], {}, others
        (values,) = yield [Command(("HMGET", k.entity_data(kind), *needed))]
        found = {i: v for i, v in zip(needed, unwrap(values), strict=True) if v is not None}
        if len(found) < len(needed):  # the layer was reclaimed between the two reads
            artifacts = [a for a in artifacts if _artifact_ids(a, kind) <= found.keys()]
        return artifacts, found, others

    # -- the manifest index --------------------------------------------------------------
    def index_manifest(self, digest: str, rows: dict[str, str], lock_token: str | None) -> Op[None]:
        """Under the manifest's lock (the store's own, or one taken for the call), switch
        its records in ``{m:...}``, then update the reverse index."""
        if lock_token is not None:
            return (yield from self._index_manifest(digest, rows, lock_token))
        key, token = self.keys.lock(digest), locks.new_token()
        backoff = locks.Backoff(blocking=True, timeout=2 * self.lock_ttl)
        yield from locks.acquire(digest, key, token, self.lock_ttl, backoff)
        try:
            yield from self._index_manifest(digest, rows, token)
        except GeneratorExit:
            raise
        except BaseException:
            yield locks.lock_call(key, "release", token, self.lock_ttl)
            raise
        yield locks.lock_call(key, "release", token, self.lock_ttl)

    def _index_manifest(self, digest: str, rows: dict[str, str], token: str) -> Op[None]:
        k = self.keys
        m = k.manifest(digest)
        new_list = ",".join(sorted(rows))
        entity = [k.entity_data("pkg"), k.entity_refs("pkg"), k.entity_data("dist")]
        entity += [k.entity_refs("dist"), k.entity_data("repo"), k.entity_refs("repo")]
        for _ in range(MAX_RETRIES):
            (state,) = yield [Command(("HMGET", m, "id", "recs", "pending", "dirty"))]
            manifest_id, records, pending, dirty = unwrap(state)
            if manifest_id is None:
                raise UnknownManifestError(f"manifest {digest} was never persisted")
            old = dict.fromkeys(_split(records))
            adds = list(rows) if dirty else [r for r in rows if r not in old]
            removes = [r for r in dict.fromkeys([*old, *_split(pending)]) if r not in rows]
            args: list[Any] = [len(adds)]
            for record in adds:
                args += [record, rows[record]]
            package_ids = [r.partition(":")[0] for r in removes]
            check = ScriptCall("cluster/check_records", entity, args + package_ids)
            (names,) = yield [check]
            names = unwrap(names, "report")
            gone = {r: text(n) for r, n in zip(removes, names, strict=True) if n is not None}
            switch = [text(manifest_id), text(records or b""), new_list, ",".join(removes), token]
            (reply,) = yield [ScriptCall("cluster/switch_records", [m, k.lock(digest)], switch)]
            if unwrap(reply) == b"RETRY":
                yield [self._release_records(adds)]
                continue
            bucket = bucket_of(int(manifest_id))
            add_steps = [
                ScriptCall(
                    "cluster/add_record",
                    [k.name(rows[r]), k.bucket(rows[r], r, bucket)],
                    [r, manifest_id, bucket],
                )
                for r in adds
            ]
            remove_steps = [
                ScriptCall(
                    "cluster/remove_record",
                    [k.name(n), k.bucket(n, r, bucket)],
                    [r, bucket, manifest_id],
                )
                for r, n in gone.items()
            ]
            (created, dropped), _ = yield from run_steps([add_steps, remove_steps], [])
            give_back = [r for r, new in zip(adds, created, strict=True) if not new]
            give_back += [r for r, gone_now in zip(gone, dropped, strict=True) if gone_now]
            finish: Batch = [ScriptCall("cluster/settle_records", [m], [new_list])]
            if give_back:
                finish.append(self._release_records(give_back))
            for reply in (yield finish):
                unwrap(reply)
            return
        raise StoreError(f"manifest {digest} kept changing while being indexed; try again")

    def _release_records(self, records: Iterable[str]) -> ScriptCall:
        """Give back the references of records: packages, distributions and repositories."""
        ids: list[list[str]] = [[], [], []]
        for record in records:
            for t, i in enumerate(record.split(":")):
                if i != "0":
                    ids[t].append(i)
        return release_call(self.keys, {"pkg": ids[0], "dist": ids[1], "repo": ids[2]})

    # -- deletion ------------------------------------------------------------------------
    def delete_manifests(
        self, digests: Sequence[str], lock_tokens: Mapping[str, str]
    ) -> Op[list[str]]:
        """Delete each manifest's own keys in ``{m:...}``, then its records, layers and
        references; every step is batched over all the manifests."""
        k = self.keys
        deleted: list[str] = []
        pending = list(digests)
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
            for d, (manifest_id, generation, _, _, _) in plans.items():
                keys = [k.manifest(d), k.manifest_scanned(d), k.report(d), k.lock(d)]
                args = [manifest_id, generation, lock_tokens.get(d, "")]
                calls.append(ScriptCall("cluster/delete_manifest_keys", keys, args))
            records = {
                d: list(dict.fromkeys(_split(p[3]) + _split(p[4]))) for d, p in plans.items()
            }
            package_ids = [r.partition(":")[0] for recs in records.values() for r in recs]
            if package_ids:
                calls.append(Command(("HMGET", k.entity_data("pkg"), *package_ids)))
            replies = yield calls
            names = iter(unwrap(replies[-1]) if package_ids else ())
            pending = []
            unlinks: Batch = []
            removals: list[ScriptCall] = []
            for (d, plan), reply in zip(plans.items(), replies, strict=False):
                manifest_id, _, layers, _, _ = plan
                named = [(r, next(names)) for r in records[d]]
                status = unwrap(reply, d)
                if status == b"RETRY":
                    pending.append(d)
                if status != b"DELETED":
                    continue
                deleted.append(d)
                unlinks.append(
                    ScriptCall("cluster/drop_manifest_id", [k.manifests], [manifest_id, d])
                )
                bucket = bucket_of(int(manifest_id))
                for record, value in named:
                    if value is not None:
                        name = storage.package_name(value)
                        keys = [k.name(name), k.bucket(name, record, bucket)]
                        args = [record, bucket, manifest_id]
                        removals.append(ScriptCall("cluster/remove_record", keys, args))
                for layer in _split(layers):
                    unlinks.append(
                        ScriptCall("cluster/leave_layer", k.layer_keys(layer), [manifest_id])
                    )
            if unlinks or removals:
                yield from self._unlink(removals, unlinks)
        else:
            raise StoreError(f"manifests {pending} kept changing while being deleted")
        return deleted

    def _unlink(self, removals: list[ScriptCall], steps: Batch) -> Op[None]:
        """Take deleted manifests out of records, layers and the table in one round trip,
        then give back what those held in one more."""
        released: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        (dropped,), replies = yield from run_steps([removals], steps)
        for removal, gone in zip(removals, dropped, strict=True):
            if gone:
                record = text(removal.args[0])
                for kind, i in zip(("pkg", "dist", "repo"), record.split(":"), strict=True):
                    if i != "0":
                        released[kind].append(i)
        for call, reply in zip(steps, replies, strict=True):
            result = unwrap(reply)
            if isinstance(call, ScriptCall) and call.name == "cluster/leave_layer" and result:
                for kind, ids in zip(KINDS, result, strict=True):
                    released[kind] += ids
        if any(released.values()):
            (reply,) = yield [release_call(self.keys, released)]
            unwrap(reply)

    # -- import --------------------------------------------------------------------------
    def import_plan(
        self, digest: str, scanners: list[bytes], missing: dict[str, list[bytes]], token: str
    ) -> Op[ImportPlan | None]:
        """The registry and entities from ``{g}`` and the manifest from ``{m:...}``, in one
        round trip (and one more for the package names of a manifest's old records). The
        importer holds the manifest's lock (``token``) throughout its steps."""
        k = self.keys
        keys = [k.scanners, k.seq]
        args: list[Any] = [locks.new_token()[:16], len(scanners), *scanners]
        for kind in IMPORTED_KINDS:
            keys += [k.entity_data(kind), k.entity_ids(kind)]
            args += [0, b"".join(missing.get(kind, []))]
        m = k.manifest(digest)
        reply, state, report = yield [
            ScriptCall("cluster/import_plan", keys, args),
            Command(("HMGET", m, "gen", "id", "layers", "recs")),
            Command(("GET", k.report(digest))),
        ]
        epoch, counter, scanner_ids, *per_kind = unwrap(reply)
        generation, manifest_id, layers, records = unwrap(state)
        plan: list[Any] = []
        if manifest_id is not None:
            plan = [generation or b"", manifest_id, layers or b"", records or b""]
            pids = [r.partition(":")[0] for r in _split(records)]
            if pids:
                (values,) = yield [Command(("HMGET", k.entity_data("pkg"), *pids))]
                plan += [storage.package_name(v) if v else "" for v in unwrap(values)]
        found: dict[str, dict[bytes, tuple[bytes, bytes]]] = {}
        reserved: dict[str, list[bytes]] = {}
        for kind, (first, count, pairs) in zip(IMPORTED_KINDS, per_kind, strict=True):
            hashes = missing.get(kind, [])
            found[kind] = {
                h: (i, v)
                for h, i, v in zip(hashes, pairs[::2], pairs[1::2], strict=True)
                if i is not None and v is not None
            }
            reserved[kind] = [str(n).encode() for n in range(int(first), int(first) + count)]
        return ImportPlan(
            epoch=text(epoch),
            scanner_ids=list(scanner_ids),
            manifest_counter=int(counter),
            found=found,
            reserved=reserved,
            manifest=plan,
            report=unwrap(report),
        )

    def import_write(self, write: ImportWrite) -> Op[list[Any]]:
        """Under the manifest's lock, which the importer holds: the entities and references
        in ``{g}``, then every layer and record at once, then the manifest in ``{m:...}``,
        where readers see it whole. A step that fails is undone."""
        k = self.keys
        d = write.digest
        assert write.token, "a cluster import holds the manifest's lock"
        if write.fresh_plan:  # read under the lock: as it still is
            exists = bool(write.planned)
        else:
            state, has_report = yield [
                Command(("HGET", k.manifest(d), "id")),
                Command(("EXISTS", k.report(d))),
            ]
            if write.expect_no_report and unwrap(has_report):
                return [b"RETRY", b"report", b"0"]
            exists = unwrap(state) is not None
        if exists:
            if not write.planned:
                return [b"RETRY", b"manifest", b"0"]
            # an unfinished manifest: replaced whole (its keys are under our lock)
            yield from self.delete_manifests([d], {d: write.token})
        return (yield from self._import_new(write, write.token))

    def _import_new(self, write: ImportWrite, token: str) -> Op[list[Any]]:
        k = self.keys
        d = write.digest
        dicts = [
            key
            for kind in IMPORTED_KINDS
            for key in (k.entity_data(kind), k.entity_ids(kind), k.entity_refs(kind))
        ]
        uses: dict[str, Counter[bytes]] = {kind: Counter() for kind in IMPORTED_KINDS}
        for p_out, d_out, r_out in write.artifacts.values():
            for a in p_out:
                pid, _, src = a.partition(b"\n")[0].split(b",", 3)[:3]
                uses["pkg"][pid] += 1
                uses["pkg"][src] += 1
            for a in d_out:
                uses["dist"][a.partition(b",")[0]] += 1
            for a in r_out:
                uses["repo"][a.partition(b",")[0]] += 1
        for record in write.records:
            for kind, i in zip(IMPORTED_KINDS, record.split(":"), strict=True):
                if i != "0":
                    uses[kind][i.encode()] += 1
        args: list[Any] = [write.epoch, d]
        for kind in IMPORTED_KINDS:
            entities = write.entities[kind]
            args += [b",".join(i for i, _, _ in entities), *packed([v for _, v, _ in entities])]
            args.append("".join(how for _, _, how in entities))
        for kind in IMPORTED_KINDS:
            args.append(b",".join(b"%s:%d" % (i, n) for i, n in uses[kind].items()))
        (reply,) = yield [ScriptCall("cluster/import_entities", [k.seq, k.manifests, *dicts], args)]
        out = unwrap(reply)
        if out[0] != b"OK":
            return [b"RETRY", out[1], b"0"]
        manifest_id = text(out[1])
        return (yield from self._import_links(write, token, manifest_id))

    def _import_links(self, write: ImportWrite, token: str, manifest_id: str) -> Op[list[Any]]:
        """Every layer and record at once, then the manifest (with the references given
        back that layers and records held already). A step that fails is undone: the
        manifest is taken out of what it was linked to (references it made go back with
        what they referenced; a count may stay too high where a step's outcome is unknown,
        which ``fsck --repair`` lowers, never too low)."""
        k = self.keys
        d = write.digest
        bucket = bucket_of(int(manifest_id))
        scanners = b",".join(write.scanner_ids)
        layer_steps = []
        for layer in write.layers:
            arts = write.artifacts[layer]
            flat = [a for some in arts for a in some]
            keys = [k.layer(layer), k.layer_scanned(layer)]
            keys += [k.layer_artifacts(layer, kind) for kind in IMPORTED_KINDS]
            counts = ",".join(str(len(some)) for some in arts)
            layer_steps.append(
                ScriptCall(
                    "cluster/import_layer", keys, [manifest_id, scanners, counts, *packed(flat)]
                )
            )
        by_name: dict[str, list[str]] = {}
        for record, name in write.records.items():
            by_name.setdefault(name, []).append(record)
        record_steps = [
            ScriptCall(
                "cluster/import_records",
                [k.name(name), *(k.bucket(name, r, bucket) for r in records)],
                [manifest_id, bucket, *records],
            )
            for name, records in by_name.items()
        ]
        try:
            (held, created), _ = yield from run_steps([layer_steps, record_steps], [])
        except GeneratorExit:
            raise
        except BaseException:
            yield from self._unimport(write, manifest_id)
            raise
        back: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        for ids in held:
            for kind, some in zip(IMPORTED_KINDS, ids, strict=True):
                back[kind] += some
        for records, news in zip(by_name.values(), created, strict=True):
            for record, new in zip(records, news, strict=True):
                if not new:
                    for kind, i in zip(IMPORTED_KINDS, record.split(":"), strict=True):
                        if i != "0":
                            back[kind].append(i)
        keys = [k.manifest(d), k.manifest_scanned(d), k.report(d), k.lock(d)]
        args = [manifest_id, ",".join(write.layers), ",".join(sorted(write.records))]
        finish: Batch = [
            ScriptCall(
                "cluster/import_manifest",
                keys,
                [*args, write.blob, scanners, token, int(write.release_lock)],
            )
        ]
        if any(back.values()):
            finish.append(release_call(k, back))
        replies = yield finish
        for reply in replies[1:]:
            unwrap(reply)
        try:
            unwrap(replies[0], d)
        except GeneratorExit:
            raise
        except BaseException:
            yield from self._unimport(write, manifest_id)
            raise
        return [b"OK", manifest_id.encode()]

    def _unimport(self, write: ImportWrite, manifest_id: str) -> Op[None]:
        """Take a manifest that was never written out of its layers, records and the table
        (each step idempotent; what they held goes back with them)."""
        k = self.keys
        bucket = bucket_of(int(manifest_id))
        removals = [
            ScriptCall(
                "cluster/remove_record",
                [k.name(name), k.bucket(name, record, bucket)],
                [record, bucket, manifest_id],
            )
            for record, name in write.records.items()
        ]
        steps: Batch = [
            ScriptCall("cluster/drop_manifest_id", [k.manifests], [manifest_id, write.digest])
        ]
        steps += [
            ScriptCall("cluster/leave_layer", k.layer_keys(layer), [manifest_id])
            for layer in write.layers
        ]
        yield from self._unlink(removals, steps)

    # -- AffectedManifests ---------------------------------------------------------------
    def affected_candidates(self, names: list[str]) -> Op[list[Any]]:
        """What ``affected_candidates.lua`` answers on one server, in two trips: the names'
        records from each ``{n:...}``, then the entities they reference from ``{g}``."""
        k = self.keys
        per_name = yield from read_keys("HGETALL", [k.name(n) for n in names])
        flat = [list(_flatten(h)) for h in per_name]
        need: list[dict[bytes, None]] = [{}, {}, {}]
        for rows in flat:
            for record in rows[::2]:
                for t, i in enumerate(record.split(b":")):
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

    def manifests_of(self, buckets: list[str]) -> Op[BucketMembers]:
        """What ``manifests_of.lua`` answers on one server: bucket members, then the digests
        of the IDs from the table, keeping only manifests that still exist under that ID."""
        k = self.keys
        per_bucket = yield from read_keys("SMEMBERS", buckets)
        ids = list(dict.fromkeys(i for members in per_bucket for i in members))
        if not ids:
            return per_bucket, [], []
        (digests,) = yield [Command(("HMGET", k.manifests, *ids))]
        digests = unwrap(digests)
        live = [(i, d) for i, d in zip(ids, digests, strict=True) if d is not None]
        owners = yield from read_keys("HGET", [k.manifest(text(d)) for _, d in live], "id")
        confirmed = {i: d for (i, d), owner in zip(live, owners, strict=True) if owner == i}
        return per_bucket, ids, [confirmed.get(i) for i in ids]


def _artifact_ids(art: bytes, kind: str) -> set[bytes]:
    fields = art.partition(b"\n")[0].split(b",", 3)
    return {fields[0], fields[2]} if kind == "pkg" else {fields[0]}


def _flatten(h: Any) -> Iterable[bytes]:
    items = h.items() if isinstance(h, dict) else zip(h[::2], h[1::2], strict=True)
    for key, value in items:
        yield key
        yield value


__all__ = ["ClusterSteps", "read_keys", "release_call", "run_steps"]
