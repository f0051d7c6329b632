"""The store core: every Store method once, as a sans-I/O operation.

Each method validates its input, encodes it, hands the Redis work to the deployment's steps
(:mod:`redis_store.store.steps`: one script per write on one server, per-slot steps on a
cluster) or yields its own calls, and decodes the replies. The sync and asyncio front ends
(:mod:`redis_store.store.sync`, :mod:`redis_store.store.aio`) only send batches.
"""

from __future__ import annotations

import itertools
import secrets
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

import orjson

from redis_store.cache.entries import MISS, Entries, Fence
from redis_store.cache.uses import Uses
from redis_store.codec import storage
from redis_store.codec.lazy import LazyIndexReport
from redis_store.errors import InvalidInputError, UnknownScannerError
from redis_store.keys import KeyLayout
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
    Scanner,
    Vulnerability,
    copies,
)
from redis_store.options import flag, seconds
from redis_store.store import inputs, validate
from redis_store.store.calls import Arg, Batch, Command, Op, ScriptCall
from redis_store.store.importing import Importing
from redis_store.store.known import KnownEntities
from redis_store.store.operation import operation
from redis_store.store.readthrough import fill
from redis_store.store.replies import StaleScannersError, scanner_text, text, unwrap
from redis_store.store.steps import PackageValues, Steps
from redis_store.tier.origins import ReadThrough

T = TypeVar("T")
V = TypeVar("V")


class StoreCore(Importing):
    """State and operations shared by :class:`RedisStore` and :class:`AsyncRedisStore`
    (``import_report`` is in :mod:`redis_store.store.importing`)."""

    def __init__(
        self,
        keys: KeyLayout,
        steps: Steps,
        *,
        lock_ttl: float = 30.0,
        cache: Entries | None = None,
        tier: ReadThrough | None = None,
    ) -> None:
        self.keys = keys
        self.namespace = keys.namespace
        #: How the multi-key methods run on this deployment (one server, or a cluster).
        self.steps = steps
        #: A lock holder that dies frees its manifest after at most this many seconds.
        self.lock_ttl = seconds(lock_ttl, "lock_ttl")
        #: Tokens of the manifest locks this store holds, by digest.
        self._held_locks: dict[str, str] = {}
        #: (matcher, record) pairs affected_manifests could not decide (an unparsable version),
        #: counted by matcher name; each is also logged on ``redis_store.matchers``.
        self.undecided: Counter[str] = Counter()
        #: Manifest digests as read from the manifest table (see _stored_digest).
        self._digests: dict[bytes, Digest] = {}
        #: Scanner identity -> ID (an ID never changes while the registry lasts; see
        #: _scanner_ids_of), and the registry's epoch they hold for (None: not known yet).
        self._scanner_ids: dict[bytes, bytes] = {}
        self._epoch: str | None = None
        self._epoch_command = Command(("HGET", keys.seq, "epoch"))
        #: Entities seen, by identity: their IDs and stored values (what an import names).
        self.known = KnownEntities()
        #: This store's index runs: its report writes carry this token and a growing sequence
        #: number, so a late copy of one never replaces a later one (set_index_report.lua).
        self._run_token = secrets.token_hex(8)
        self._sequence = itertools.count(1)
        #: Answers of reads kept in the process (None: no local cache).
        self.cache = cache
        #: Uses of manifests (report reads) still to be recorded for ``expire``.
        self._uses = Uses()
        #: The cache tier's origin, read through on a miss (None: misses are misses).
        self.tier = tier
        if tier is not None and not tier.origin.timeout < self.lock_ttl:
            raise InvalidInputError(
                f"the origin's timeout ({tier.origin.timeout:g}s) must be shorter than"
                f" lock_ttl ({self.lock_ttl:g}s): a fetch runs under the manifest's lock"
            )

    def _cached(
        self,
        key: Hashable,
        depends: Sequence[str],
        read: Callable[[Fence | None], Op[tuple[V, int]]],
        present: Callable[[V], T],
    ) -> Op[T]:
        """The answer kept under ``key``, or ``read`` it (tracked, so the cache may keep
        it); ``present`` makes what the caller gets from the kept value (a copy, when the
        value is mutable)."""
        cache = self.cache
        fence = None
        if cache is not None:
            hit = cache.get(key)
            if hit is not MISS:
                return present(hit)
            fence = cache.fence()
        value, size = yield from read(fence)
        if cache is not None and fence is not None:
            cache.put(key, value, depends, size, fence)
        return present(value)

    # -- scanners ------------------------------------------------------------------------
    @operation
    def register_scanners(self, scanners: Iterable[Scanner]) -> Op[None]:
        """Register scanners (insert-if-absent); every store sees them at once."""
        identities = inputs.scanner_identities(scanners)
        if not identities:
            return
        k = self.keys
        args: list[Arg] = [secrets.token_hex(8), *identities]
        (reply,) = yield [ScriptCall("register_scanners", [k.scanners, k.seq], args)]
        epoch, *ids = unwrap(reply)
        self._learn_epoch(text(epoch))
        self._scanner_ids.update(zip(identities, ids, strict=True))

    def _scanner_ids_of(self, identities: Sequence[bytes]) -> Op[list[bytes]]:
        """Scanner IDs of registered identities. An ID never changes while the registry
        lasts, so they are cached (filled by register_scanners too): a known scanner costs no
        round trip."""
        cache = self._scanner_ids
        missing = [i for i in dict.fromkeys(identities) if i not in cache]
        if missing or self._epoch is None:
            k = self.keys
            args: list[Arg] = [secrets.token_hex(8), *missing]
            (reply,) = yield [ScriptCall("scanner_ids", [k.scanners, k.seq], args)]
            epoch, *found = unwrap(reply)
            if self._learn_epoch(text(epoch)):
                missing = list(dict.fromkeys(identities))  # the registry is another one
                if missing:
                    (reply,) = yield [
                        ScriptCall("scanner_ids", [k.scanners, k.seq], [*args[:1], *missing])
                    ]
                    _, *found = unwrap(reply)
            for identity, scanner_id in zip(missing, found, strict=True):
                if scanner_id is None:
                    raise UnknownScannerError(
                        "scanner is not registered: " + scanner_text(identity.decode())
                    )
                cache[identity] = scanner_id
        return [cache[i] for i in identities]

    def _known_ids(self, identities: Sequence[bytes]) -> list[bytes] | None:
        """The scanners' IDs when every one is known (no round trip), else None."""
        if self._epoch is None:
            return None
        known = self._scanner_ids
        try:
            return [known[i] for i in identities]
        except KeyError:
            return None

    def _learn_epoch(self, epoch: str) -> bool:
        """Take the registry's epoch; whether it replaced another (the server lost its data:
        everything cached about it is forgotten)."""
        changed = self._epoch is not None and epoch != self._epoch
        if changed:
            self._forget_server()
        self._epoch = epoch
        return changed

    def _forget_server(self) -> None:
        """The server lost its data: drop every scanner ID, plan and answer cached from it."""
        self._scanner_ids.clear()
        self._epoch = None
        self.known.clear()
        self.steps.forget()
        if self.cache is not None:
            self.cache.clear(live=self.cache.live)

    def _with_scanners(
        self, identities: Sequence[bytes], work: Callable[[list[bytes], str], Op[T]]
    ) -> Op[T]:
        """Run ``work`` with the scanners' IDs and the epoch they hold for (checked by the
        scripts where they may name the registry's keys: one server). When the server says
        its registry is another one, forget what was cached from it and run ``work`` once
        more with IDs resolved anew."""
        for attempt in range(2):
            ids = self._known_ids(identities)
            if ids is None:
                ids = yield from self._scanner_ids_of(identities)
            epoch = (self._epoch or "") if self.steps.scripts_span_slots else ""
            try:
                return (yield from work(ids, epoch))
            except StaleScannersError:
                if attempt:
                    raise
                self._forget_server()
        raise AssertionError("unreachable")

    def _epoch_read(self) -> Command:
        """Read beside an answer that depends on scanner IDs: the registry's epoch."""
        return self._epoch_command

    def _check_epoch(self, reply: Any) -> None:
        epoch = unwrap(reply)
        if epoch is None or text(epoch) != self._epoch:
            raise StaleScannersError("the server's scanner registry changed")

    # -- manifests -----------------------------------------------------------------------
    @operation
    def persist_manifest(self, manifest: Manifest) -> Op[None]:
        """Create the manifest and link its layers (links are only ever added)."""
        if not isinstance(manifest, Manifest):
            raise InvalidInputError(f"manifest: expected Manifest, got {type(manifest).__name__}")
        digest = inputs.digest(manifest.hash, "manifest.hash")
        layers: dict[str, None] = {}
        for i, layer in enumerate(validate.sequence(manifest.layers, "manifest.layers")):
            layers[inputs.digest(layer, f"manifest.layers[{i}]")] = None
        yield from self.steps.persist_manifest(digest, list(layers))

    @operation
    def set_index_report(self, report: IndexReport) -> Op[None]:
        """Store the report of a persisted manifest (overwrites)."""
        report = validate.report(report)
        d = Digest(report.hash or "")
        k = self.keys
        blob = storage.encode_report(report)
        keys = [k.manifest(d), k.report(d), k.lock(d)]
        args: list[Arg] = [blob, self._held_locks.get(d, ""), self._run_token, next(self._sequence)]
        (reply,) = yield [ScriptCall("set_index_report", keys, args)]
        unwrap(reply, d)

    @operation
    def set_index_finished(self, report: IndexReport, scanners: Iterable[Scanner]) -> Op[None]:
        """Record that ``scanners`` finished the manifest and store its report, atomically."""
        report = validate.report(report)
        identities = inputs.scanner_identities(scanners)
        d = Digest(report.hash or "")
        k = self.keys
        blob = storage.encode_report(report)
        token = self._held_locks.get(d, "")

        def write(ids: list[bytes], epoch: str) -> Op[None]:
            keys = [k.manifest(d), k.manifest_scanned(d), k.report(d), k.lock(d)]
            if epoch:
                keys.append(k.seq)
            args: list[Arg] = [blob, token, self._run_token, next(self._sequence), epoch, *ids]
            (reply,) = yield [ScriptCall("set_index_finished", keys, args)]
            unwrap(reply, d)

        yield from self._with_scanners(identities, write)

    def _manifest_scanned_hit(self, manifest: object, scanners: object) -> Any:
        """``manifest_scanned`` from the local cache, or MISS (see ``operation``)."""
        cache = self.cache
        if cache is None or self._epoch is None or type(scanners) not in (list, tuple):
            return MISS
        d = inputs.known_digest(manifest)
        if d is None or not scanners:
            return MISS
        known = self._scanner_ids
        ids = []
        for scanner in scanners:  # type: ignore[attr-defined]  # a list or tuple
            scanner_id = known.get(inputs.known_identity(scanner))  # type: ignore[arg-type]
            if scanner_id is None:
                return MISS
            ids.append(scanner_id)
        found = cache.hit(("manifest_scanned", d))
        if found is MISS:
            return MISS
        answer = all(i in found for i in ids)
        if not answer and self.tier is not None:
            return MISS  # read through from the origin
        return answer

    @operation.answered_by(_manifest_scanned_hit)
    def manifest_scanned(self, manifest: Digest | str, scanners: Iterable[Scanner]) -> Op[bool]:
        """Whether every scanner finished the manifest (vacuously true for no scanners).
        With an origin, a manifest not held here is read through first."""
        d = inputs.digest(manifest, "manifest")
        if self.tier is None:
            return (yield from self._scanned(d, scanners))
        scanners = validate.sequence(scanners, "scanners")
        scanned = yield from self._scanned(d, scanners)
        if not scanned and (yield from fill(self, self.tier, d, known_absent=False)):
            scanned = yield from self._scanned(d, scanners)
        return scanned

    def _scanned(self, d: Digest, scanners: Iterable[Scanner]) -> Op[bool]:
        identities = inputs.scanner_identities(scanners)
        if not identities:
            return True
        scanned = self.keys.manifest_scanned(d)

        def ask(ids: list[bytes], _epoch: str) -> Op[bool]:
            found = yield from self._members(("manifest_scanned", d), scanned)
            return all(i in found for i in ids)

        return (yield from self._with_scanners(identities, ask))

    def _members(self, key: Hashable, scanned: str) -> Op[frozenset[bytes]]:
        """The scanner IDs in a scanned set (a manifest's or a layer's), kept whole: it
        answers whether any scanners scanned it (a set holds one ID per scanner)."""

        def read(fence: Fence | None) -> Op[tuple[frozenset[bytes], int]]:
            reply, epoch = yield [Command(("SMEMBERS", scanned), fence=fence), self._epoch_read()]
            self._check_epoch(epoch)
            found = frozenset(unwrap(reply))
            return found, 16 * (len(found) + 1)

        return (yield from self._cached(key, (scanned,), read, _same))

    def _report_hit(self, manifest: object) -> Any:
        """The report's JSON from the local cache (None: no report), or MISS."""
        cache = self.cache
        if cache is None:
            return MISS
        d = inputs.known_digest(manifest)
        if d is None:
            return MISS
        uses = self._uses
        uses.note(d)
        if uses.flush_due():
            return MISS  # the operation sends the uses due
        return cache.hit(("report", d), falsy=self.tier is None)

    def _index_report_hit(self, manifest: object) -> Any:
        source = self._report_hit(manifest)
        if source is MISS or source is None:
            return source
        return LazyIndexReport.of(source)

    @operation.answered_by(_index_report_hit)
    def index_report(self, manifest: Digest | str) -> Op[IndexReport | None]:
        """The stored report (its JSON round trip), or None. Its fields are decoded when
        first read (:class:`~redis_store.codec.lazy.LazyIndexReport`)."""
        d = inputs.digest(manifest, "manifest")
        source = yield from self._report_json(d)
        if source is None and self.tier is not None:
            source = yield from self._read_through(d)
        return None if source is None else LazyIndexReport.of(source)

    @operation.answered_by(_report_hit)
    def index_report_json(self, manifest: Digest | str) -> Op[bytes | None]:
        """The stored report in claircore's JSON (what Clair's indexer API serves), or None,
        without building any object."""
        d = inputs.digest(manifest, "manifest")
        source = yield from self._report_json(d)
        if source is None and self.tier is not None:
            source = yield from self._read_through(d)
        return source

    def _read_through(self, d: Digest) -> Op[bytes | None]:
        """A report not held here: imported from the origin, then read (None: the origin
        has no finished report of it either)."""
        assert self.tier is not None
        if (yield from fill(self, self.tier, d, known_absent=True)):
            return (yield from self._report_json(d))
        return None

    def _report_json(self, d: Digest) -> Op[bytes | None]:
        """The report's JSON, from the cache or Redis. The read counts as a use of the
        manifest for ``expire``: recorded at most once a minute, along with a round trip
        made anyway, or at most once a second on its own."""
        report = self.keys.report(d)
        uses = self._uses
        uses.note(d)

        def read(fence: Fence | None) -> Op[tuple[bytes | None, int]]:
            due = uses.take(riding=True)
            replies = yield [Command(("GET", report), fence=fence), *self._record_uses(due)]
            uses.failed += sum(isinstance(r, Exception) for r in replies[1:])
            blob = unwrap(replies[0])
            if blob is None:
                return None, 8
            source = storage.report_json(blob)
            return source, len(source)

        source = yield from self._cached(("report", d), (report,), read, _same)
        due = uses.take(riding=False)
        if due:
            replies = yield self._record_uses(due)
            uses.failed += sum(isinstance(r, Exception) for r in replies)
        return source

    def _record_uses(self, digests: list[str]) -> Batch:
        """Calls that record a use of each manifest (their replies are not checked: a use
        that cannot be recorded, e.g. on a full server, must not fail the read)."""
        return [ScriptCall("record_use", [self.keys.manifest(d)]) for d in digests]

    # -- layers --------------------------------------------------------------------------
    @operation
    def set_layer_scanned(self, layer: Layer | Digest | str, scanner: Scanner) -> Op[None]:
        """Mark the layer scanned by the scanner."""
        d = inputs.digest(layer, "layer")
        identity = inputs.scanner_identity(scanner, "scanner")
        k = self.keys

        def write(ids: list[bytes], epoch: str) -> Op[None]:
            keys = [k.layer(d), k.layer_scanned(d)]
            if epoch:
                keys.append(k.seq)
            (reply,) = yield [ScriptCall("set_layer_scanned", keys, [ids[0], epoch])]
            unwrap(reply, d)

        yield from self._with_scanners([identity], write)

    def _layer_scanned_hit(self, layer: object, scanner: object) -> Any:
        """``layer_scanned`` from the local cache, or MISS (see ``operation``)."""
        cache = self.cache
        if cache is None or self._epoch is None:
            return MISS
        d = inputs.known_digest(layer)
        scanner_id = self._scanner_ids.get(inputs.known_identity(scanner))  # type: ignore[arg-type]
        if d is None or scanner_id is None:
            return MISS
        found = cache.hit(("layer_scanned", d))
        return found if found is MISS else scanner_id in found

    @operation.answered_by(_layer_scanned_hit)
    def layer_scanned(self, layer: Layer | Digest | str, scanner: Scanner) -> Op[bool]:
        """Whether the scanner scanned the layer (False for an unknown layer)."""
        d = inputs.digest(layer, "layer")
        identity = inputs.scanner_identity(scanner, "scanner")
        scanned = self.keys.layer_scanned(d)

        def ask(ids: list[bytes], _epoch: str) -> Op[bool]:
            found = yield from self._members(("layer_scanned", d), scanned)
            return ids[0] in found

        return (yield from self._with_scanners([identity], ask))

    @operation
    def index_packages(
        self, packages: Iterable[Package], layer: Layer | Digest | str, scanner: Scanner
    ) -> Op[None]:
        """Record the packages a scanner found in a layer (nameless packages are skipped)."""
        values: list[PackageValues] = []
        for i, p in enumerate(validate.sequence(packages, "packages")):
            where = f"packages[{i}]"
            if not isinstance(p, Package):
                raise InvalidInputError(f"{where}: expected Package, got {type(p).__name__}")
            if not validate.text(p.name, f"{where}.name"):
                continue  # as claircore: a package without a name is not stored
            validate.package(p, where)
            values.append(
                (
                    storage.source_value(p),
                    storage.package_value(p),
                    storage.artifact_tail(p),
                    p.filepath.encode(),
                )
            )
        d = inputs.digest(layer, "layer")
        identity = inputs.scanner_identity(scanner, "scanner")

        def write(ids: list[bytes], epoch: str) -> Op[None]:
            yield from self.steps.index_packages(d, ids[0], epoch, values)

        yield from self._with_scanners([identity], write)

    def _index_entities(
        self, kind: str, layer: object, scanner: object, values: list[bytes]
    ) -> Op[None]:
        d = inputs.digest(layer, "layer")
        identity = inputs.scanner_identity(scanner, "scanner")

        def write(ids: list[bytes], epoch: str) -> Op[None]:
            yield from self.steps.index_entities(kind, d, ids[0], epoch, values)

        yield from self._with_scanners([identity], write)

    @operation
    def index_distributions(
        self, distributions: Iterable[Distribution], layer: Layer | Digest | str, scanner: Scanner
    ) -> Op[None]:
        """Record the distributions a scanner found in a layer."""
        items = validate.sequence(distributions, "distributions")
        values = [
            storage.distribution_value(validate.distribution(x, f"distributions[{i}]"))
            for i, x in enumerate(items)
        ]
        yield from self._index_entities("dist", layer, scanner, values)

    @operation
    def index_repositories(
        self, repositories: Iterable[Repository], layer: Layer | Digest | str, scanner: Scanner
    ) -> Op[None]:
        """Record the repositories a scanner found in a layer."""
        items = validate.sequence(repositories, "repositories")
        values = [
            storage.repository_value(validate.repository(x, f"repositories[{i}]"))
            for i, x in enumerate(items)
        ]
        yield from self._index_entities("repo", layer, scanner, values)

    @operation
    def index_files(
        self, files: Iterable[File], layer: Layer | Digest | str, scanner: Scanner
    ) -> Op[None]:
        """Record the files a scanner found in a layer."""
        items = validate.sequence(files, "files")
        values = [storage.file_value(validate.file(x, f"files[{i}]")) for i, x in enumerate(items)]
        yield from self._index_entities("file", layer, scanner, values)

    def _by_layer(
        self,
        kind: str,
        layer: object,
        scanners: Iterable[Scanner],
        decode: Callable[[list[bytes], dict[bytes, bytes], dict[bytes, Scanner]], list[T]],
        copy: Callable[[T], T],
    ) -> Op[list[T]]:
        """One entity per artifact of the requested scanners, in first-written order."""
        d = inputs.digest(layer, "layer")
        items = validate.sequence(scanners, "scanners")
        identities = [inputs.scanner_identity(s, f"scanners[{i}]") for i, s in enumerate(items)]
        if not identities:
            return []
        artifacts_key = self.keys.layer_artifacts(d, kind)

        def ask(scanner_ids: list[bytes], _epoch: str) -> Op[list[T]]:
            by_id = {scanner_id: items[i] for i, scanner_id in enumerate(scanner_ids)}

            def read(fence: Fence | None) -> Op[tuple[list[T], int]]:
                artifacts, values, (epoch,) = yield from self.steps.by_layer(
                    kind, d, scanner_ids, fence, [self._epoch_read()]
                )
                self._check_epoch(epoch)
                size = sum(map(len, artifacts)) + sum(map(len, values.values()))
                return decode(artifacts, values, by_id), size

            def present(kept: list[T]) -> list[T]:
                return [copy(x) for x in kept]

            key = (kind, d, *scanner_ids)
            return (yield from self._cached(key, (artifacts_key,), read, present))

        return (yield from self._with_scanners(identities, ask))

    @operation
    def packages_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Scanner]
    ) -> Op[list[Package]]:
        """One Package per artifact of the scanners in the layer, in first-written order."""
        return (yield from self._by_layer("pkg", layer, scanners, _packages, copies.package))

    @operation
    def distributions_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Scanner]
    ) -> Op[list[Distribution]]:
        """One Distribution per artifact of the scanners in the layer."""
        decode = _entities(storage.decode_distribution)
        return (yield from self._by_layer("dist", layer, scanners, decode, copies.distribution))

    @operation
    def repositories_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Scanner]
    ) -> Op[list[Repository]]:
        """One Repository per artifact of the scanners in the layer."""
        decode = _entities(storage.decode_repository)
        return (yield from self._by_layer("repo", layer, scanners, decode, copies.repository))

    @operation
    def files_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Scanner]
    ) -> Op[list[File]]:
        """One File per artifact of the scanners in the layer."""
        decode = _entities(storage.decode_file)
        return (yield from self._by_layer("file", layer, scanners, decode, _same))

    # -- the manifest index --------------------------------------------------------------
    @operation
    def index_manifest(self, report: IndexReport) -> Op[None]:
        """Replace the manifest's index records with the report's, atomically."""
        report = validate.report(report)
        d = Digest(report.hash or "")
        rows = reverse_index_rows(report)
        yield from self.steps.index_manifest(d, rows, self._held_locks.get(d))

    # -- deletion ------------------------------------------------------------------------
    @operation
    def delete_manifests(self, *digests: Digest | str) -> Op[list[Digest]]:
        """Delete manifests not locked elsewhere; returns those deleted, in input order."""
        if len(digests) == 1 and not isinstance(digests[0], str):
            digests = tuple(validate.sequence(digests[0], "digests"))
        wanted = list(
            dict.fromkeys(inputs.digest(x, f"digests[{i}]") for i, x in enumerate(digests))
        )
        deleted = set((yield from self.steps.delete_manifests(wanted, self._held_locks)))
        for d in deleted:
            self._uses.forget(d)
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
        ms = DEFAULT_MATCHERS if matchers is None else validate.matchers(matchers)
        flag(strict, "strict")
        names: dict[str, None] = {}
        for i, v in enumerate(vulns):
            validate.vulnerability(
                v, f"vulnerabilities[{i}]" if len(vulns) > 1 else "vulnerability"
            )
            if not v.invert:
                names[v.package.name] = None
        if not names:
            return [[] for _ in vulns]
        reply = yield from self.steps.affected_candidates(list(names))
        candidates, buckets = self._candidates(list(names), reply)
        matched: list[set[str]] = []
        for v in vulns:
            outcome = evaluate(v, candidates.get(v.package.name, ()), ms, strict=strict)
            for name, _, _ in outcome.undecided:
                self.undecided[name] += 1
            matched.append(outcome.matched)
        wanted = sorted({b for found in matched for rec in found for b in buckets[rec]})
        if not wanted:
            return [[] for _ in vulns]
        per_bucket, ids, digests = yield from self.steps.manifests_of(wanted)
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


def _same(value: T) -> T:
    """Immutable answers are handed out as they are kept."""
    return value


def _packages(
    artifacts: list[bytes], values: dict[bytes, bytes], scanners: dict[bytes, Scanner]
) -> list[Package]:
    detectors = {
        scanner_id: Detector(name=s.name, version=s.version, kind=s.kind)
        for scanner_id, s in scanners.items()
    }
    out: list[Package] = []
    for art in artifacts:
        head, _, filepath = art.partition(b"\n")
        package_id, scanner_id, source_id, tail = head.split(b",", 3)
        package_db, hint = orjson.loads(tail)
        p = storage.decode_package(package_id.decode(), values[package_id])
        p.source = storage.decode_source(source_id.decode(), values[source_id])
        p.package_db = package_db
        p.repository_hint = hint
        p.filepath = filepath.decode()
        p.detector = detectors[scanner_id]
        out.append(p)
    return out


def _entities(
    decode: Callable[[str, bytes], T],
) -> Callable[[list[bytes], dict[bytes, bytes], dict[bytes, Scanner]], list[T]]:
    def entities(
        artifacts: list[bytes], values: dict[bytes, bytes], _scanners: dict[bytes, Scanner]
    ) -> list[T]:
        out = []
        for art in artifacts:
            entity_id = art.partition(b",")[0]
            out.append(decode(entity_id.decode(), values[entity_id]))
        return out

    return entities


def reverse_index_rows(report: IndexReport) -> dict[str, str]:
    """The reverse-index rows of a report: record ``"pid:did:rid"`` -> package name, for
    each package and its source (as claircore's ``IndexRecords``)."""
    rows: dict[str, str] = {}
    for rec in report.index_records():
        p = rec.package
        if p is None:
            continue
        where = f"report.packages[{p.id!r}]"
        dist_id = (
            validate.entity_id(rec.distribution.id, f"{where} distribution id")
            if (rec.distribution is not None)
            else 0
        )
        repo_id = (
            validate.entity_id(rec.repository.id, f"{where} repository id")
            if (rec.repository is not None)
            else 0
        )
        if p.source is not None:
            source_id = validate.entity_id(p.source.id, f"{where}.source id")
            rows[f"{source_id}:{dist_id}:{repo_id}"] = p.source.name
        package_id = validate.entity_id(p.id, f"{where} id")
        rows[f"{package_id}:{dist_id}:{repo_id}"] = p.name
    return rows
