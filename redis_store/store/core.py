"""The store core: every Store method once, as a sans-I/O operation.

Each method validates its input, builds the script calls that implement it, yields them as
one batch per round trip, and decodes the replies. The sync and asyncio front ends
(:mod:`redis_store.store.sync`, :mod:`redis_store.store.asyncio`) only send batches.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

import orjson

from redis_store.codec import storage
from redis_store.errors import (
    InvalidInputError,
    LockError,
    StoreError,
    UnknownManifestError,
    UnknownScannerError,
)
from redis_store.keys import KeyLayout, bucket_of
from redis_store.matchers import DEFAULT_MATCHERS, Candidate, Matcher, evaluate
from redis_store.models import (
    AffectedManifests,
    Detector,
    Digest,
    Distribution,
    File,
    IndexReport,
    Layer,
    Manifest,
    Package,
    Repository,
    Vulnerability,
)
from redis_store.store import cluster as on_cluster
from redis_store.store import validate
from redis_store.store.protocol import Batch, Command, Op, Script, operation
from redis_store.store.replies import scanner_text, text, unwrap

T = TypeVar("T")

#: Reverse-index buckets (up to 512 manifest IDs each) one ``manifests_of`` script reads: a
#: large AffectedManifests batch becomes several short scripts, not one that blocks the server.
BUCKETS_PER_SCRIPT: Final = 64

#: How often a write that raced with another writer of the same manifest is retried.
MAX_RETRIES: Final = 32


class StoreCore:
    """State and operations shared by :class:`RedisStore` and :class:`AsyncRedisStore`."""

    def __init__(self, namespace: str = "claircore", *, lock_ttl: float = 30.0) -> None:
        self.keys = KeyLayout(namespace)
        self.namespace = namespace
        if not lock_ttl > 0:
            raise ValueError("lock_ttl must be positive")
        #: A lock holder that dies frees its manifest after at most this many seconds.
        self.lock_ttl = float(lock_ttl)
        #: Tokens of the manifest locks this store holds, by digest.
        self._held_locks: dict[str, str] = {}
        #: (matcher, record) pairs affected_manifests could not decide (an unparsable version),
        #: counted by matcher name; each is also logged on ``redis_store.matchers``.
        self.undecided: Counter[str] = Counter()
        #: Manifest digests as read from the manifest table (see _stored_digest).
        self._digests: dict[bytes, Digest] = {}
        #: Whether the client is a Redis Cluster client: multi-slot methods then run as
        #: ordered per-slot steps (:mod:`redis_store.store.cluster`).
        self.cluster = False
        #: Scanner identity -> ID (an ID never changes once assigned; see _scanner_id_list).
        self._scanner_ids: dict[bytes, bytes] = {}

    # -- scanners ------------------------------------------------------------------------
    @operation
    def register_scanners(self, scanners: Iterable[Any]) -> Op[None]:
        """Register scanners (insert-if-absent); every store sees them at once."""
        idents = validate.scanner_identities(scanners)
        if not idents:
            return
        k = self.keys
        (reply,) = yield [Script("register_scanners", [k.scanners, k.seq], idents)]
        self._scanner_ids.update(zip(idents, unwrap(reply), strict=True))

    def _scanner_id_list(self, idents: Sequence[bytes]) -> Op[list[bytes]]:
        """Scanner IDs of registered identities. An ID never changes once assigned, so they
        are cached (filled by register_scanners too): a known scanner costs no round trip."""
        cache = self._scanner_ids
        missing = [i for i in dict.fromkeys(idents) if i not in cache]
        if missing:
            (found,) = yield [Command(("HMGET", self.keys.scanners, *missing))]
            for ident, sid in zip(missing, unwrap(found), strict=True):
                if sid is None:
                    raise UnknownScannerError(
                        "scanner is not registered: " + scanner_text(ident.decode())
                    )
                cache[ident] = sid
        return [cache[i] for i in idents]

    # -- manifests -----------------------------------------------------------------------
    @operation
    def persist_manifest(self, manifest: Manifest) -> Op[None]:
        """Create the manifest and link its layers (links are only ever added)."""
        if not isinstance(manifest, Manifest):
            raise InvalidInputError(f"manifest: expected Manifest, got {type(manifest).__name__}")
        digest = validate.digest(manifest.hash, "manifest.hash")
        layers: dict[str, None] = {}
        for i, layer in enumerate(validate.sequence(manifest.layers, "manifest.layers")):
            layers[validate.digest(layer, f"manifest.layers[{i}]")] = None
        if self.cluster:
            return (yield from on_cluster.persist_manifest(self, digest, list(layers)))
        k = self.keys
        keys = [k.manifest(digest), k.manifests, k.seq, *(k.layer(d) for d in layers)]
        (reply,) = yield [Script("persist_manifest", keys, [digest, *layers])]
        unwrap(reply)

    @operation
    def set_index_report(self, report: IndexReport) -> Op[None]:
        """Store the report of a persisted manifest (overwrites)."""
        report = validate.report(report)
        d = Digest(report.hash or "")
        k = self.keys
        blob = storage.encode_report(report)
        (reply,) = yield [Script("set_index_report", [k.manifest(d), k.report(d)], [blob])]
        unwrap(reply, d)

    @operation
    def set_index_finished(self, report: IndexReport, scanners: Iterable[Any]) -> Op[None]:
        """Record that ``scanners`` finished the manifest and store its report, atomically."""
        report = validate.report(report)
        idents = validate.scanner_identities(scanners)
        d = Digest(report.hash or "")
        ids = yield from self._scanner_id_list(idents)
        k = self.keys
        keys = [k.manifest(d), k.manifest_scanned(d), k.report(d)]
        blob = storage.encode_report(report)
        (reply,) = yield [Script("set_index_finished", keys, [blob, *ids])]
        unwrap(reply, d)

    @operation
    def manifest_scanned(self, manifest: Digest | str, scanners: Iterable[Any]) -> Op[bool]:
        """Whether every scanner finished the manifest (vacuously true for no scanners)."""
        d = validate.digest(manifest, "manifest")
        idents = validate.scanner_identities(scanners)
        if not idents:
            return True
        ids = yield from self._scanner_id_list(idents)
        (reply,) = yield [Command(("SMISMEMBER", self.keys.manifest_scanned(d), *ids))]
        return all(unwrap(reply))

    @operation
    def index_report(self, manifest: Digest | str) -> Op[IndexReport | None]:
        """The stored report (its JSON round trip), or None."""
        d = validate.digest(manifest, "manifest")
        keys = [self.keys.manifest(d), self.keys.report(d)]
        (blob,) = yield [Script("index_report", keys)]
        blob = unwrap(blob)
        return None if blob is None else storage.decode_report(blob)

    # -- layers --------------------------------------------------------------------------
    @operation
    def set_layer_scanned(self, layer: Layer | Digest | str, scanner: Any) -> Op[None]:
        """Mark the layer scanned by the scanner."""
        d = validate.digest(layer, "layer")
        ident = validate.scanner_identity(scanner, "scanner")
        (sid,) = yield from self._scanner_id_list([ident])
        keys = [self.keys.layer(d), self.keys.layer_scanned(d)]
        (reply,) = yield [Script("set_layer_scanned", keys, [sid])]
        unwrap(reply, d)

    @operation
    def layer_scanned(self, layer: Layer | Digest | str, scanner: Any) -> Op[bool]:
        """Whether the scanner scanned the layer (False for an unknown layer)."""
        d = validate.digest(layer, "layer")
        ident = validate.scanner_identity(scanner, "scanner")
        (sid,) = yield from self._scanner_id_list([ident])
        (reply,) = yield [Command(("SISMEMBER", self.keys.layer_scanned(d), sid))]
        return bool(unwrap(reply))

    def _index(self, kind: str, layer: object, scanner: object, args: list[bytes]) -> Op[None]:
        d = validate.digest(layer, "layer")
        ident = validate.scanner_identity(scanner, "scanner")
        (sid,) = yield from self._scanner_id_list([ident])
        if self.cluster:
            if kind == "pkg":  # per package: source, package values; tail, filepath
                values = [v for i in range(0, len(args), 4) for v in args[i : i + 2]]
                tails = [v for i in range(2, len(args), 4) for v in args[i : i + 2]]
            else:
                values, tails = args, []
            return (yield from on_cluster.index_artifacts(self, kind, d, sid, values, tails))
        k = self.keys
        keys = [
            k.layer(d),
            k.layer_artifacts(d, kind),
            k.entity_data(kind),
            k.entity_ids(kind),
            k.entity_refs(kind),
            k.seq,
        ]
        if kind == "pkg":
            call = Script("index_packages", keys, [sid, *args])
        else:
            call = Script("index_entities", keys, [sid, kind.encode(), *args])
        (reply,) = yield [call]
        unwrap(reply, d)

    @operation
    def index_packages(
        self, packages: Iterable[Package], layer: Layer | Digest | str, scanner: Any
    ) -> Op[None]:
        """Record the packages a scanner found in a layer (nameless packages are skipped)."""
        args: list[bytes] = []
        for p in validate.items_of(packages, Package, "packages"):
            if not p.name:
                continue
            args += [
                storage.source_value(p),
                storage.package_value(p),
                storage.artifact_tail(p),
                p.filepath.encode(),
            ]
        yield from self._index("pkg", layer, scanner, args)

    @operation
    def index_distributions(
        self, distributions: Iterable[Distribution], layer: Layer | Digest | str, scanner: Any
    ) -> Op[None]:
        """Record the distributions a scanner found in a layer."""
        items = validate.items_of(distributions, Distribution, "distributions")
        yield from self._index(
            "dist", layer, scanner, [storage.distribution_value(x) for x in items]
        )

    @operation
    def index_repositories(
        self, repositories: Iterable[Repository], layer: Layer | Digest | str, scanner: Any
    ) -> Op[None]:
        """Record the repositories a scanner found in a layer."""
        items = validate.items_of(repositories, Repository, "repositories")
        yield from self._index("repo", layer, scanner, [storage.repository_value(x) for x in items])

    @operation
    def index_files(
        self, files: Iterable[File], layer: Layer | Digest | str, scanner: Any
    ) -> Op[None]:
        """Record the files a scanner found in a layer."""
        items = validate.items_of(files, File, "files")
        yield from self._index("file", layer, scanner, [storage.file_value(x) for x in items])

    def _by_layer(
        self, kind: str, layer: object, scanners: Iterable[Any]
    ) -> Op[tuple[dict[bytes, Any], list[bytes], dict[bytes, bytes]]]:
        """Artifacts of the requested scanners: (scanner by ID, artifacts, entity values)."""
        d = validate.digest(layer, "layer")
        items = validate.sequence(scanners, "scanners")
        idents = [validate.scanner_identity(s, f"scanners[{i}]") for i, s in enumerate(items)]
        if not idents:
            return {}, [], {}
        scids = yield from self._scanner_id_list(idents)
        if self.cluster:
            artifacts, found = yield from on_cluster.by_layer(self, kind, d, scids)
        else:
            k = self.keys
            keys = [k.layer_artifacts(d, kind), k.entity_data(kind)]
            kind_arg = b"pkg" if kind == "pkg" else b"-"
            (reply,) = yield [Script("by_layer", keys, [kind_arg, *scids])]
            artifacts, ids, values = unwrap(reply)
            found = dict(zip(ids, values, strict=True))
        by_id = {scid: items[i] for i, scid in enumerate(scids)}
        return by_id, artifacts, found

    @operation
    def packages_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Any]
    ) -> Op[list[Package]]:
        """One Package per artifact of the scanners in the layer, in first-written order."""
        by_id, artifacts, values = yield from self._by_layer("pkg", layer, scanners)
        detectors = {
            scid: Detector(name=s.name, version=s.version, kind=s.kind) for scid, s in by_id.items()
        }
        out: list[Package] = []
        for art in artifacts:
            head, _, filepath = art.partition(b"\n")
            pid, scid, src, tail = head.split(b",", 3)
            package_db, hint = orjson.loads(tail)
            p = storage.decode_package(pid.decode(), values[pid])
            p.source = storage.decode_source(src.decode(), values[src])
            p.package_db = package_db
            p.repository_hint = hint
            p.filepath = filepath.decode()
            p.detector = detectors[scid]
            out.append(p)
        return out

    def _entities_by_layer(
        self, kind: str, layer: object, scanners: Iterable[Any], decode: Callable[[str, bytes], T]
    ) -> Op[list[T]]:
        _, artifacts, values = yield from self._by_layer(kind, layer, scanners)
        out = []
        for art in artifacts:
            eid = art.partition(b",")[0]
            out.append(decode(eid.decode(), values[eid]))
        return out

    @operation
    def distributions_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Any]
    ) -> Op[list[Distribution]]:
        """One Distribution per artifact of the scanners in the layer."""
        return (
            yield from self._entities_by_layer("dist", layer, scanners, storage.decode_distribution)
        )

    @operation
    def repositories_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Any]
    ) -> Op[list[Repository]]:
        """One Repository per artifact of the scanners in the layer."""
        return (
            yield from self._entities_by_layer("repo", layer, scanners, storage.decode_repository)
        )

    @operation
    def files_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Any]
    ) -> Op[list[File]]:
        """One File per artifact of the scanners in the layer."""
        return (yield from self._entities_by_layer("file", layer, scanners, storage.decode_file))

    # -- the manifest index --------------------------------------------------------------
    def _plan(self, d: str) -> Script:
        return Script("manifest_plan", [self.keys.manifest(d), self.keys.entity_data("pkg")])

    @staticmethod
    def _records(report: IndexReport) -> dict[str, str]:
        """The reverse-index rows of a report, ``"pid:did:rid"`` -> package name."""
        rows: dict[str, str] = {}
        for rec in report.index_records():
            p = rec.package
            if p is None:
                continue
            where = f"report.packages[{p.id!r}]"
            did = (
                validate.entity_id(rec.distribution.id, f"{where} distribution id")
                if (rec.distribution is not None)
                else 0
            )
            rid = (
                validate.entity_id(rec.repository.id, f"{where} repository id")
                if (rec.repository is not None)
                else 0
            )
            if p.source is not None:
                sid = validate.entity_id(p.source.id, f"{where}.source id")
                rows[f"{sid}:{did}:{rid}"] = p.source.name
            pid = validate.entity_id(p.id, f"{where} id")
            rows[f"{pid}:{did}:{rid}"] = p.name
        return rows

    @operation
    def index_manifest(self, report: IndexReport) -> Op[None]:
        """Replace the manifest's index records with the report's, atomically."""
        report = validate.report(report)
        d = Digest(report.hash or "")
        rows = self._records(report)
        if self.cluster:
            return (yield from on_cluster.index_manifest(self, d, rows))
        new_list = ",".join(sorted(rows)).encode()
        k = self.keys
        for _ in range(MAX_RETRIES):
            (plan,) = yield [self._plan(d)]
            plan = unwrap(plan)
            if not plan:
                raise UnknownManifestError(f"manifest {d} was never persisted")
            gen, mid, _layers, old_list, *names = plan
            bucket = bucket_of(int(mid))
            old = dict(
                zip(text(old_list).split(",") if old_list else [], map(text, names), strict=True)
            )
            keys = [k.manifest(d), k.seq, *k.entity_keys()]
            args: list[Any] = [gen, new_list, bucket]
            for rec, name in rows.items():
                if rec not in old:
                    keys += [k.name(name), k.bucket(name, rec, bucket)]
                    args += [rec, name, "+"]
            for rec, name in old.items():
                if rec not in rows:
                    keys += [k.name(name), k.bucket(name, rec, bucket)]
                    args += [rec, name, "-"]
            (reply,) = yield [Script("index_manifest", keys, args)]
            if unwrap(reply, "report") != b"RETRY":
                return
        raise StoreError(f"manifest {d} kept changing while being indexed; try again")

    # -- deletion ------------------------------------------------------------------------
    def _delete_call(self, d: str, plan: list[Any]) -> Script:
        gen, mid, layers, recs, *names = plan
        k = self.keys
        bucket = bucket_of(int(mid))
        layer_list = text(layers).split(",") if layers else []
        rec_list = text(recs).split(",") if recs else []
        keys = [k.manifest(d), k.manifest_scanned(d), k.report(d), k.lock(d), k.manifests]
        keys += k.entity_keys()
        for layer in layer_list:
            keys += k.layer_keys(layer)
        for rec, name in zip(rec_list, names, strict=True):
            keys += [k.name(text(name)), k.bucket(text(name), rec, bucket)]
        token = self._held_locks.get(d, "")
        return Script("delete_manifest", keys, [gen, token, len(layer_list), bucket, *rec_list])

    @operation
    def delete_manifests(self, *digests: Digest | str) -> Op[list[Digest]]:
        """Delete manifests not locked elsewhere; returns those deleted, in input order."""
        if len(digests) == 1 and not isinstance(digests[0], str):
            digests = tuple(validate.sequence(digests[0], "digests"))
        wanted = list(
            dict.fromkeys(validate.digest(x, f"digests[{i}]") for i, x in enumerate(digests))
        )
        if self.cluster:
            gone = set((yield from on_cluster.delete_manifests(self, wanted)))
            return [d for d in wanted if d in gone]
        deleted: set[str] = set()
        pending = wanted
        for _ in range(MAX_RETRIES):
            if not pending:
                break
            plans = [unwrap(r) for r in (yield [self._plan(d) for d in pending])]
            todo = [(d, p) for d, p in zip(pending, plans, strict=True) if p]
            if not todo:
                break
            replies = yield [self._delete_call(d, p) for d, p in todo]
            pending = []
            for (d, _), reply in zip(todo, replies, strict=True):
                status = unwrap(reply, d)
                if status == b"DELETED":
                    deleted.add(d)
                elif status == b"RETRY":
                    pending.append(d)
        else:
            raise StoreError(f"manifests {pending} kept changing while being deleted")
        return [d for d in wanted if d in deleted]

    # -- AffectedManifests ---------------------------------------------------------------
    @operation
    def affected_manifests(
        self,
        vulnerability: Vulnerability,
        *,
        matchers: Sequence[Matcher] | None = None,
        strict: bool = False,
    ) -> Op[list[Digest]]:
        """The manifests ``vulnerability`` affects: sorted, each once (2 round trips)."""
        (digests,) = yield from self._affected([vulnerability], matchers, strict)
        return digests

    @operation
    def affected_manifests_batch(
        self,
        vulnerabilities: Iterable[Vulnerability],
        *,
        matchers: Sequence[Matcher] | None = None,
        strict: bool = False,
    ) -> Op[AffectedManifests]:
        """Many vulnerabilities at once, in libindex's AffectedManifests shape (2 round trips)."""
        vulns = validate.sequence(vulnerabilities, "vulnerabilities")
        answers = yield from self._affected(vulns, matchers, strict)
        out = AffectedManifests()
        for v, digests in zip(vulns, answers, strict=True):
            out.add(v, *digests)
        out.sort()
        return out

    def _affected(
        self, vulns: list[Any], matchers: Sequence[Matcher] | None, strict: bool
    ) -> Op[list[list[Digest]]]:
        ms = DEFAULT_MATCHERS if matchers is None else tuple(matchers)
        names: dict[str, None] = {}
        for i, v in enumerate(vulns):
            validate.vulnerability(
                v, f"vulnerabilities[{i}]" if len(vulns) > 1 else "vulnerability"
            )
            if not v.invert:
                names[v.package.name] = None
        if not names:
            return [[] for _ in vulns]
        k = self.keys
        if self.cluster:
            reply = yield from on_cluster.affected_candidates(self, list(names))
        else:
            keys = [k.entity_data("pkg"), k.entity_data("dist"), k.entity_data("repo")]
            (reply,) = yield [Script("affected_candidates", keys + [k.name(n) for n in names])]
        candidates, buckets = self._candidates(list(names), unwrap(reply))
        matched: list[set[str]] = []
        for v in vulns:
            outcome = evaluate(v, candidates.get(v.package.name, ()), ms, strict=strict)
            for name, _, _ in outcome.undecided:
                self.undecided[name] += 1
            matched.append(outcome.matched)
        wanted = sorted({b for found in matched for rec in found for b in buckets[rec]})
        if not wanted:
            return [[] for _ in vulns]
        if self.cluster:
            per_bucket, ids, digests = yield from on_cluster.manifests_of(self, wanted)
        else:
            # one script per chunk of buckets, in one pipeline: the server serves other
            # clients between them instead of running one long script on a large registry
            chunks = [
                wanted[i : i + BUCKETS_PER_SCRIPT]
                for i in range(0, len(wanted), BUCKETS_PER_SCRIPT)
            ]
            replies = yield [Script("manifests_of", [k.manifests, *c]) for c in chunks]
            per_bucket, ids, digests = [], [], []
            for reply in replies:
                chunk_buckets, chunk_ids, chunk_digests = unwrap(reply)
                per_bucket += chunk_buckets
                ids += chunk_ids
                digests += chunk_digests
        digest_of = {i: self._stored_digest(d) for i, d in zip(ids, digests, strict=True) if d}
        members = {key: m for key, m in zip(wanted, per_bucket, strict=True)}
        out = []
        for found in matched:
            ds = {
                digest_of[i]
                for rec in found
                for b in buckets[rec]
                for i in members[b]
                if i in digest_of
            }
            out.append(sorted(ds))
        return out

    def _stored_digest(self, raw: bytes) -> Digest:
        """A digest read back from the store: validated when written, so only wrapped here."""
        d = self._digests.get(raw)
        if d is None:
            if len(self._digests) >= 1 << 18:
                self._digests.clear()
            d = self._digests[raw] = str.__new__(Digest, raw.decode())
        return d

    def _candidates(
        self, names: list[str], reply: list[Any]
    ) -> tuple[dict[str, list[Candidate]], dict[str, list[str]]]:
        """Candidate records per package name, and each record's bucket keys."""
        per_name, pids, pvals, dids, dvals, rids, rvals = reply
        pkgs = {
            i: storage.decode_package(i.decode(), v) for i, v in zip(pids, pvals, strict=True) if v
        }
        # matchers see distributions and repositories without IDs, as in claircore
        dists = {
            i: storage.decode_distribution("", v) for i, v in zip(dids, dvals, strict=True) if v
        }
        repos = {i: storage.decode_repository("", v) for i, v in zip(rids, rvals, strict=True) if v}
        candidates: dict[str, list[Candidate]] = {}
        buckets: dict[str, list[str]] = {}
        for name, flat in zip(names, per_name, strict=True):
            rows = []
            for rec_b, bucket_list in zip(flat[::2], flat[1::2], strict=True):
                p, d, r = rec_b.split(b":")
                pkg = pkgs.get(p)
                if pkg is None or (d != b"0" and d not in dists) or (r != b"0" and r not in repos):
                    continue  # reclaimed between reads: the record is gone
                rec = rec_b.decode()
                rows.append(Candidate.of(rec, pkg, dists.get(d), repos.get(r)))
                buckets[rec] = [
                    self.keys.bucket(name, rec, int(b)) for b in bucket_list.split(b",")
                ]
            rows.sort(key=lambda c: c.key)
            candidates[name] = rows
        return candidates, buckets

    # -- locks ---------------------------------------------------------------------------
    @staticmethod
    def _new_token() -> str:
        return new_token()

    def _lock_call(self, d: str, op: str, token: str) -> Batch:
        ttl = int(self.lock_ttl * 1000)
        return [Script("lock", [self.keys.lock(d)], [op, token, ttl])]

    @operation
    def _lock_op(self, d: str, op: str, token: str) -> Op[bool]:
        (reply,) = yield self._lock_call(d, op, token)
        return bool(unwrap(reply))


def new_token() -> str:
    """A lock owner's token: 128 random bits."""
    return secrets.token_hex(16)


def lock_error(d: str, waited: float | None) -> LockError:
    if waited is None:
        return LockError(f"manifest {d} is locked by another indexer")
    return LockError(f"manifest {d} is still locked by another indexer after {waited:g}s")
