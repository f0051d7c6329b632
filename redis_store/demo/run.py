"""The run ``redis-store demo`` makes: index a generated registry, check every answer, time it.

It lives beside the workload generator rather than in the command line so that the run is
one library call (:func:`generate_and_run`), and the CLI only parses arguments and prints.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis_store import replay
from redis_store.demo import workload
from redis_store.keys import KeyLayout
from redis_store.models import IndexReport
from redis_store.ops.nodes import used_memory
from redis_store.store import RedisStore


class DemoCheckFailed(Exception):
    """The store answered something the generated reports say it must not."""


class ProgressDisplay(Protocol):
    """Where the run shows how far it got: the CLI's progress bar, or anything alike."""

    def update(self, what: str, done: int, total: int | None = None) -> None: ...

    def clear(self) -> None: ...


@dataclass
class Timing:
    """Seconds spent on one step and how many items it handled."""

    seconds: float = 0.0
    count: int = 0
    unit: str = "manifest"

    def as_dict(self) -> dict[str, Any]:
        per = self.seconds / self.count if self.count else 0.0
        return {
            "seconds": round(self.seconds, 6),
            "count": self.count,
            "unit": self.unit,
            f"ms_per_{self.unit}": round(per * 1000, 4),
        }


@dataclass
class DemoResult:
    """Everything the demo measured, printed as text or JSON."""

    backend: str
    namespace: str
    seed: int
    stored: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Timing] = field(default_factory=dict)
    states: dict[str, Timing] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "namespace": self.namespace,
            "seed": self.seed,
            "stored": self.stored,
            "timings": {k: v.as_dict() for k, v in self.timings.items()},
            "controller_states": {k: v.as_dict() for k, v in self.states.items()},
        }


@contextmanager
def timed(
    timings: dict[str, Timing], step: str, count: int, unit: str = "manifest"
) -> Iterator[None]:
    """Record the block's duration in ``timings[step]``."""
    start = time.perf_counter()
    yield
    timings[step] = Timing(time.perf_counter() - start, count, unit)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise DemoCheckFailed(f"demo check failed: {message}")


def _namespace_keys(client: Any, namespace: str) -> int | None:
    """How many keys the namespace holds."""
    if client is None:
        return None
    pattern = KeyLayout(namespace).match_pattern()
    return sum(1 for _ in client.scan_iter(match=pattern, count=1000))


def _used_memory(client: Any) -> int | None:
    """The whole server's ``used_memory``, summed over the primaries of a cluster (other
    namespaces included)."""
    if client is None:
        return None
    return sum(used_memory(client).values())


def generate_and_run(
    store: RedisStore,
    manifests: int,
    seed: int,
    progress: ProgressDisplay,
    *,
    backend: str,
    real: bool = False,
) -> DemoResult:
    """Generate ``manifests`` reports from ``seed`` and :func:`run_demo` them on ``store``.

    ``backend`` labels the store in the result; ``real`` also reads the server's memory.
    """
    result = DemoResult(backend=backend, namespace=store.keys.namespace, seed=seed)
    with timed(result.timings, "generate", manifests):
        reports = list(workload.generate(manifests, seed))
    run_demo(store, reports, seed, progress, result, real=real)
    return result


def run_demo(
    store: RedisStore,
    reports: Sequence[IndexReport],
    seed: int,
    progress: ProgressDisplay,
    result: DemoResult,
    *,
    real: bool = False,
) -> None:
    """Index, read back, look up and partly delete ``reports``, checking every answer.

    Fills ``result`` as it goes; raises :class:`DemoCheckFailed` when the store answers
    something the reports say it must not.
    """
    n = len(reports)
    t = result.timings
    digests = [r.hash for r in reports if r.hash is not None]
    _check(len(digests) == n, "a generated report has no manifest digest")
    plans = [replay.plan(r) for r in reports]

    # A rerun against the same Redis starts from scratch, using the public API only.
    with timed(t, "clear earlier run", n):
        cleared = store.delete_manifests(*digests)
    result.stored["cleared_from_earlier_run"] = len(cleared)

    def on_step(state: str, seconds: float) -> None:
        s = result.states.setdefault(state, Timing())
        s.seconds += seconds
        s.count += 1

    indexed: list[IndexReport] = []
    with timed(t, "index (replay)", n):
        for i, r in enumerate(reports, 1):
            indexed.append(replay.replay(store, r, on_step=on_step))
            progress.update("indexing", i, n)
    progress.clear()

    with timed(t, "index_report", n):
        stored = [store.index_report(d) for d in digests]
    for d, orig, want, got in zip(digests, reports, indexed, stored, strict=True):
        _check(
            len(want.packages or {}) == len(orig.packages or {}),
            f"{d}: the store coalesced a different number of packages",
        )
        _check(got is not None, f"index_report({d}) found nothing")
        assert got is not None
        _check(got.state == "IndexFinished" and got.success, f"{d} is not finished")
        _check(got.to_json() == want.to_json(), f"{d}: stored report differs from the indexed one")

    with timed(t, "manifest_scanned", n):
        scanned = [
            store.manifest_scanned(d, p.scanners) for d, p in zip(digests, plans, strict=True)
        ]
    _check(all(scanned), "a manifest is not scanned after indexing")

    layers = sorted({layer.hash for p in plans for layer in p.manifest.layers})
    pkg_scanners = list({s: None for p in plans for s in p.scanners if s.kind == "package"})
    with timed(t, "packages_by_layer", len(layers), "layer"):
        artifacts = 0
        for i, layer in enumerate(layers, 1):
            artifacts += len(store.packages_by_layer(layer, pkg_scanners))
            progress.update("packages_by_layer", i, len(layers))
    progress.clear()
    expected = {
        (layer, s, pkg.name, pkg.version, str(pkg.kind), pkg.module, pkg.arch, pkg.package_db)
        for p in plans
        for layer, f in p.layers.items()
        for s, pkgs in f.packages.items()
        for pkg in pkgs
    }
    _check(
        artifacts == len(expected),
        f"{artifacts} package artifacts stored, expected {len(expected)}",
    )

    doomed = sorted(random.Random(f"demo delete {seed}").sample(range(n), n // 10))
    gone = [digests[i] for i in doomed]
    with timed(t, "delete_manifests (10%)", len(gone)):
        deleted = store.delete_manifests(*gone)
    _check(deleted == gone, f"deleted {len(deleted)} of {len(gone)} manifests")
    _check(all(store.index_report(d) is None for d in gone), "a deleted report is still there")
    keep = set(range(n)) - set(doomed)
    survivors = [store.index_report(digests[i]) for i in sorted(keep)]
    _check(
        all(
            s is not None and s.to_json() == indexed[i].to_json()
            for i, s in zip(sorted(keep), survivors, strict=True)
        ),
        "deleting manifests changed another manifest's report",
    )

    stats = workload.describe(reports)
    result.stored.update(
        manifests=n,
        deleted=len(deleted),
        remaining=n - len(deleted),
        distinct_layers=stats.layers,
        shared_layers=stats.shared_layers,
        packages_in_reports=stats.packages,
        distinct_packages=stats.distinct_packages,
        index_records=stats.index_records,
        package_artifacts=artifacts,
        distributions=stats.distributions,
        repositories=stats.repositories,
        scanners=len({s for p in plans for s in p.scanners}),
    )
    client = getattr(store, "client", None)
    result.stored["redis_keys_after_delete"] = _namespace_keys(client, result.namespace)
    result.stored["server_used_memory"] = _used_memory(client) if real else None


def _fmt_seconds(s: float) -> str:
    return f"{s:8.3f} s" if s >= 0.1 else f"{s * 1000:8.2f} ms"


def format_demo(result: DemoResult, manifests: int) -> str:
    """The human-readable report of a demo run."""
    st = result.stored
    lines = [
        f"redis-store demo: {manifests} manifests (seed {result.seed}) into {result.backend},"
        f" namespace {result.namespace!r}",
        "",
        "stored",
        f"  manifests            {st['manifests']:>8}   ({st['deleted']} deleted,"
        f" {st['remaining']} remain)",
        f"  distinct layers      {st['distinct_layers']:>8}   ({st['shared_layers']} shared by"
        " several manifests)",
        f"  packages in reports  {st['packages_in_reports']:>8}   ({st['distinct_packages']}"
        " distinct)",
        f"  package artifacts    {st['package_artifacts']:>8}   (packages_by_layer, all layers)",
        f"  index records        {st['index_records']:>8}",
        f"  distributions        {st['distributions']:>8}",
        f"  repositories         {st['repositories']:>8}",
        f"  scanners             {st['scanners']:>8}",
    ]
    if st.get("redis_keys_after_delete") is not None:
        lines.append(
            f"  redis keys           {st['redis_keys_after_delete']:>8}   (in the"
            " namespace, after the deletes)"
        )
    if st.get("server_used_memory") is not None:
        lines.append(
            f"  server used_memory   {st['server_used_memory'] / 2**20:>8.1f}   MiB"
            " (the whole server)"
        )
    if st.get("cleared_from_earlier_run"):
        lines.append(
            f"  (first removed {st['cleared_from_earlier_run']} manifests left by an earlier run)"
        )
    lines += ["", f"{'timings':<26}{'total':>10} {'each':>10}"]
    for name, tm in result.timings.items():
        per = tm.seconds / tm.count if tm.count else 0.0
        lines.append(f"  {name:<24}{_fmt_seconds(tm.seconds)} {_fmt_seconds(per)} /{tm.unit}")
    if result.states:
        lines.append("  controller states (replay's on_step times, summed over manifests)")
        for name, tm in result.states.items():
            per = tm.seconds / tm.count if tm.count else 0.0
            lines.append(f"    {name:<22}{_fmt_seconds(tm.seconds)} {_fmt_seconds(per)} /manifest")
    return "\n".join(lines)


__all__ = [
    "DemoCheckFailed",
    "DemoResult",
    "ProgressDisplay",
    "Timing",
    "format_demo",
    "generate_and_run",
    "run_demo",
    "timed",
]
