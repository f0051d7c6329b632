"""The multi-key methods on one server (standalone or Sentinel): one script each.

Every key a script touches is passed in ``KEYS``; keys that depend on stored data (a
manifest's layers and records) come from a read-only plan (``manifest_plan``), and the write
script checks the manifest's generation, so a write planned on stale data retries instead of
applying.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from redis_store.cache.entries import Fence
from redis_store.errors import StoreError, UnknownManifestError
from redis_store.keys import KeyLayout, bucket_of
from redis_store.store.calls import Arg, Batch, Op, ScriptCall
from redis_store.store.replies import text, unwrap
from redis_store.store.steps import (
    MAX_RETRIES,
    BucketMembers,
    ImportPlan,
    ImportWrite,
    PackageValues,
)

#: The kinds of entity an import names, in the order its scripts take them.
IMPORTED_KINDS: Final = ("pkg", "dist", "repo")

#: Reverse-index buckets (up to 512 manifest IDs each) one ``manifests_of`` script reads: a
#: large AffectedManifests batch becomes several short scripts, not one that blocks the server.
BUCKETS_PER_SCRIPT: Final = 64

#: Manifest plans remembered (least recently used forgotten first).
PLANS: Final = 16384

#: A manifest's plan as ``manifest_plan`` answers it: generation, ID, layers, records, then
#: one package name per record.
Plan = list[Any]


def new_generation() -> str:
    """A manifest's generation after a write: a random token, so a plan remembered from
    before a server lost its data can never match a manifest written since."""
    return secrets.token_hex(8)


def packed(items: list[bytes]) -> tuple[bytes, str]:
    """Items as two script arguments, their bytes end to end and their lengths (``unpacked``
    in ``lib.lua``): a client packs two large arguments much faster than thousands."""
    return b"".join(items), ",".join([str(len(x)) for x in items])


class Plans:
    """Plans of manifests this store read or wrote last. A remembered plan saves the plan
    read of ``index_manifest`` and ``delete_manifests``: their scripts check the generation
    and answer RETRY when the manifest changed since, so a stale plan costs a re-read, never
    a wrong write."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Plan | None:
        with self._lock:
            plan = self._plans.get(digest)
            if plan is not None:
                self._plans.move_to_end(digest)
            return plan

    def put(self, digest: str, plan: Plan) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._plans[digest] = plan
            self._plans.move_to_end(digest)
            while len(self._plans) > self.size:
                self._plans.popitem(last=False)

    def forget(self, digest: str) -> None:
        with self._lock:
            self._plans.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()


class SingleServerSteps:
    """:class:`~redis_store.store.steps.Steps` for one server: every method one script."""

    scripts_span_slots = True

    def __init__(self, keys: KeyLayout, plans: int = PLANS) -> None:
        self.keys = keys
        #: Remembered manifest plans (``plans=0``: always read them).
        self.plans = Plans(plans)

    def forget(self) -> None:
        self.plans.clear()

    def persist_manifest(self, digest: str, layers: list[str]) -> Op[None]:
        k = self.keys
        keys = [k.manifest(digest), k.manifests, k.seq, *(k.layer(d) for d in layers)]
        args = [digest, new_generation(), *layers]
        (reply,) = yield [ScriptCall("persist_manifest", keys, args)]
        manifest_id, generation, layer_list, records = unwrap(reply)
        if not records:
            self.plans.put(digest, [generation, manifest_id, layer_list, records])
        else:  # already indexed: its package names are only at hand in a remembered plan
            known = self.plans.get(digest)
            if known is None or known[0] != generation:
                self.plans.forget(digest)

    def _artifact_keys(self, kind: str, layer: str) -> list[str]:
        k = self.keys
        return [
            k.layer(layer),
            k.layer_artifacts(layer, kind),
            k.entity_data(kind),
            k.entity_ids(kind),
            k.entity_refs(kind),
            k.seq,
        ]

    def index_packages(
        self, layer: str, scanner_id: bytes, epoch: str, packages: list[PackageValues]
    ) -> Op[None]:
        args: list[Arg] = [scanner_id, epoch, *(v for package in packages for v in package)]
        call = ScriptCall("index_packages", self._artifact_keys("pkg", layer), args)
        (reply,) = yield [call]
        unwrap(reply, layer)

    def index_entities(
        self, kind: str, layer: str, scanner_id: bytes, epoch: str, values: list[bytes]
    ) -> Op[None]:
        args: list[Arg] = [scanner_id, epoch, kind.encode(), *values]
        call = ScriptCall("index_entities", self._artifact_keys(kind, layer), args)
        (reply,) = yield [call]
        unwrap(reply, layer)

    def by_layer(
        self, kind: str, layer: str, scanner_ids: list[bytes], fence: Fence | None, extra: Batch
    ) -> Op[tuple[list[bytes], dict[bytes, bytes], list[Any]]]:
        k = self.keys
        keys = [k.layer_artifacts(layer, kind), k.entity_data(kind)]
        kind_arg = b"pkg" if kind == "pkg" else b"-"
        call = ScriptCall("by_layer", keys, [kind_arg, *scanner_ids], fence=fence)
        reply, *others = yield [call, *extra]
        artifacts, ids, values = unwrap(reply)
        return artifacts, dict(zip(ids, values, strict=True)), others

    def _plan(self, digest: str) -> ScriptCall:
        return ScriptCall(
            "manifest_plan", [self.keys.manifest(digest), self.keys.entity_data("pkg")]
        )

    def index_manifest(self, digest: str, rows: dict[str, str], lock_token: str | None) -> Op[None]:
        records = sorted(rows)
        new_list = ",".join(records).encode()
        k = self.keys
        plan = self.plans.get(digest)
        for _ in range(MAX_RETRIES):
            if plan is None:
                (reply,) = yield [self._plan(digest)]
                plan = unwrap(reply)
                if not plan:
                    raise UnknownManifestError(f"manifest {digest} was never persisted")
            generation, manifest_id, layers, old_list, *names = plan
            bucket = bucket_of(int(manifest_id))
            olds = text(old_list).split(",") if old_list else []
            old = dict(zip(olds, map(text, names), strict=True))
            keys = [k.manifest(digest), k.lock(digest), *k.entity_keys()]
            generation_after = new_generation()
            args: list[Any] = [generation, new_list, bucket, generation_after, lock_token or ""]
            for record, name in rows.items():
                if record not in old:
                    keys += [k.name(name), k.bucket(name, record, bucket)]
                    args += [record, name, "+"]
            for record, name in old.items():
                if record not in rows:
                    keys += [k.name(name), k.bucket(name, record, bucket)]
                    args += [record, name, "-"]
            (reply,) = yield [ScriptCall("index_manifest", keys, args)]
            try:
                status = unwrap(reply, "report")
            except BaseException:
                self.plans.forget(digest)
                raise
            if status != b"RETRY":
                after = [generation_after, manifest_id, layers, new_list]
                self.plans.put(digest, after + [rows[r] for r in records])
                return
            plan = None
            self.plans.forget(digest)
        raise StoreError(f"manifest {digest} kept changing while being indexed; try again")

    def _delete_call(self, digest: str, plan: list[Any], lock_token: str) -> ScriptCall:
        generation, manifest_id, layers, records, *names = plan
        k = self.keys
        bucket = bucket_of(int(manifest_id))
        layer_list = text(layers).split(",") if layers else []
        record_list = text(records).split(",") if records else []
        keys = [k.manifest(digest), k.manifest_scanned(digest), k.report(digest), k.lock(digest)]
        keys += [k.manifests, *k.entity_keys()]
        for layer in layer_list:
            keys += k.layer_keys(layer)
        for record, name in zip(record_list, names, strict=True):
            keys += [k.name(text(name)), k.bucket(text(name), record, bucket)]
        args = [generation, lock_token, len(layer_list), bucket, *record_list]
        return ScriptCall("delete_manifest", keys, args)

    def delete_manifests(
        self, digests: Sequence[str], lock_tokens: Mapping[str, str]
    ) -> Op[list[str]]:
        deleted: list[str] = []
        pending = list(digests)
        plans = self.plans
        known = {d: plan for d in pending if (plan := plans.get(d)) is not None}
        for _ in range(MAX_RETRIES):
            if not pending:
                break
            unknown = [d for d in pending if d not in known]
            if unknown:
                read = [unwrap(r) for r in (yield [self._plan(d) for d in unknown])]
                known.update(zip(unknown, read, strict=True))
            todo = [(d, known[d]) for d in pending if known[d]]
            if not todo:
                break
            replies = yield [self._delete_call(d, p, lock_tokens.get(d, "")) for d, p in todo]
            pending = []
            for (d, _), reply in zip(todo, replies, strict=True):
                status = unwrap(reply, d)
                if status == b"DELETED":
                    deleted.append(d)
                elif status == b"RETRY":
                    pending.append(d)
                if status != b"LOCKED":
                    plans.forget(d)
                    known.pop(d, None)
        else:
            raise StoreError(f"manifests {pending} kept changing while being deleted")
        return deleted

    def import_plan(
        self, digest: str, scanners: list[bytes], missing: dict[str, list[bytes]], token: str
    ) -> Op[ImportPlan | None]:
        k = self.keys
        keys = [k.scanners, k.seq, k.manifest(digest), k.report(digest), k.lock(digest)]
        args: list[Arg] = [token, secrets.token_hex(8), len(scanners), *scanners]
        for kind in IMPORTED_KINDS:
            keys += [k.entity_data(kind), k.entity_ids(kind)]
            args += [0, b"".join(missing.get(kind, []))]
        (reply,) = yield [ScriptCall("import_plan", keys, args)]
        answer = unwrap(reply)
        if not answer:
            return None
        epoch, counter, scanner_ids, *per_kind, plan, report = answer
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
            report=report,
        )

    def import_write(self, write: ImportWrite) -> Op[list[Any]]:
        k = self.keys
        d = write.digest
        keys = [k.seq, k.manifests, k.manifest(d), k.manifest_scanned(d), k.report(d), k.lock(d)]
        for kind in IMPORTED_KINDS:
            keys += [k.entity_data(kind), k.entity_ids(kind), k.entity_refs(kind)]
        for layer in write.layers:
            keys += [
                k.layer(layer),
                k.layer_scanned(layer),
                *(k.layer_artifacts(layer, kind) for kind in IMPORTED_KINDS),
            ]
        records = sorted(write.records)
        generation = new_generation()
        args: list[Arg] = [
            write.planned,
            write.bucket,
            generation,
            write.token,
            write.epoch,
            write.blob,
            d,
            ",".join(write.layers),
            ",".join(records),
            1 if write.expect_no_report else 0,
            b",".join(write.scanner_ids),
        ]
        for kind in IMPORTED_KINDS:
            entities = write.entities[kind]
            args += [b",".join(i for i, _, _ in entities), *packed([v for _, v, _ in entities])]
            args.append("".join(how for _, _, how in entities))
        artifacts: list[bytes] = []
        counts: list[int] = []
        for layer in write.layers:
            for some in write.artifacts[layer]:
                artifacts += some
                counts.append(len(some))
        args += [*packed(artifacts), ",".join(map(str, counts))]
        bucket = write.bucket
        changed: list[str] = []
        ops: list[str] = []
        old = write.old_records
        for record, name in write.records.items():
            if record not in old:
                keys += [k.name(name), k.bucket(name, record, bucket)]
                changed.append(record)
                ops.append("+")
        for record, name in old.items():
            if record not in write.records:
                keys += [k.name(name), k.bucket(name, record, bucket)]
                changed.append(record)
                ops.append("-")
        args += [",".join(changed), "".join(ops), 1 if write.release_lock else 0]
        (reply,) = yield [ScriptCall("import_report", keys, args)]
        try:
            out: list[Any] = unwrap(reply, d)
        except BaseException:
            self.plans.forget(d)
            raise
        if out[0] == b"OK":
            names = [write.records[r] for r in records]
            if write.planned:
                self.plans.forget(d)  # its layers are the union with what it had
            else:
                self.plans.put(
                    d,
                    [
                        generation,
                        out[1],
                        ",".join(write.layers).encode(),
                        ",".join(records).encode(),
                        *names,
                    ],
                )
        else:
            self.plans.forget(d)
        return out

    def affected_candidates(self, names: list[str]) -> Op[list[Any]]:
        k = self.keys
        keys = [k.entity_data("pkg"), k.entity_data("dist"), k.entity_data("repo")]
        (reply,) = yield [ScriptCall("affected_candidates", keys + [k.name(n) for n in names])]
        result: list[Any] = unwrap(reply)
        return result

    def manifests_of(self, buckets: list[str]) -> Op[BucketMembers]:
        # one script per chunk of buckets, in one pipeline: the server serves other
        # clients between them instead of running one long script on a large registry
        chunks = [
            buckets[i : i + BUCKETS_PER_SCRIPT] for i in range(0, len(buckets), BUCKETS_PER_SCRIPT)
        ]
        replies = yield [ScriptCall("manifests_of", [self.keys.manifests, *c]) for c in chunks]
        per_bucket: list[list[bytes]] = []
        ids: list[bytes] = []
        digests: list[bytes | None] = []
        for reply in replies:
            chunk_buckets, chunk_ids, chunk_digests = unwrap(reply)
            per_bucket += chunk_buckets
            ids += chunk_ids
            digests += chunk_digests
        return per_bucket, ids, digests


__all__ = ["BUCKETS_PER_SCRIPT", "SingleServerSteps"]
