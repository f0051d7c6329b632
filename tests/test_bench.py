"""The benchmark harness end to end, on private PostgreSQL and Redis servers (N = 20), with
Redis as one server and as a Redis Cluster.

This is the baseline's correctness check: the PostgreSQL store built to claircore's schema
must answer ``index_report``, ``index_report_json``, ``packages_by_layer`` and
``affected_manifests`` exactly as the Redis store does (local cache on and off) for the same
workload, a repeated read must answer as the first did, the polling and staleness phases must
produce their figures (briefly: 0.3 s of polling per store, three staleness writes), and the
result files must be written. Timings are not asserted. Without the
``initdb``/``postgres``/``redis-server`` binaries (or without psycopg and matplotlib, the
``bench`` extra) the tests skip; with ``CI=true`` they must run.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import servers

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need(ok: bool, reason: str) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}: the benchmark smoke test must run")
        pytest.skip(reason)


def _require_everything() -> None:
    missing = servers.missing_binaries()
    _need(not missing, f"not installed: {', '.join(missing)}")
    for module in ("psycopg", "matplotlib"):
        _need(
            importlib.util.find_spec(module) is not None,
            f"{module} is not installed (pip install -e '.[bench]')",
        )


def _smoke_run(out: Path, **options: Any) -> dict[str, Any]:
    """A tiny benchmark run (N = 20): what CI can afford, answers compared, no timing asserted."""
    _require_everything()
    from benchmarks.harness import Options, run

    settings: dict[str, Any] = dict(
        manifests=20, seed=7, reads=20, batches=1, out=out, progress=False
    )
    return run(Options(**(settings | options)))


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    out = tmp_path_factory.mktemp("bench-results")
    options: dict[str, Any] = dict(
        vulnerabilities=200,
        batch_size=100,
        floor_calls=50,
        poll_seconds=0.3,
        poll_readers=(1,),
        staleness_writes=3,
    )
    yield _smoke_run(out, **options), out


@pytest.mark.slow
def test_postgres_store_answers_like_the_redis_store(
    bench_run: tuple[dict[str, Any], Path],
) -> None:
    doc, _ = bench_run
    checks = doc["checks"]
    assert checks["index_report_compared"] == 20
    assert checks["index_report_mismatches"] == 0, checks["index_report_mismatch_examples"]
    assert checks["postgres_vs_workload_report_mismatches"] == 0
    assert checks["packages_by_layer_compared"] > 0
    assert checks["packages_by_layer_mismatches"] == 0
    assert checks["affected_compared"] == 200
    assert checks["affected_mismatches"] == 0, checks["affected_mismatch_examples"]
    assert checks["affected_batch_equal"]
    assert checks["index_report_json_compared"] == 20
    assert checks["index_report_json_mismatches"] == 0
    nocache = checks["redis-nocache"]
    assert nocache["all_equal"] and nocache["index_report_compared"] == 20
    assert checks["repeat_mismatches"] == {"redis": 0, "redis-nocache": 0, "postgres": 0}
    assert checks["all_equal"]
    for name in ("redis", "redis-nocache", "postgres"):
        store = doc["stores"][name]
        # the sample hits manifests (not a vacuous comparison) and nothing was undecided
        assert store["affected"]["manifests_per_vulnerability"] > 0
        assert store["affected"]["batch_pairs"] > 0
        assert store["reads"]["manifest_scanned_true"] == 20
        assert store["reads"]["layer_scanned_true"] == 20
        assert store["delete"]["manifests"] == 2
        assert store["delete"]["unexpected_results"] == 0
        assert store["delete"]["verified_gone"] == store["delete"]["verified_of"]


@pytest.mark.slow
def test_results_are_written(bench_run: tuple[dict[str, Any], Path]) -> None:
    doc, out = bench_run
    for kind in ("json", "markdown", "chart"):
        path = Path(doc["files"][kind])
        assert path.parent == out
        assert path.stat().st_size > 0
    md = (out / "bench-n20.md").read_text()
    assert "| index_report (repeat) |" in md and "PG / Redis" in md
    assert "Where indexing time goes" in md and "Redis, cache off ms per manifest" in md
    assert (out / "latency-vs-n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = doc["meta"]
    assert meta["versions"]["redis_settings"]["appendfsync"] == "everysec"
    assert meta["versions"]["postgresql_settings"]["fsync"] == "on"
    assert meta["versions"]["postgresql_settings"]["synchronous_commit"] == "on"
    ops = doc["stores"]["redis"]["operations"]
    # round trips counted at the connection: one per read, none for a read the local cache
    # answers, two per AffectedManifests call
    assert ops["index_report (cold)"]["round_trips_median"] == 1
    assert ops["index_report (repeat)"]["round_trips_median"] == 0
    assert ops["layer_scanned (repeat)"]["round_trips_median"] == 0
    assert ops["affected_manifests_batch(100)"]["round_trips_median"] == 2
    off = doc["stores"]["redis-nocache"]["operations"]
    assert off["index_report (repeat)"]["round_trips_median"] == 1
    assert doc["stores"]["redis"]["cache"]["after_index"]["state"] == "live"
    assert doc["stores"]["redis-nocache"]["cache"]["at_end"]["state"] == "off"
    assert {t["target"] for t in doc["targets"]} >= {
        "affected_manifests (median)",
        "layer_scanned (repeat) (median)",
        "cross-process staleness, manifest_scanned (p99)",
    }


@pytest.mark.slow
def test_polling_and_staleness_phases(bench_run: tuple[dict[str, Any], Path]) -> None:
    doc, out = bench_run
    runs = doc["polling"]["runs"]
    assert [(r["store"], r["readers"]) for r in runs] == [("redis", 1), ("postgres", 1)]
    for r in runs:
        assert r["reads"] > 0 and r["reads_per_second"] > 0
        assert r["read"]["p50_ms"] > 0 and r["by_read"]["manifest_scanned"]["reads"] > 0
        assert r["indexer"]["manifests"] > 0 and r["indexer"]["manifests_per_second"] > 0
    assert runs[0]["cache"]["hits"] > 0
    for read in ("index_report_json", "manifest_scanned"):
        s = doc["staleness"][read]
        assert s["writes"] == 3 and 0 <= s["median_us"] <= s["p99_us"] <= s["max_us"]
    md = (out / "bench-n20.md").read_text()
    assert "indexer manifests/s" in md and "Cross-process staleness" in md


@pytest.fixture(scope="module")
def postgres() -> Iterator[servers.PostgresServer]:
    _need(servers.postgres_bindir() is not None, "initdb/postgres are not installed")
    _need(importlib.util.find_spec("psycopg") is not None, "psycopg is not installed")
    server = servers.start_postgres()
    yield server
    server.stop()


@pytest.mark.slow
def test_postgres_delete_skips_locked_manifests_and_frees_unused_layers(
    postgres: servers.PostgresServer,
) -> None:
    from benchmarks.postgres import PostgresStore, fnv1a64
    from redis_store import Layer, Manifest

    store = PostgresStore(postgres.dsn)
    store.drop_schema()
    store.create_schema()
    base = "sha256:" + "0" * 64
    digests = [f"sha256:{i:064x}" for i in range(1, 4)]
    for i, d in enumerate(digests):
        own = f"sha256:{i + 100:064x}"
        store.persist_manifest(Manifest(hash=d, layers=[Layer(hash=base), Layer(hash=own)]))
    with store.manifest_lock(digests[2]):
        assert store.delete_manifests(*digests, "sha256:" + "f" * 64) == digests[:2]
    layers = {r[0] for r in store.conn.execute("SELECT hash FROM layer")}
    assert layers == {base, f"sha256:{102:064x}"}
    assert store.delete_manifests(digests[2]) == [digests[2]]
    assert store.conn.execute("SELECT count(*) FROM layer").fetchone() == (0,)
    assert fnv1a64("") == 0xCBF29CE484222325 - (1 << 64)
    store.close()


@pytest.fixture(scope="module")
def cluster_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], Path]]:
    out = tmp_path_factory.mktemp("bench-cluster")
    options: dict[str, Any] = dict(
        vulnerabilities=100,
        batch_size=50,
        floor_calls=20,
        chart=False,
        # the cache-off store, polling and staleness are covered on one server above
        stores=("redis", "postgres"),
        poll_seconds=0,
        staleness_writes=0,
    )
    yield _smoke_run(out, redis_topology="cluster", **options), out


@pytest.mark.slow
def test_cluster_run_answers_alike_and_reports_each_primary(
    cluster_run: tuple[dict[str, Any], Path],
) -> None:
    """``--redis-topology cluster``: the Redis store on a private 3-primary cluster."""
    doc, out = cluster_run
    assert doc["meta"]["redis_topology"] == "cluster" and doc["meta"]["cluster_masters"] == 3
    assert doc["checks"]["all_equal"], doc["checks"]
    redis = doc["stores"]["redis"]
    assert redis["index"]["manifests_per_second"] > 0
    assert redis["operations"]["index_report (cold)"]["median_ms"] > 0
    assert redis["delete"]["verified_gone"] == redis["delete"]["verified_of"]
    memory = redis["memory"]
    nodes = memory["primaries"]
    assert len(nodes) == 3
    assert all(m["keys"] > 0 and m["memory_usage_bytes"] > 0 for m in nodes.values())
    assert sum(m["keys"] for m in nodes.values()) == memory["keys"]
    assert sum(m["info_delta_bytes"] for m in nodes.values()) == memory["info_delta_bytes"]
    assert doc["meta"]["versions"]["redis_settings"]["appendfsync"] == "everysec"
    md = (out / "bench-n20-cluster.md").read_text()
    assert "on a Redis Cluster of 3 primaries" in md
    assert md.count("| 127.0.0.1:") == 3  # one memory row per primary
