"""``import_report``: a finished report written whole, in one script call.

A cache tier fills itself with reports that are already finished, so nothing is gained by
replaying claircore's controller (tens of store calls and intermediate report writes): the
import computes the controller's end state in Python (:mod:`.finished`) and writes it in one
step (``import_report.lua`` on one server; ordered per-slot steps on a cluster). Entities
need IDs before the write, because the stored report carries them: those the store already
knows are remembered (:mod:`.known`); the others are looked up, and IDs reserved for the new
ones, by one read before the write (``import_plan``). So an import costs one round trip when
every entity is known, two otherwise, whatever the report's size.

The write checks everything it assumed (the manifest's generation, each entity's ID, the
registry's epoch, the lock) before its first write and answers RETRY when another writer
got there first; the import then plans again. A manifest that already has a finished report
is left alone unless ``force``: the outcome says whether the stored one says the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import orjson

from redis_store.codec import storage
from redis_store.errors import InvalidInputError, LockError, StoreError
from redis_store.keys import KeyLayout, bucket_of
from redis_store.models import (
    Digest,
    IndexReport,
    distribution_identity,
    package_identity,
    repository_identity,
)
from redis_store.store import locks, validate
from redis_store.store.calls import Op, Pause
from redis_store.store.finished import (
    DIST,
    PKG,
    REPO,
    Finished,
    render,
    take_apart,
    take_apart_json,
)
from redis_store.store.known import KnownEntities, Stored
from redis_store.store.operation import operation
from redis_store.store.replies import StaleScannersError
from redis_store.store.steps import MAX_RETRIES, ImportPlan, ImportWrite, Steps

if TYPE_CHECKING:
    from redis_store.cache.entries import Entries
    from redis_store.cache.uses import Uses


class ImportOutcome(StrEnum):
    """What ``import_report`` did with a report."""

    #: Written: the manifest had no finished report.
    IMPORTED = "imported"
    #: Nothing written: the same content is stored already.
    UNCHANGED = "unchanged"
    #: Nothing written: a finished report with different content is stored (``force``
    #: replaces it).
    CONFLICT = "conflict"
    #: The stored report was deleted and this one written in its place (``force``).
    REPLACED = "replaced"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A report checked and taken apart for the import (:func:`prepare`), and the model it
    came from, made when needed (to compare with a report stored already)."""

    finished: Finished
    model: Callable[[], IndexReport]

    @property
    def digest(self) -> Digest:
        return self.finished.digest


def prepare(report: object) -> Prepared:
    """A report ready to import: an IndexReport, or its claircore JSON (taken apart straight
    from the JSON when it is well formed, with no model built); refused (naming the fault)
    unless it is a finished, successful report the store can hold whole."""
    if isinstance(report, Prepared):
        return report
    if isinstance(report, bytes | bytearray | memoryview | str):
        f = take_apart_json(report)
        if f is not None:
            data = report
            return Prepared(f, lambda: IndexReport.from_json(data))
    model = finished_report(report)
    return Prepared(take_apart(model), lambda: model)


def finished_report(report: object) -> IndexReport:
    """The report to import: an IndexReport, or its claircore JSON; refused (naming the
    fault) unless it is a finished, successful report the store can hold whole."""
    if isinstance(report, bytes | bytearray | memoryview | str):
        report = IndexReport.from_json(report)
    if not isinstance(report, IndexReport):
        raise InvalidInputError(
            f"report: expected an IndexReport or its JSON, got {type(report).__name__}"
        )
    try:
        validate.importable(report)
    except StoreError:
        raise
    except ValueError as e:
        raise InvalidInputError(f"report: {e}") from None
    return report


def contents(report: IndexReport) -> tuple[Any, ...]:
    """What a report says, without the IDs a store assigns: its state and, per package and
    environment, the package, its source, where it was found, its distribution and its
    repositories. Two reports of one manifest with equal contents say the same thing."""
    dists = report.distributions or {}
    repos = report.repositories or {}
    rows = set()
    for pkg in (report.packages or {}).values():
        source = None if pkg.source is None else package_identity(pkg.source)
        if source == _NO_SOURCE:  # claircore's zero package: stored for "no source"
            source = None
        for env in (report.environments or {}).get(pkg.id) or ():
            if env.introduced_in is None:
                continue  # not indexed
            dist = dists.get(env.distribution_id)
            repo_keys = sorted(
                repository_identity(repos[r]) for r in env.repository_ids or () if r in repos
            )
            rows.add(
                (
                    package_identity(pkg),
                    source,
                    env.package_db,
                    str(env.introduced_in),
                    None if dist is None else distribution_identity(dist),
                    tuple(repo_keys),
                )
            )
    return (report.state or "IndexFinished", bool(report.success), frozenset(rows))


_NO_SOURCE: Final = ("", "", "", "", "")


class Importing:
    """The import operation of :class:`~redis_store.store.core.StoreCore` (a part of it, kept
    in its own module): the state below is the core's."""

    keys: KeyLayout
    steps: Steps
    lock_ttl: float
    cache: Entries | None
    known: KnownEntities
    _held_locks: dict[str, str]
    _scanner_ids: dict[bytes, bytes]
    _epoch: str | None
    _uses: Uses
    _learn_epoch: Callable[[str], bool]
    _forget_server: Callable[[], None]

    @operation
    def import_report(
        self,
        report: IndexReport | bytes | str | Prepared,
        *,
        force: bool = False,
        lock_timeout: float | None = None,
    ) -> Op[ImportOutcome]:
        """Write a finished report whole, as claircore's controller would have left it
        (the store assigns IDs; entities it holds keep theirs), in one script call; readers
        never see it half written. A manifest whose finished report is stored already is
        left alone (UNCHANGED, or CONFLICT when the stored one says something else) unless
        ``force``, which replaces it (REPLACED). Waits up to ``lock_timeout`` seconds
        (default: ``lock_ttl``) while another holds the manifest's lock."""
        return (yield from self.importing(report, force=force, lock_timeout=lock_timeout))

    def importing(
        self,
        report: IndexReport | bytes | str | Prepared,
        *,
        force: bool = False,
        lock_timeout: float | None = None,
    ) -> Op[ImportOutcome]:
        """:meth:`import_report` as a step of another operation (the read-through)."""
        prepared = prepare(report)
        f, r = prepared.finished, prepared.model
        timeout = self.lock_ttl if lock_timeout is None else lock_timeout
        backoff = locks.Backoff(True, timeout)
        d = f.digest
        # One script on one server checks the lock itself. Several steps (a cluster), or a
        # replacement (a delete, then the import), hold it throughout.
        if d in self._held_locks or not (force or not self.steps.scripts_span_slots):
            return (yield from self._import(f, r, backoff, replace=force))
        token = locks.new_token()
        key = self.keys.lock(d)
        yield from locks.acquire(d, key, token, self.lock_ttl, backoff)
        self._held_locks[d] = token
        try:
            outcome = yield from self._import(f, r, backoff, replace=force, took_lock=True)
        except GeneratorExit:  # the caller went away: the lock expires by itself
            self._held_locks.pop(d, None)
            raise
        except BaseException:
            if self._held_locks.pop(d, None) is not None:
                yield from locks.lock_op(key, "release", token, self.lock_ttl)
            raise
        if self._held_locks.pop(d, None) is not None:  # (the write did not release it)
            yield from locks.lock_op(key, "release", token, self.lock_ttl)
        return outcome

    def _import(
        self,
        f: Finished,
        r: Callable[[], IndexReport],
        backoff: locks.Backoff,
        *,
        replace: bool,
        took_lock: bool = False,
    ) -> Op[ImportOutcome]:
        d = f.digest
        known = self.known
        ids: list[bytes | None] = [self._scanner_ids.get(i) for i in f.scanner_identities]
        stored = _remembered(known, f)
        fresh: dict[str, set[bytes]] = {kind: set() for kind in stored}  # reserved, not found
        plan: ImportPlan | None = None
        need_plan = False
        replaced = False
        rendered = None
        fresh_plan = False  # the manifest as the plan read it, under this import's lock
        for _ in range(MAX_RETRIES):
            missing = {
                kind: [h for h in f.values[kind] if h not in stored[kind]] for kind in stored
            }
            if (
                need_plan
                or any(missing.values())
                or None in ids
                or self._epoch is None
                or known.manifest_counter is None
            ):
                plan = yield from self.steps.import_plan(
                    d, f.scanner_identities, missing, self._held_locks.get(d, "")
                )
                need_plan = False
                fresh_plan = took_lock
                if plan is None:  # another holds the manifest's lock: nothing was written
                    pause = backoff.next_pause()
                    if pause is None:
                        raise LockError(f"manifest {d} is locked by an indexer")
                    yield Pause(pause)
                    need_plan = True
                    continue
                if self._learn_epoch(plan.epoch):  # the server lost its data: start again
                    known.clear()
                    stored = {kind: {} for kind in stored}
                    fresh = {kind: set() for kind in stored}
                    ids = [None] * len(ids)
                    need_plan = True
                    continue
                ids = list(plan.scanner_ids)
                self._scanner_ids.update(zip(f.scanner_identities, plan.scanner_ids, strict=True))
                known.saw_manifest_counter(plan.manifest_counter)
                for kind, found in plan.found.items():
                    stored[kind].update(found)
                    free = iter(plan.reserved[kind])
                    for h in missing[kind]:
                        if h not in found:
                            stored[kind][h] = (next(free), f.values[kind][h])
                            fresh[kind].add(h)
                rendered = None
                if plan.report is not None and _finished(plan.report):
                    if not replace:
                        stored_report = storage.decode_report(plan.report)
                        same = contents(stored_report) == contents(r())
                        return ImportOutcome.UNCHANGED if same else ImportOutcome.CONFLICT
                    deleted = yield from self.steps.delete_manifests([d], self._held_locks)
                    replaced = replaced or bool(deleted)
                    if self.cache is not None:
                        self.cache.invalidate([self.keys.report(d)])
                    # what only it used is gone: looked up again, and given new IDs
                    for kind in stored:
                        known.forget(kind, list(f.values[kind]))
                    stored = {kind: {} for kind in stored}
                    fresh = {kind: set() for kind in stored}
                    need_plan = True
                    continue
            if rendered is None:
                rendered = render(f, stored, ids)  # type: ignore[arg-type]
            write = _write(
                f,
                plan,
                rendered,
                stored,
                fresh,
                ids,
                known,
                self._epoch or "",
                self._held_locks.get(d, ""),
                fresh_plan=fresh_plan and plan is not None,
                release_lock=took_lock,
            )
            fresh_plan = False
            try:
                reply = yield from self.steps.import_write(write)
            except StaleScannersError:
                self._forget_server()
                known.clear()
                stored = {kind: {} for kind in stored}
                fresh = {kind: set() for kind in stored}
                ids = [None] * len(ids)
                need_plan = True
                continue
            status = reply[0]
            if status == b"OK":
                if took_lock:  # the write released it
                    self._held_locks.pop(d, None)
                for kind in stored:
                    known.learn(kind, stored[kind])
                known.saw_manifest_counter(int(reply[1]))
                self._uses.forget(d)
                if self.cache is not None:  # the server's invalidation may come later
                    k = self.keys
                    self.cache.invalidate([k.report(d), k.manifest_scanned(d)])
                return ImportOutcome.REPLACED if replaced else ImportOutcome.IMPORTED
            if status == b"LOCKED":
                pause = backoff.next_pause()
                if pause is None:
                    raise LockError(f"manifest {d} is locked by an indexer")
                yield Pause(pause)
                continue
            why = reply[1]
            if why == b"bucket":
                known.manifest_counter = int(reply[2])
                continue
            if why == b"entity":
                for kind in stored:
                    known.forget(kind, list(f.values[kind]))
                stored = {kind: {} for kind in stored}
                fresh = {kind: set() for kind in stored}
                rendered = None
            need_plan = True
        raise StoreError(f"manifest {d} kept changing while being imported; try again")


def _remembered(known: KnownEntities, f: Finished) -> dict[str, dict[bytes, Stored]]:
    """The report's entities this store remembers."""
    out: dict[str, dict[bytes, Stored]] = {}
    for kind, values in f.values.items():
        found = out[kind] = {}
        for h in values:
            s = known.get(kind, h)
            if s is not None:
                found[h] = s
    return out


def _finished(blob: bytes) -> bool:
    """Whether a stored report is a finished one (``success``)."""
    try:
        return bool(orjson.loads(storage.report_json(blob)).get("success"))
    except (orjson.JSONDecodeError, AttributeError, StoreError):
        return False


def _write(
    f: Finished,
    plan: ImportPlan | None,
    rendered: Any,
    stored: dict[str, dict[bytes, Stored]],
    fresh: dict[str, set[bytes]],
    ids: list[bytes | None],
    known: KnownEntities,
    epoch: str,
    token: str,
    *,
    fresh_plan: bool,
    release_lock: bool,
) -> ImportWrite:
    """The write, from the plan (None: assume a manifest that does not exist yet)."""
    manifest = plan.manifest if plan is not None else []
    if manifest:
        generation, manifest_id, _, old_list, *names = manifest
        planned = generation.decode() if isinstance(generation, bytes) else str(generation)
        bucket = bucket_of(int(manifest_id))
        olds = old_list.decode().split(",") if old_list else []
        old = dict(zip(olds, (n.decode() for n in names), strict=True))
    else:
        planned = ""
        assert known.manifest_counter is not None
        bucket = bucket_of(known.manifest_counter + 1)
        old = {}
    no_report = plan is None or plan.report is None
    entities = {
        kind: [(*stored[kind][h], "+" if h in fresh[kind] else "=") for h in f.values[kind]]
        for kind in (PKG, DIST, REPO)
    }
    return ImportWrite(
        digest=f.digest,
        planned=planned,
        bucket=bucket,
        token=token,
        epoch=epoch,
        blob=rendered.blob,
        layers=list(f.layers),
        records=rendered.records,
        old_records=old,
        scanner_ids=[i for i in ids if i is not None],
        entities=entities,
        artifacts=rendered.artifacts,
        expect_no_report=no_report,
        fresh_plan=fresh_plan,
        release_lock=release_lock,
    )


__all__ = ["ImportOutcome", "Importing", "Prepared", "contents", "finished_report", "prepare"]
