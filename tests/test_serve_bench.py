"""``scripts/serve_bench.py`` as a smoke run: every server it starts answers, wrk and nginx
are driven, and the tables come out (the figures themselves are taken by hand, in one quiet
run, for BENCHMARKS.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.support import servers

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.real_only, pytest.mark.slow]


def test_the_benchmark_runs_small(tmp_path: Path) -> None:
    missing = [
        t
        for t in ("wrk", "nginx")
        if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()
    ]
    if servers.missing_binaries():
        missing += servers.missing_binaries()
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true but {', '.join(missing)} not installed")
        pytest.skip(f"{', '.join(missing)} not installed")
    out = tmp_path / "serve.json"
    run = subprocess.run(
        [
            sys.executable,
            "scripts/serve_bench.py",
            "--manifests",
            "8",
            "--duration",
            "1",
            "--connections",
            "4",
            "--workers",
            "1",
            "--misses",
            "2",
            "--affected-requests",
            "1",
            "--no-conformance",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| tier | 1 | 4 | mix | identity |" in run.stdout
    assert "affected_manifest, 1,000 vulnerabilities" in run.stdout
    result = json.loads(out.read_text())
    targets = {row["target"] for row in result["rows"]}
    assert targets == {"tier", "floor", "postgres", "nginx"}
    assert all(row["errors"] == 0 and row["rps"] > 0 for row in result["rows"]), result["rows"]
    assert result["affected_sources"] == ["tier"] and result["affected_same_answer"]
