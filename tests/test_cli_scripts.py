"""``scripts/nightly_cleanup.py``, run in-process as its docstring says to run it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from redis_store import RedisStore, ops
from redis_store.keys import KeyLayout
from tests.test_cli_helpers import assert_consistent, populate, reports
from tests.test_cli_operators import env

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "nightly_cleanup.py"
K = KeyLayout("claircore")


@pytest.fixture(scope="module")
def nightly() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nightly_cleanup", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store(backend: Any) -> RedisStore:
    s = RedisStore(backend.client(), namespace="claircore")
    digests = populate(s, reports(6, seed=8))
    for d in digests[:2]:  # two manifests last used long ago
        s.client.hset(K.manifest(d), "used", 1000)
    return s


def test_nightly_cleanup(
    nightly: ModuleType, store: RedisStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert nightly.main(["--older-than-days", "30", "--dry-run"], store=store) == 0
    out = capsys.readouterr().out
    assert out.startswith("expire: would delete 2 manifests, 0 locked (skipped), 0 never used")
    assert len(list(ops.manifests(store))) == 6
    assert nightly.main(["--older-than-days", "30"], store=store) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("expire: delete 2 manifests")
    assert lines[1].startswith("gc:     reclaim 0 items")
    assert lines[2].startswith("fsck:   0 violations")
    assert len(list(ops.manifests(store))) == 4
    assert_consistent(store)


def test_nightly_cleanup_reports_violations(
    nightly: ModuleType, store: RedisStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.client.set("claircore:{junk}", "x")
    assert nightly.main(["--json"], store=store) == 1
    out = json.loads(capsys.readouterr().out)
    assert [v["kind"] for v in out["fsck"]["violations"]] == ["unknown-key"]
    assert len(out["expire"]["expired"]) == 2 and out["gc"]["dry_run"] is False


def test_nightly_cleanup_usage(nightly: ModuleType) -> None:
    assert nightly.main(["--older-than-days", "0"]) == 2
    assert nightly.main(["--bogus"]) == 2


def test_nightly_cleanup_help_is_the_docstring() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=env(),  # this checkout's package, installed or not
    )
    assert done.returncode == 0 and "expire, then gc, then fsck" in done.stdout
