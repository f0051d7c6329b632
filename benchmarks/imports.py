"""The import measured against the controller path it replaces, and the fills built on it.

- **import against replay**: the same reports written by claircore's controller sequence
  (``replay``) into one namespace and by ``import_report`` into another, alternating, on one
  server: the shared real reports (each into an empty namespace, many times) and the
  workload's size mix (one after another, base layers shared, as a fill goes). Medians per
  report by size, and the memory each path leaves per manifest (``MEMORY USAGE``).
- **fills by jobs**: ``redis-store import --from`` from Clair's database with ``--jobs`` 1, 2
  and 4, beside what the origin alone delivers (every report fetched, nothing imported);
  and from Clair's indexer API answering each report after a delay (as across a network),
  ``--jobs`` 1 against 4.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

from redis_store import IndexReport, RedisStore, replay
from redis_store.tier.origins import Origin
from tests.support import servers
from tests.support.inspect import all_keys


def _median_ms(samples: Iterable[float]) -> float:
    return round(1000 * statistics.median(list(samples)), 3)


def _memory(client: Any, namespace: str) -> int:
    return sum(client.memory_usage(k, samples=0) or 0 for k in all_keys(client, namespace))


def import_against_replay(
    redis: servers.RedisServer,
    shared: list[IndexReport],
    mix: list[IndexReport],
    reps: int,
) -> dict[str, Any]:
    """Per-report medians of both paths (see the module docstring), and memory per
    manifest of each."""
    redis.flush()
    client = redis.client()
    out: dict[str, Any] = {"shared": [], "reps": reps, "mix_reports": len(mix)}
    for report in shared:
        replayed: list[float] = []
        imported: list[float] = []
        for i in range(reps):
            a = RedisStore(client, f"r{i}", local_cache=False)
            b = RedisStore(client, f"i{i}", local_cache=False)
            start = time.perf_counter()
            replay.replay(a, report)
            replayed.append(time.perf_counter() - start)
            start = time.perf_counter()
            b.import_report(report)
            imported.append(time.perf_counter() - start)
        out["shared"].append(
            {
                "packages": len(report.packages or {}),
                "replay_ms": _median_ms(replayed),
                "import_ms": _median_ms(imported),
                "ratio": round(statistics.median(replayed) / statistics.median(imported), 1),
            }
        )
        redis.flush()
    a = RedisStore(client, "replayed", local_cache=False)
    b = RedisStore(client, "imported", local_cache=False)
    rows: list[tuple[int, float, float]] = []
    for report in mix:
        start = time.perf_counter()
        replay.replay(a, report)
        middle = time.perf_counter()
        b.import_report(report)
        rows.append((len(report.packages or {}), middle - start, time.perf_counter() - middle))
    sizes = sorted(n for n, _, _ in rows)
    bounds = [sizes[len(sizes) // 3], sizes[2 * len(sizes) // 3]]
    groups: dict[str, list[tuple[float, float]]] = {"small": [], "medium": [], "large": []}
    for size, replayed_s, imported_s in rows:
        key = "small" if size < bounds[0] else "medium" if size < bounds[1] else "large"
        groups[key].append((replayed_s, imported_s))
    out["mix"] = {
        "all": {
            "replay_ms": _median_ms(r for _, r, _ in rows),
            "import_ms": _median_ms(i for _, _, i in rows),
            "ratio": round(
                statistics.median(r for _, r, _ in rows) / statistics.median(i for _, _, i in rows),
                1,
            ),
        },
        "size_bounds": bounds,
        **{
            name: {
                "reports": len(g),
                "replay_ms": _median_ms(r for r, _ in g),
                "import_ms": _median_ms(i for _, i in g),
            }
            for name, g in groups.items()
            if g
        },
    }
    replayed_bytes, imported_bytes = _memory(client, "replayed"), _memory(client, "imported")
    out["memory"] = {
        "replay_bytes_per_manifest": replayed_bytes // len(mix),
        "import_bytes_per_manifest": imported_bytes // len(mix),
        "ratio": round(imported_bytes / replayed_bytes, 4),
    }
    redis.flush()
    return out


def origin_alone(make_origin: Any, digests: list[str]) -> dict[str, Any]:
    """Every report fetched from the origin, one after another, nothing imported: the rate
    a fill could reach if importing cost nothing."""
    origin: Origin = make_origin()
    try:
        start = time.perf_counter()
        fetched = sum(origin.fetch(d) is not None for d in digests)
        seconds = time.perf_counter() - start
    finally:
        origin.close()
    return {
        "fetched": fetched,
        "seconds": round(seconds, 3),
        "per_second": round(fetched / seconds, 1),
    }


def controller_fill(
    redis: servers.RedisServer, make_origin: Any, digests: list[str]
) -> dict[str, Any]:
    """The fill as it ran before the import existed: each report fetched, then written by
    the controller path (``replay``), one after another, in this process."""
    redis.flush()
    origin: Origin = make_origin()
    store = RedisStore(redis.client(), "tier", local_cache=False)
    try:
        start = time.perf_counter()
        done = 0
        for d in digests:
            source = origin.fetch(d)
            if source is not None:
                report = IndexReport.from_json(source)
                if report.success:
                    replay.replay(store, report)
                    done += 1
        seconds = time.perf_counter() - start
    finally:
        origin.close()
        store.close()
    redis.flush()
    return {"imported": done, "seconds": round(seconds, 3), "per_second": round(done / seconds, 1)}


def fill(
    redis: servers.RedisServer, origin_url: str, jobs: int, digests: str | None = None
) -> dict[str, Any]:
    """``redis-store import --from`` into an empty store, as a subprocess, and once more (a
    resumed fill: everything skipped)."""
    redis.flush()
    argv = [
        sys.executable, "-m", "redis_store", "import", "--url", redis.url,
        "--namespace", "tier", "--from", origin_url, "--jobs", str(jobs), "--json", "-q",
    ]  # fmt: skip
    if digests is not None:
        argv += ["--digests", digests]
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"import --from failed ({out.returncode}): {out.stderr.strip()}")
    doc = json.loads(out.stdout)
    again = subprocess.run(argv, capture_output=True, text=True, check=True)
    resumed = json.loads(again.stdout)
    return {
        "jobs": jobs,
        "imported": doc["imported"],
        "seconds": doc["seconds"],
        "imported_per_second": doc["imported_per_second"],
        "wall_seconds": round(wall, 2),
        "rerun_skipped": resumed["skipped"],
        "rerun_seconds": resumed["seconds"],
    }


__all__ = ["controller_fill", "fill", "import_against_replay", "origin_alone"]
