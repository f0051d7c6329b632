"""``redis-store demo``, run in-process on fakeredis and against a real redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from redis_store.cli import main
from tests.support.servers import free_port

STEPS = {
    "generate",
    "clear earlier run",
    "index (replay)",
    "index_report",
    "manifest_scanned",
    "packages_by_layer",
    "delete_manifests (10%)",
}
STATES = {"FetchLayers", "ScanLayers", "Coalesce", "IndexManifest", "IndexFinished"}


@pytest.fixture(autouse=True)
def no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo honours $REDIS_URL: these tests mean the in-process store without it."""
    monkeypatch.delenv("REDIS_URL", raising=False)


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["demo", "--json", *argv]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, dict)
    return out


def test_demo_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--manifests", "20"]) == 0
    cap = capsys.readouterr()
    assert cap.err == ""  # no progress line when stderr is not a terminal
    assert "20 manifests (seed 0) into fakeredis" in cap.out
    assert "(2 deleted, 18 remain)" in cap.out
    for step in STEPS | STATES:
        assert step in cap.out


def test_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_json(capsys, "--manifests", "20", "--seed", "4", "--namespace", "j")
    assert out["namespace"] == "j" and out["seed"] == 4
    st = out["stored"]
    assert st["manifests"] == 20 and st["deleted"] == 2 and st["remaining"] == 18
    assert st["cleared_from_earlier_run"] == 0
    assert st["distinct_layers"] > st["shared_layers"] > 0
    assert st["packages_in_reports"] > st["distinct_packages"] > 0
    assert st["package_artifacts"] > 0 and st["index_records"] > 0
    assert st["redis_keys_after_delete"] > 0
    assert set(out["timings"]) == STEPS
    assert set(out["controller_states"]) == STATES
    assert out["timings"]["index (replay)"]["count"] == 20
    assert out["timings"]["delete_manifests (10%)"]["count"] == 2
    assert all(s["count"] == 20 for s in out["controller_states"].values())


def test_demo_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    a = _run_json(capsys, "--manifests", "10", "--seed", "9")["stored"]
    b = _run_json(capsys, "--manifests", "10", "--seed", "9")["stored"]
    assert a == b  # each in-process run gets its own fakeredis


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["demo", "--manifests", "0"],
        ["demo", "--manifests", "x"],
        ["demo", "--bad"],
        ["demo", "--namespace", ""],
        ["demo", "--namespace", "a{b}"],
    ],
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--help"]) == 0
    assert "--manifests" in capsys.readouterr().out


def test_without_fakeredis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "fakeredis", None)  # makes "import fakeredis" fail
    assert main(["demo", "--manifests", "3"]) == 1
    err = capsys.readouterr().err
    assert "redis-store[fake]" in err and "--url" in err


def test_unreachable_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert main(["demo", "--manifests", "3", "--url", url]) == 1
    assert "cannot reach Redis" in capsys.readouterr().err


def test_bad_url_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--manifests", "3", "--url", "http://user:secret@host/0"]) == 2
    err = capsys.readouterr().err
    assert "bad --url" in err and "secret" not in err


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "redis_store", "demo", "--manifests", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "3 manifests" in done.stdout


@pytest.mark.parametrize("servers", ["redis_server", "redis_cluster"])
def test_demo_real_server(
    servers: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a server (``redis://``) and a cluster (``redis+cluster://``, memory summed over the
    primaries)."""
    server = request.getfixturevalue(servers)
    ns = "cli-demo-test"
    first = _run_json(capsys, "--manifests", "20", "--url", server.url, "--namespace", ns)
    assert first["backend"] == server.url
    st = first["stored"]
    assert st["manifests"] == 20 and st["deleted"] == 2
    assert st["server_used_memory"] > 0
    # A second run over the same namespace first removes what the first one left.
    second = _run_json(capsys, "--manifests", "20", "--url", server.url, "--namespace", ns)
    assert second["stored"]["cleared_from_earlier_run"] == 18
    assert second["stored"]["redis_keys_after_delete"] == st["redis_keys_after_delete"]
    assert main(["demo", "--manifests", "20", "--url", server.url, "--namespace", ns]) == 0
    assert f"into {server.url}," in capsys.readouterr().out
