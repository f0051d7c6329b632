"""Replay an IndexReport through a store exactly as claircore's indexer controller would.

Given a finished report (from Clair, or from the workload generator), :func:`replay` runs the
controller's store-call sequence (:mod:`redis_store.controller`) on a blocking store, with
``set_index_report`` after every state. The store assigns its own IDs; the coalesced report
it ends with is the original with those IDs. This is the indexing path as an indexer drives
it, for tests and benchmarks; to load finished reports into a store, use the store's
``import_report``, which writes the same end state in one step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis_store.controller import (
    DEFAULT_PACKAGE_SCANNER,
    DISTRIBUTION_SCANNER,
    REPOSITORY_SCANNER,
    ReplayPlan,
    controller,
    drive,
    plan,
)
from redis_store.models import IndexReport
from redis_store.store.validate import replayable


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


__all__ = [
    "DEFAULT_PACKAGE_SCANNER",
    "DISTRIBUTION_SCANNER",
    "REPOSITORY_SCANNER",
    "ReplayPlan",
    "plan",
    "replay",
]
