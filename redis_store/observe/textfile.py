"""What an ops job did, for node_exporter's textfile collector.

Batch jobs (``redis-store gc``, ``expire``, ``fsck``, ``import``, the nightly cleanup script)
end before any scrape, so they leave their figures in a ``*.prom`` file that node_exporter
(``--collector.textfile.directory``) serves with the machine's metrics. The file is written
whole to a temporary name and renamed (``prometheus_client.write_to_textfile``), so the
collector never reads half of it. Every series is a gauge of the last run, labelled by
``namespace`` (and ``job`` for the run itself): alert on ``redis_store_job_success == 0``, on
``time() - redis_store_job_last_run_timestamp_seconds`` growing, or on
``redis_store_fsck_violations_remaining > 0``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis_store.errors import InvalidInputError


def available() -> bool:
    """Whether prometheus_client is installed (the ``metrics`` extra)."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class JobFile:
    """The figures of one or more job runs on one namespace, written as one file."""

    def __init__(self, namespace: str) -> None:
        try:
            from prometheus_client import CollectorRegistry
        except ImportError:
            raise InvalidInputError(
                "writing metrics needs prometheus_client: pip install 'redis-store[metrics]'"
            ) from None
        self.namespace = namespace
        self.registry = CollectorRegistry()
        self._gauges: dict[str, Any] = {}

    def _set(self, name: str, help: str, value: float, **labels: str) -> None:
        from prometheus_client import Gauge

        gauge = self._gauges.get(name)
        if gauge is None:
            names = ["namespace", *labels]
            gauge = self._gauges[name] = Gauge(name, help, names, registry=self.registry)
        gauge.labels(namespace=self.namespace, **labels).set(value)

    def run(self, job: str, *, seconds: float, success: bool, dry_run: bool = False) -> None:
        """How the run of ``job`` went: whether it ran to its end, how long, when."""
        self._set(
            "redis_store_job_success", "1 if the job ran to its end, 0 if it failed or was"
            " interrupted.", float(success), job=job,
        )  # fmt: skip
        self._set(
            "redis_store_job_duration_seconds", "How long the job's last run took.", seconds,
            job=job,
        )  # fmt: skip
        self._set(
            "redis_store_job_last_run_timestamp_seconds",
            "When the job's last run ended (Unix seconds).",
            time.time(),
            job=job,
        )
        self._set(
            "redis_store_job_dry_run", "1 if the last run only reported what it would do.",
            float(dry_run), job=job,
        )  # fmt: skip

    def gc(self, reclaimed: Mapping[str, int]) -> None:
        """``gc``: items reclaimed (or, in a dry run, reclaimable), by kind."""
        for kind, n in reclaimed.items():
            self._set(
                "redis_store_gc_reclaimed_items",
                "Items gc reclaimed in its last run (would reclaim, in a dry run), by kind.",
                n,
                kind=kind,
            )

    def expire(self, *, expired: int, locked: int, no_recorded_use: int) -> None:
        """``expire``: manifests expired, skipped because locked, kept for want of a use."""
        for outcome, n in (
            ("expired", expired),
            ("locked", locked),
            ("no_recorded_use", no_recorded_use),
        ):
            self._set(
                "redis_store_expire_manifests",
                "Manifests expire handled in its last run, by outcome (expired: deleted, or"
                " to be deleted in a dry run; locked: skipped; no_recorded_use: kept).",
                n,
                outcome=outcome,
            )

    def fsck(self, *, found: int, repaired: int, remaining: int) -> None:
        """``fsck``: violations found, repaired and remaining."""
        for what, n in (("found", found), ("repaired", repaired), ("remaining", remaining)):
            self._set(
                f"redis_store_fsck_violations_{what}",
                f"Invariant violations fsck {what} in its last run.",
                n,
            )

    def evict(self, *, used: int, budget: int, evicted: int, locked: int, enforced: bool) -> None:
        """``evict``: the last pass's memory, budget and manifests, and whether the budget is
        enforced (0 while Redis is out of reach, the pass was refused, or it stayed over)."""
        self._set("redis_store_evict_used_memory_bytes", "used_memory after the last pass.", used)
        self._set("redis_store_evict_budget_bytes", "The budget (--max-memory).", budget)
        for outcome, n in (("evicted", evicted), ("locked", locked)):
            self._set(
                "redis_store_evict_manifests",
                "Manifests the last pass evicted (would evict, in a dry run) or skipped"
                " because an indexer held them locked, by outcome.",
                n,
                outcome=outcome,
            )
        self._set(
            "redis_store_evict_budget_enforced",
            "1 if the last pass ran and left used_memory within the budget; 0 if Redis could"
            " not be reached, the pass was refused, or the server stayed over it.",
            float(enforced),
        )

    def imports(self, outcomes: Mapping[str, int]) -> None:
        """``import``: reports by outcome (imported, unchanged, replaced, conflict, failed)."""
        for outcome, n in outcomes.items():
            self._set(
                "redis_store_import_reports",
                "Reports import handled in its last run, by outcome.",
                n,
                outcome=outcome,
            )

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    def write(self, path: str) -> None:
        """Write the file atomically (a temporary file in the same directory, renamed)."""
        from prometheus_client import write_to_textfile

        write_to_textfile(path, self.registry)


#: The outcomes ``imports`` reports, always all of them (a zero is a figure too).
IMPORT_OUTCOMES: Sequence[str] = ("imported", "unchanged", "replaced", "conflict", "failed")

__all__ = ["IMPORT_OUTCOMES", "JobFile", "available"]
