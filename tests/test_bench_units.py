"""The benchmark's pure parts: key families, ID-free report comparison, timing, targets,
Markdown, and the error a missing server binary gives. No server needed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from benchmarks import previous, report
from benchmarks.harness import canonical_report, redis_family
from benchmarks.timing import OpSamples, Recorder, Timed, percentile
from redis_store.demo import workload
from redis_store.models import IndexReport
from tests.support import servers


def test_redis_family() -> None:
    ns = "bench"
    assert redis_family("bench:{m:sha256:ab}:report", ns) == "manifest:report"
    assert redis_family("bench:{m:sha256:ab}", ns) == "manifest"
    assert redis_family("bench:{g}:pkg:ids", ns) == "global:pkg:ids"
    assert redis_family("bench:{l:sha256:cd}:pkg", ns) == "layer:pkg"
    assert redis_family("bench:{n:gzip}", ns) == "name:records"
    assert redis_family("bench:{n:gzip}:7:1:0:0", ns) == "name:bucket"
    assert redis_family("bench:odd", ns) == "other"


def _renumber(r: IndexReport, offset: int) -> IndexReport:
    """The same report with every ID shifted, as another store would number it."""

    def new(i: str) -> str:
        return str(int(i) + offset) if i else i

    packages = {}
    for p in (r.packages or {}).values():
        src = p.source
        if src is not None:
            src = replace(src, id=new(src.id))
        packages[new(p.id)] = replace(p, id=new(p.id), source=src)
    envs = {
        new(pid): [
            replace(
                e,
                distribution_id=new(e.distribution_id),
                repository_ids=None
                if e.repository_ids is None
                else [new(x) for x in e.repository_ids],
            )
            for e in es
        ]
        for pid, es in (r.environments or {}).items()
    }
    return replace(
        r,
        packages=packages,
        environments=envs,
        distributions={new(k): replace(d, id=new(k)) for k, d in (r.distributions or {}).items()},
        repositories={new(k): replace(x, id=new(k)) for k, x in (r.repositories or {}).items()},
    )


def test_canonical_report_ignores_ids_but_not_content() -> None:
    r = next(iter(workload.generate(3, seed=1)))
    same = _renumber(r, 1000)
    assert canonical_report(same) == canonical_report(r)
    pid = next(iter(r.packages or {}))
    assert r.packages is not None
    changed = replace(r, packages={**r.packages, pid: replace(r.packages[pid], version="0-x")})
    assert canonical_report(changed) != canonical_report(r)
    assert canonical_report(None) == "none"


def test_timing_proxy_and_summaries() -> None:
    class Store:
        def ping(self, x: int) -> int:
            return x + 1

        value = 3

    rec = Recorder(None)
    t: Any = Timed(Store(), rec, "index.")
    assert t.ping(1) == 2 and t.ping(2) == 3
    assert t.value == 3
    s = rec.ops["index.ping"].summary()
    assert s["calls"] == 2 and s["median_ms"] >= 0 and "round_trips_median" not in s
    assert OpSamples().summary() == {"calls": 0}
    assert percentile([1.0], 99) == 1.0
    assert percentile([float(i) for i in range(1, 101)], 99) == pytest.approx(99.01)


_OPS = (
    "end_to_end",
    *(f"{op} ({r})" for op in ("index_report", "index_report_json") for r in ("cold", "repeat")),
    "index_report (cold, decoded)",
    "index_report (repeat, decoded)",
    *(
        f"{op} ({r})"
        for op in ("manifest_scanned", "layer_scanned", "packages_by_layer")
        for r in ("cold", "repeat")
    ),
    "affected_manifests",
    "affected_manifests_batch(1000)",
    "delete_manifests",
    "index.set_index_report",
)


def _doc(redis_ms: float, pg_ms: float, nocache_ms: float | None = None) -> dict[str, Any]:
    def ops(ms: float) -> dict[str, Any]:
        one = {
            "calls": 10,
            "median_ms": ms,
            "p99_ms": ms * 2,
            "throughput_per_s": 1e3 / ms,
            "total_s": ms / 100,
            "round_trips_median": 1,
            "round_trips_total": 10,
        }
        return {name: dict(one) for name in _OPS}

    def store(ms: float, rate: float) -> dict[str, Any]:
        return {
            "index": {
                "manifests_per_second": rate,
                "manifests_per_second_without_register_scanners": rate,
            },
            "operations": ops(ms),
            "reads": {},
            "memory": {
                "info_delta_per_manifest": 1000.0,
                "memory_usage_per_manifest": 900.0,
                "families": {"manifest:report": {"per_manifest": 500.0}},
            },
            "storage": {
                "per_manifest": 4000.0,
                "per_manifest_before_vacuum": 5000.0,
                "tables": {"manifest_index": {"per_manifest": 3000.0}},
            },
        }

    r, p = store(redis_ms, 100.0), store(pg_ms, 10.0)
    del r["storage"], p["memory"]
    stores = {"redis": r, "postgres": p}
    if nocache_ms is not None:
        stores["redis-nocache"] = store(nocache_ms, 50.0)
        del stores["redis-nocache"]["storage"]
    return {
        "meta": {"manifests": 100, "seed": 0, "stores": list(stores), "started": "x"},
        "stores": stores,
        "floor": {
            "floor: GET + orjson.loads (report JSON)": {
                "calls": 10,
                "median_ms": redis_ms,
                "p99_ms": redis_ms,
                "throughput_per_s": 1.0,
            }
        },
        "checks": {},
    }


def test_targets_and_markdown() -> None:
    doc = _doc(redis_ms=0.1, pg_ms=5.0)
    doc["staleness"] = {
        "index_report_json": {"writes": 10, "median_us": 200.0, "p99_us": 900.0, "max_us": 990.0},
        "manifest_scanned": {"writes": 10, "median_us": 300.0, "p99_us": 1500.0, "max_us": 2e3},
    }
    doc["targets"] = report.targets(doc)
    met = {t["target"]: t["met"] for t in doc["targets"]}
    assert met["end-to-end indexing (manifests/s)"] is True  # 10x
    assert met["index_report (repeat) (median)"] is True  # 50x
    assert met["layer_scanned (repeat) (median)"] is True
    assert met["index_report (repeat, every field decoded) (median)"] is None  # shown only
    assert met["cross-process staleness, index_report_json (p99)"] is True  # 0.9 ms
    assert met["cross-process staleness, manifest_scanned (p99)"] is False  # 1.5 ms
    assert met["Redis memory per manifest / PostgreSQL bytes per manifest"] is True  # 0.25
    assert "cache off: no median slower than the previous round's" not in met  # no such store
    md = report.markdown(doc)
    assert "| index_report (repeat) | 10 | 100 µs | 200 µs | 1 | 5.00 ms | 10.0 ms | 50.0x |" in md
    assert "set_index_report (while indexing)" in md
    assert "| manifest_scanned | 10 | 300 µs | 1.50 ms | 2.00 ms |" in md
    slow = _doc(redis_ms=5.0, pg_ms=5.0)
    ratios = [t for t in report.targets(slow) if t["required"].startswith(">=")]
    assert [t["met"] for t in ratios if "manifests/s" not in t["target"]] == [False] * 8


def test_three_stores_and_the_previous_round() -> None:
    doc = _doc(redis_ms=0.1, pg_ms=5.0, nocache_ms=1.0)
    before = {
        "source": "test",
        "manifests_per_second": 40.0,
        "floor_ping_ms": 0.05,
        "medians_ms": {"index_report": 0.5},
    }
    floor = {"floor: PING": {"calls": 10, "median_ms": 0.1}}
    doc["cache_off_vs_previous"] = previous.compare(doc["stores"]["redis-nocache"], before, floor)
    prev = doc["cache_off_vs_previous"]
    # index_report (cold, decoded) is compared with the previous index_report: 2x slower;
    # manifests/s 50 against 40 is faster (ratio before / now below 1)
    (row,) = prev["rows"]
    assert row["operation"] == "index_report (cold, decoded)" and row["ratio"] == 2.0
    assert prev["rate"]["ratio"] == pytest.approx(0.8) and prev["worst_ratio"] == 2.0
    doc["targets"] = report.targets(doc)
    met = {t["target"]: t["met"] for t in doc["targets"]}
    assert met["cache off: no median slower than the previous round's"] is False
    md = report.markdown(doc)
    assert "Redis, cache off median" in md and "PG / Redis, cache off" in md
    assert "| index_report (cold, decoded) | 1.00 ms | 500 µs | 2.0x |" in md
    assert "Redis, cache off round trips per manifest" in md
    assert prev["floor_ping"]["ratio"] == 2.0  # the machine's round trips, shown beside
    assert "| floor: PING (the machine's round trip, not the store) | 100 µs | 50 µs | 2.0x |" in md
    assert previous.figures("single", 10000) is not None
    assert previous.figures("single", 123) is None


def test_polling_table() -> None:
    doc = _doc(redis_ms=0.1, pg_ms=5.0)
    lat = {"reads": 4, "p50_ms": 0.02, "p99_ms": 0.5, "max_ms": 1.0}
    doc["polling"] = {
        "seconds": 1.0,
        "decode": False,
        "runs": [
            {
                "store": "redis",
                "readers": 2,
                "reads": 8,
                "reads_per_second": 20000.0,
                "read": lat,
                "by_read": {"index_report": lat, "manifest_scanned": lat},
                "cache": {"hits": 9, "misses": 1, "hit_ratio": 0.9},
                "indexer": {"manifests": 5, "manifests_per_second": 50.0, "exhausted": False},
            }
        ],
    }
    md = report.markdown(doc)
    assert "| Redis | 2 | 20,000 | 20 µs | 500 µs | 20 µs / 500 µs | 20 µs / 500 µs |" in md
    assert "| 90.0% | 50.0 |" in md


def test_missing_binaries_give_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "postgres_bindir", lambda: None)
    monkeypatch.setattr(servers, "redis_server_binary", lambda: None)
    assert servers.missing_binaries() == ["postgresql", "redis-server"]
    with pytest.raises(servers.ServerError) as e:
        servers.require_binaries()
    text = str(e.value)
    assert "initdb/postgres" in text and "redis-server" in text
    assert "apt-get install -y postgresql redis-server" in text and "--install" in text
