"""Check every invariant the store relies on, and mend what can be mended.

``check`` reads the whole namespace (SCAN, pipelined batches) and reports each violation:
the manifest table and manifest hashes agree; every manifest's layers exist and list it;
layers list only live manifests; scanned markers name registered scanners; every reverse-index
bucket holds exactly the live manifests whose records include it; reference counts equal the
references; dictionaries' two directions agree; every stored report reads back. Whatever the
writes accept passes: a violation is a state no sequence of successful calls leaves.
``repair`` fixes the repairable ones. Run ``repair`` on a quiet store (no indexer writing):
it corrects counts and links from a snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis_store.codec import storage
from redis_store.errors import StoreError
from redis_store.keys import KINDS, bucket_of
from redis_store.ops.scan import Namespace, ProgressCallback, read_namespace
from redis_store.store import RedisStore


class Fix:
    """A repair: a function applied to the store with the arguments the check found."""

    __slots__ = ("args", "func")

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __call__(self, store: RedisStore) -> None:
        self.func(store, *self.args)


@dataclass
class Violation:
    """One broken invariant: what kind, where (a key), and whether ``repair`` can fix it."""

    kind: str
    key: str
    detail: str
    repairable: bool = True
    fix: Fix | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "detail": self.detail,
            "repairable": self.repairable,
        }


def check(store: RedisStore, progress: ProgressCallback | None = None) -> list[Violation]:
    """Every violation of the store's invariants, found by reading the whole namespace."""
    return _Checker(store, read_namespace(store, progress)).run()


def repair(store: RedisStore, violations: list[Violation] | None = None) -> list[Violation]:
    """Fix the repairable violations (found afresh when not given); returns those fixed.

    Fixing one problem can expose the next (a record re-linked changes a reference count), so
    this re-checks and repeats, a few rounds at most.
    """
    fixed: list[Violation] = []
    todo = check(store) if violations is None else violations
    for _ in range(5):
        repairable = [v for v in todo if v.fix is not None]
        if not repairable:
            break
        for v in repairable:
            assert v.fix is not None
            v.fix(store)
            fixed.append(v)
        todo = check(store)
    return fixed


def _cmd(s: RedisStore, command: str, *args: Any) -> None:
    getattr(s.client, command)(*args)


class _Checker:
    def __init__(self, store: RedisStore, ns: Namespace) -> None:
        self.store, self.ns, self.k = store, ns, store.keys
        self.out: list[Violation] = []
        self.refs: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
        #: IDs of the manifests that exist (their hash does, whatever the table says)
        self.live = {h.get("id", "") for h in ns.manifests.values()}

    def add(self, kind: str, key: str, detail: str, fix: Fix | None) -> None:
        self.out.append(Violation(kind, key, detail, fix is not None, fix))

    def run(self) -> list[Violation]:
        self.manifests()
        self.layers()
        self.records()
        self.dictionaries()
        self.reports()
        for key in self.ns.other:
            self.add("unknown-key", key, "a key the layout does not define", None)
        return self.out

    # -- manifests and layers --------------------------------------------------------------
    def manifests(self) -> None:
        ns, k = self.ns, self.k
        for mid, d in ns.table.items():
            if d not in ns.manifests:
                self.add(
                    "manifest-missing",
                    k.manifests,
                    f"ID {mid} names {d}, which has no hash",
                    Fix(_cmd, "hdel", k.manifests, mid),
                )
        for d, h in ns.manifests.items():
            mid = h.get("id", "")
            if ns.table.get(mid) != d:
                self.add(
                    "manifest-unlisted",
                    k.manifest(d),
                    f"ID {mid!r} not in the table",
                    Fix(_cmd, "hset", k.manifests, mid, d) if mid else None,
                )
            if "pending" in h or "dirty" in h:  # a cluster's index_manifest was interrupted
                self.add(
                    "index-unfinished",
                    k.manifest(d),
                    "index_manifest did not finish updating the reverse index",
                    Fix(_cmd, "hdel", k.manifest(d), "pending", "dirty"),
                )
            for layer in filter(None, h.get("layers", "").split(",")):
                if mid not in (ns.layers.get(layer) or ()):
                    self.add(
                        "layer-link",
                        k.layer(layer),
                        f"does not list manifest {d} ({mid})",
                        Fix(_cmd, "sadd", k.layer(layer), mid),
                    )
        for d in set(ns.manifest_scanned) | set(ns.reports):
            if d not in ns.manifests:
                self.add(
                    "manifest-orphan-keys",
                    k.manifest(d),
                    "scanned set or report without a manifest",
                    Fix(_cmd, "delete", k.manifest_scanned(d), k.report(d)),
                )
        registry = set(ns.scanners)
        marks = [(k.manifest_scanned(d), ids) for d, ids in ns.manifest_scanned.items()]
        marks += [(k.layer_scanned(d), ids) for d, ids in ns.layer_scanned.items()]
        for key, ids in marks:
            for scanner_id in sorted(ids - registry):
                self.add(
                    "scanner-unknown",
                    key,
                    f"scanner ID {scanner_id} is not registered",
                    Fix(_cmd, "srem", key, scanner_id),
                )

    def layers(self) -> None:
        ns, k = self.ns, self.k
        for layer, members in ns.layers.items():
            if members is None:
                self.add(
                    "layer-orphan",
                    k.layer(layer),
                    "artifacts or markers of a layer no manifest uses",
                    Fix(_cmd, "delete", *k.layer_keys(layer)),
                )
                continue
            for mid in sorted(members - self.live):
                self.add(
                    "layer-dangling-manifest",
                    k.layer(layer),
                    f"lists deleted manifest {mid}",
                    Fix(_cmd, "srem", k.layer(layer), mid),
                )
        for (layer, kind), arts in ns.artifacts.items():
            if ns.layers.get(layer) is None:
                continue  # reported with the orphan layer
            key = k.layer_artifacts(layer, kind)
            for art in arts:
                head = art.split(b"\n", 1)[0].decode().split(",")
                ids = [head[0], head[2]] if kind == "pkg" else [head[0]]
                missing = [i for i in ids if i not in self.ns.data[kind]]
                if missing:
                    self.add(
                        "entity-missing",
                        key,
                        f"artifact references {kind} {missing}",
                        Fix(_cmd, "lrem", key, 1, art),
                    )
                    continue
                for i in ids:
                    self.refs[kind][i] += 1

    # -- reverse index -----------------------------------------------------------------------
    def records(self) -> None:
        ns, k = self.ns, self.k
        pkg_names = {pid: storage.package_name(v) for pid, v in ns.data["pkg"].items()}
        live: dict[str, set[str]] = {}
        for d, h in ns.manifests.items():
            mid = h.get("id", "")
            recs = set(filter(None, h.get("recs", "").split(",")))
            live[mid] = recs
            for rec in sorted(recs):
                name = pkg_names.get(rec.split(":")[0])
                if name is None:
                    self.add(
                        "entity-missing", k.manifest(d), f"record {rec}: no such package", None
                    )
                    continue
                b = str(bucket_of(int(mid)))
                if mid not in ns.buckets.get((name, rec, b), ()):
                    self.add(
                        "record-missing",
                        k.bucket(name, rec, int(b)),
                        f"manifest {d} ({mid}) is not in its bucket",
                        Fix(_link, name, rec, b, mid),
                    )
        for (name, rec, b), members in ns.buckets.items():
            key = k.bucket(name, rec, int(b))
            for mid in sorted(members):
                if mid not in self.live:
                    what = f"lists deleted manifest {mid}"
                elif rec not in live.get(mid, ()):
                    what = f"lists manifest {mid}, whose records do not include {rec}"
                elif str(bucket_of(int(mid))) != b:
                    what = f"lists manifest {mid}, which belongs in another bucket"
                else:
                    continue
                self.add("record-unlisted", key, what, Fix(_unlink, name, rec, b, mid))
            if b not in ns.names.get(name, {}).get(rec, []):
                self.add(
                    "bucket-unlisted",
                    k.name(name),
                    f"bucket {b} of {rec} is not listed",
                    Fix(_list_bucket, name, rec, b),
                )
        for name, by_rec in ns.names.items():
            for rec, buckets in by_rec.items():
                for b in buckets:
                    if not ns.buckets.get((name, rec, b)):
                        self.add(
                            "bucket-empty",
                            k.name(name),
                            f"{rec} lists empty bucket {b}",
                            Fix(unlist_bucket, name, rec, b),
                        )
                p, dd, r = rec.split(":")
                for kind, i in (("pkg", p), ("dist", dd), ("repo", r)):
                    if i == "0":
                        continue
                    if i not in ns.data[kind]:
                        self.add("entity-missing", k.name(name), f"{rec}: no such {kind} {i}", None)
                    self.refs[kind][i] += 1

    # -- dictionaries ------------------------------------------------------------------------
    def dictionaries(self) -> None:
        ns, k = self.ns, self.k
        for kind in KINDS:
            data, ids, stored = ns.data[kind], ns.ids[kind], ns.refs[kind]
            counted = self.refs[kind]
            refs_key, ids_key = k.entity_refs(kind), k.entity_ids(kind)
            for eid, value in data.items():
                if counted[eid] == 0:
                    self.add(
                        "entity-unreferenced",
                        k.entity_data(kind),
                        f"{kind} {eid} is not used by any layer or record",
                        Fix(_reclaim, kind, eid),
                    )
                elif stored.get(eid) != counted[eid]:
                    self.add(
                        "refs-mismatch",
                        refs_key,
                        f"{kind} {eid}: count {stored.get(eid)} != {counted[eid]} uses",
                        Fix(_cmd, "hset", refs_key, eid, counted[eid]),
                    )
                hkey = value[: storage.HASH_BYTES]
                if ids.get(hkey) != eid:
                    self.add(
                        "ids-mismatch",
                        ids_key,
                        f"{kind} {eid} not found by its identity",
                        Fix(_cmd, "hset", ids_key, hkey, eid),
                    )
            for eid in sorted(set(stored) - set(data)):
                self.add(
                    "refs-mismatch",
                    refs_key,
                    f"count for missing {kind} {eid}",
                    Fix(_cmd, "hdel", refs_key, eid),
                )
            for hkey, eid in ids.items():
                if eid not in data:
                    self.add(
                        "ids-mismatch",
                        ids_key,
                        f"identity points at missing {kind} {eid}",
                        Fix(_cmd, "hdel", ids_key, hkey),
                    )

    # -- reports -----------------------------------------------------------------------------
    def reports(self) -> None:
        """Every stored report reads back (the writes check that whatever they store does).

        What a report says is not compared with the manifest's index records: the store
        keeps any report as given (``set_index_report``, as claircore), so a finished
        report whose IDs the store never assigned, or that ``index_manifest`` was not
        given, is what the writes accept, not damage; the records themselves are checked
        against the reverse index and the entities above."""
        ns, k = self.ns, self.k
        for d, blob in ns.reports.items():
            if d not in ns.manifests:
                continue
            try:
                storage.decode_report(blob)
            except (StoreError, ValueError) as e:
                self.add("report-undecodable", k.report(d), str(e), None)


# -- fixes -------------------------------------------------------------------------------------
def _link(s: RedisStore, name: str, rec: str, b: str, mid: str) -> None:
    s.client.sadd(s.keys.bucket(name, rec, int(b)), mid)
    _list_bucket(s, name, rec, b)


def _unlink(s: RedisStore, name: str, rec: str, b: str, mid: str) -> None:
    key = s.keys.bucket(name, rec, int(b))
    s.client.srem(key, mid)
    if not s.client.exists(key):
        unlist_bucket(s, name, rec, b)


def _list_bucket(s: RedisStore, name: str, rec: str, b: str) -> None:
    cur = (s.client.hget(s.keys.name(name), rec) or b"").decode()
    parts = [x for x in cur.split(",") if x]
    if b not in parts:
        s.client.hset(s.keys.name(name), rec, ",".join([*parts, b]))


def unlist_bucket(s: RedisStore, name: str, rec: str, b: str) -> None:
    cur = (s.client.hget(s.keys.name(name), rec) or b"").decode()
    parts = [x for x in cur.split(",") if x and x != b]
    if parts:
        s.client.hset(s.keys.name(name), rec, ",".join(parts))
    else:
        s.client.hdel(s.keys.name(name), rec)


def _reclaim(s: RedisStore, kind: str, eid: str) -> None:
    k = s.keys
    value = s.client.hget(k.entity_data(kind), eid)
    if value is not None:
        s.client.hdel(k.entity_ids(kind), value[: storage.HASH_BYTES])
    s.client.hdel(k.entity_data(kind), eid)
    s.client.hdel(k.entity_refs(kind), eid)
