"""Replay an IndexReport through a store exactly as claircore's indexer controller would.

Given a finished report (from Clair, or from the workload generator), :func:`replay` runs the
controller's store-call sequence (:mod:`redis_store.controller`) on a blocking store, with
``set_index_report`` after every state. The store assigns its own IDs; the coalesced report
it ends with is the original with those IDs.

:func:`import_report` is the safe way to load one report into a live store: checked first,
written under the manifest's lock, and removed again if the replay fails part-way.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from redis_store.controller import (
    DEFAULT_PACKAGE_SCANNER,
    DISTRIBUTION_SCANNER,
    REPOSITORY_SCANNER,
    ReplayPlan,
    controller,
    drive,
    plan,
)
from redis_store.interrupts import no_interrupts
from redis_store.models import (
    Digest,
    IndexReport,
    distribution_identity,
    package_identity,
    repository_identity,
)
from redis_store.store.validate import importable as check_importable
from redis_store.store.validate import replayable

if TYPE_CHECKING:
    from redis_store.store import RedisStore

_pkg_key = package_identity
_dist_key = distribution_identity
_repo_key = repository_identity


def replay(
    store: Any,
    report: IndexReport,
    *,
    on_step: Callable[[str, float], None] | None = None,
) -> IndexReport:
    """Index ``report`` into ``store`` (any blocking Store) in claircore's controller call
    order. Returns the finished report as the store now holds it. ``on_step(state,
    seconds)`` is called after each controller state. The report is checked first
    (:func:`~redis_store.store.validate.replayable`): one the store would refuse part-way
    raises a :class:`~redis_store.errors.StoreError` naming the field, having written
    nothing."""
    return drive(store, controller(replayable(report), on_step=on_step))


class ImportOutcome(StrEnum):
    """What :func:`import_report` did with a report."""

    #: Written: the manifest had no finished report.
    IMPORTED = "imported"
    #: Nothing written: the same content is stored already.
    UNCHANGED = "unchanged"
    #: Nothing written: a finished report with different content is stored (``force``
    #: replaces it).
    CONFLICT = "conflict"
    #: The stored report was deleted and this one written in its place (``force``).
    REPLACED = "replaced"


def contents(report: IndexReport) -> tuple[Any, ...]:
    """What a report says, without the IDs a store assigns: its state and, per package and
    environment, the package, its source, where it was found, its distribution and its
    repositories. Two reports of one manifest with equal contents say the same thing."""
    dists = report.distributions or {}
    repos = report.repositories or {}
    rows = set()
    for pkg in (report.packages or {}).values():
        source = None if pkg.source is None else _pkg_key(pkg.source)
        for env in (report.environments or {}).get(pkg.id) or ():
            if env.introduced_in is None:
                continue  # not indexed (see plan)
            dist = dists.get(env.distribution_id)
            repo_keys = sorted(_repo_key(repos[r]) for r in env.repository_ids or () if r in repos)
            rows.add(
                (
                    _pkg_key(pkg),
                    source,
                    env.package_db,
                    str(env.introduced_in),
                    None if dist is None else _dist_key(dist),
                    tuple(repo_keys),
                )
            )
    return (report.state or "IndexFinished", bool(report.success), frozenset(rows))


def import_report(
    store: RedisStore, report: IndexReport, *, force: bool = False, lock_timeout: float = 10.0
) -> ImportOutcome:
    """Index a finished report under its manifest lock, whole or not at all.

    A manifest that already has a finished report is left alone: ``UNCHANGED`` when that
    report says the same (:func:`contents`), ``CONFLICT`` when it says something else;
    ``force`` deletes it and imports this one (``REPLACED``). The report is checked first
    (:func:`check_importable`, a :class:`ValueError`), so nothing is written for one that
    could not be imported. A replay that fails or is interrupted part-way deletes what it
    wrote, still holding the lock and ignoring Ctrl-C meanwhile, then re-raises. Waits up to
    ``lock_timeout`` seconds for an indexer holding the lock (then :class:`LockError`).
    """
    check_importable(report)
    d = Digest(report.hash)
    outcome = ImportOutcome.IMPORTED
    with store.manifest_lock(d, timeout=lock_timeout):
        stored = store.index_report(d)
        if stored is not None and stored.success:
            if not force:
                same = contents(stored) == contents(report)
                return ImportOutcome.UNCHANGED if same else ImportOutcome.CONFLICT
            outcome = ImportOutcome.REPLACED
        if force:
            store.delete_manifests(d)  # we hold the lock, so our own delete goes through
        try:
            replay(store, report)
        except BaseException:
            with no_interrupts():
                store.delete_manifests(d)
            raise
    return outcome


__all__ = [
    "DEFAULT_PACKAGE_SCANNER",
    "DISTRIBUTION_SCANNER",
    "REPOSITORY_SCANNER",
    "ImportOutcome",
    "ReplayPlan",
    "check_importable",
    "contents",
    "import_report",
    "plan",
    "replay",
]
