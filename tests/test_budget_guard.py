"""The per-call regression guard CI runs: ``scripts/budget.py --guard`` on a real
redis-server, a few seconds. It fails when a call makes other round trips than it should,
or its ratio to a bare redis-py round trip of the same shape, taken in the same process,
regressed far past what the store measures (``benchmarks.budget.LIMITS``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import budget
from tests.conftest import IN_CI
from tests.support import servers

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.real_only


def test_the_guard_passes_on_this_checkout() -> None:
    missing = servers.missing_binaries()
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true but {', '.join(missing)} not installed")
        pytest.skip(f"{', '.join(missing)} not installed")
    run = subprocess.run(
        [sys.executable, "scripts/budget.py", "--guard"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "within their limits" in run.stderr
    assert "| layer_scanned (cache hit) | 0 |" in run.stdout


def test_the_guard_names_a_regression() -> None:
    """The check itself, on figures made up to regress: a lost shortcut (a hit that makes a
    round trip) and a call several times slower than its round trip."""
    rows = [
        {
            "kind": "hit",
            "call": "layer_scanned",
            "round_trips_max": 1,
            "ratio": 0.1,
            "shape": "PING",
        },
        {
            "kind": "read",
            "call": "manifest_scanned",
            "round_trips_max": 1,
            "ratio": 9.0,
            "shape": "PING",
        },
        {
            "kind": "read",
            "call": "layer_scanned",
            "round_trips_max": 1,
            "ratio": 1.3,
            "shape": "PING",
        },
    ]
    problems = budget.guard({"rows": rows})
    assert len(problems) == 2
    assert problems[0].startswith("layer_scanned (hit): 1 round trips, expected 0")
    assert problems[1].startswith("manifest_scanned (read): 9.00x")
