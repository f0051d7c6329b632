"""The Redis store's figures of the previous round, before the local cache: what the store
with ``local_cache=False`` is compared against ("nothing slower than before").

The built-in figures are the Redis medians of the runs BENCHMARKS.md reported before the
cache (``python scripts/bench.py --manifests 1000 10000`` and ``--manifests 1000
--redis-topology cluster``, seed 0, pinned, on the project's 2-vCPU VM), as printed there
(three significant digits). ``--previous FILE`` compares against a results file instead.
Reads then returned fully decoded reports, so the previous ``index_report`` is compared with
this round's ``index_report (cold, decoded)``; the other reads with their ``(cold)`` rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson

#: (topology, manifests) -> manifests/s end to end, the floor's PING beside layer_scanned
#: (how fast the machine's round trips were) and median milliseconds by operation.
BUILT_IN: Final[dict[tuple[str, int], dict[str, Any]]] = {
    ("single", 1000): {
        "manifests_per_second": 56.0,
        "floor_ping_ms": 0.086,
        "medians_ms": {
            "end_to_end": 15.3,
            "index_report": 0.991,
            "manifest_scanned": 0.102,
            "layer_scanned": 0.096,
            "packages_by_layer": 0.251,
            "affected_manifests": 0.641,
            "affected_manifests_batch(1000)": 202.0,
            "delete_manifests": 1.36,
            "index.index_manifest": 2.02,
            "index.set_index_report": 0.258,
            "index.set_index_finished": 0.915,
            "index.index_packages": 0.126,
            "index.set_layer_scanned": 0.091,
            "index.layer_scanned": 0.078,
            "index.packages_by_layer": 0.304,
            "index.persist_manifest": 0.198,
            "index.index_repositories": 0.114,
            "index.repositories_by_layer": 0.109,
            "index.register_scanners": 0.337,
            "index.manifest_scanned": 0.088,
            "index.distributions_by_layer": 0.109,
            "index.index_distributions": 0.102,
            "index.files_by_layer": 0.003,
        },
    },
    ("single", 10000): {
        "manifests_per_second": 55.5,
        "floor_ping_ms": 0.074,
        "medians_ms": {
            "end_to_end": 15.7,
            "index_report": 1.08,
            "manifest_scanned": 0.101,
            "layer_scanned": 0.084,
            "packages_by_layer": 0.212,
            "affected_manifests": 5.32,
            "affected_manifests_batch(1000)": 1640.0,
            "delete_manifests": 2.16,
            "index.index_manifest": 2.33,
            "index.set_index_report": 0.243,
            "index.packages_by_layer": 0.316,
            "index.index_packages": 0.134,
            "index.set_index_finished": 0.908,
            "index.layer_scanned": 0.082,
            "index.set_layer_scanned": 0.095,
            "index.persist_manifest": 0.209,
            "index.index_repositories": 0.12,
            "index.repositories_by_layer": 0.113,
            "index.register_scanners": 0.342,
            "index.manifest_scanned": 0.091,
            "index.distributions_by_layer": 0.114,
            "index.index_distributions": 0.107,
            "index.files_by_layer": 0.003,
        },
    },
    ("cluster", 1000): {
        "manifests_per_second": 39.0,
        "floor_ping_ms": 0.082,
        "medians_ms": {
            "end_to_end": 21.4,
            "index_report": 0.918,
            "manifest_scanned": 0.11,
            "layer_scanned": 0.105,
            "packages_by_layer": 0.3,
            "affected_manifests": 4.29,
            "affected_manifests_batch(1000)": 244.0,
            "delete_manifests": 5.32,
            "index.index_manifest": 6.32,
            "index.set_index_report": 0.256,
            "index.set_index_finished": 0.902,
            "index.index_packages": 0.121,
            "index.layer_scanned": 0.099,
            "index.packages_by_layer": 0.378,
            "index.set_layer_scanned": 0.103,
            "index.persist_manifest": 0.681,
            "index.repositories_by_layer": 0.125,
            "index.index_repositories": 0.331,
            "index.manifest_scanned": 0.108,
            "index.distributions_by_layer": 0.199,
            "index.register_scanners": 0.374,
            "index.index_distributions": 0.106,
            "index.files_by_layer": 0.004,
        },
    },
}

#: This round's operation -> the previous round's name for it (reads were fully decoded).
RENAMED: Final = {
    "index_report (cold, decoded)": "index_report",
    "manifest_scanned (cold)": "manifest_scanned",
    "layer_scanned (cold)": "layer_scanned",
    "packages_by_layer (cold)": "packages_by_layer",
}

#: Operations faster than this (no round trip: files_by_layer answers from the store's own
#: knowledge) are listed but not held to "nothing slower": their medians are a few
#: microseconds of Python, within the run-to-run noise.
MIN_COMPARED_MS: Final = 0.02

#: The floor's PING beside layer_scanned, in a run's results.
PING: Final = "floor: PING"


def figures(topology: str, manifests: int, path: Path | None = None) -> dict[str, Any] | None:
    """The previous figures to compare with: from ``path`` (a results file, whose cache-off
    store is preferred, else its Redis store), else the built-in ones for this topology and
    size; None when there are none."""
    if path is None:
        found = BUILT_IN.get((topology, manifests))
        if found is None:
            return None
        return {"source": "BENCHMARKS.md, the previous round", **found}
    doc = orjson.loads(path.read_bytes())
    stores = doc.get("stores", {})
    name = "redis-nocache" if "redis-nocache" in stores else "redis"
    store = stores.get(name)
    if not store:
        return None
    ops = store.get("operations", {})
    ping = (doc.get("floor") or {}).get(PING, {})
    return {
        "source": f"{path.name} ({name}, N = {doc.get('meta', {}).get('manifests')})",
        "manifests_per_second": store.get("index", {}).get("manifests_per_second"),
        "floor_ping_ms": ping.get("median_ms"),
        "medians_ms": {k: v["median_ms"] for k, v in ops.items() if v.get("calls")},
    }


def compare(
    now: dict[str, Any], before: dict[str, Any], floor: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Cache-off medians of this run against ``before`` (:func:`figures`): each operation's
    ratio now / before (above 1: slower now), and the worst of those compared; with this
    run's ``floor``, its PING against the previous one's (a machine whose round trips are
    slower than it was makes every call slower, whatever the store does)."""
    medians = before.get("medians_ms", {})
    rows = []
    for op, summary in now.get("operations", {}).items():
        if not summary.get("calls"):
            continue
        old = medians.get(op)
        if old is None:
            old = medians.get(RENAMED.get(op, ""))
        if old is None or old <= 0:
            continue
        ratio = summary["median_ms"] / old
        rows.append(
            {
                "operation": op,
                "median_ms": summary["median_ms"],
                "previous_median_ms": old,
                "ratio": ratio,
                "compared": old >= MIN_COMPARED_MS,
            }
        )
    rate_now = now.get("index", {}).get("manifests_per_second")
    rate_before = before.get("manifests_per_second")
    rate = None
    if rate_now and rate_before:
        rate = {"manifests_per_second": rate_now, "previous": rate_before}
        rate["ratio"] = rate_before / rate_now  # above 1: slower now
    compared = [r["ratio"] for r in rows if r["compared"]]
    if rate is not None:
        compared.append(rate["ratio"])
    worst = max(compared, default=None)
    ping = None
    ping_now = ((floor or {}).get(PING) or {}).get("median_ms")
    if ping_now and before.get("floor_ping_ms"):
        ping = {"median_ms": ping_now, "previous_median_ms": before["floor_ping_ms"]}
        ping["ratio"] = ping_now / before["floor_ping_ms"]
    return {
        "source": before.get("source"),
        "rows": rows,
        "rate": rate,
        "worst_ratio": worst,
        "floor_ping": ping,
    }


__all__ = ["BUILT_IN", "MIN_COMPARED_MS", "PING", "RENAMED", "compare", "figures"]
