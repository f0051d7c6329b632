"""``redis-store import``: files, directories, stdin; idempotence; bad input; Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ResponseError

from redis_store import ImportOutcome, IndexReport, RedisStore, ops
from redis_store.store.calls import ScriptCall
from tests.support.servers import RedisServer, start_redis
from tests.test_cli_helpers import (
    INTERRUPTED_STEP,
    SHARED_REPORTS,
    Cli,
    assert_consistent,
    interrupt_at,
    make_cli,
    needs_shared,
    populate,
    reports,
    write_reports,
)
from tests.test_cli_operators import env


@pytest.fixture
def cli(backend: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(backend, monkeypatch, capsys)


def _contents(r: IndexReport) -> set[tuple[str, ...]]:
    """What a report says, without the IDs a store assigns."""
    return {
        (
            rec.package.name if rec.package else "",
            rec.package.version if rec.package else "",
            rec.distribution.name if rec.distribution else "",
            rec.repository.name if rec.repository else "",
        )
        for rec in r.index_records()
    }


def test_import_directory(cli: Cli, tmp_path: Path) -> None:
    rs = reports(12)
    write_reports(tmp_path, rs)
    (tmp_path / "notes.txt").write_text("not a report, not *.json: skipped, and said so")
    run = cli("import", str(tmp_path))
    assert run.code == 0, run.err
    assert run.out.startswith("imported 12, skipped 0 (already indexed), failed 0 in ")
    assert "imported/s" in run.out
    assert run.err == (
        "redis-store import: skipped 1 entry that is not a *.json, *.jsonl or *.ndjson file:"
        " notes.txt\n"
    )
    store = cli.store()
    for r in rs:
        got = store.index_report(str(r.hash))
        assert got is not None and got.state == "IndexFinished" and got.success
        assert _contents(got) == _contents(r)
    assert_consistent(store)


def test_import_is_idempotent_and_force_reimports(cli: Cli, tmp_path: Path) -> None:
    rs = reports(6)
    write_reports(tmp_path, rs)
    assert cli("import", str(tmp_path)).code == 0
    before = {r.hash: cli.store().index_report(str(r.hash)) for r in rs}
    again = cli("import", str(tmp_path), "--json")
    assert again.code == 0
    out = again.json()
    assert (out["imported"], out["skipped"], out["failed"]) == (0, 6, 0)
    assert sorted(out["digests"]["skipped"]) == sorted(str(r.hash) for r in rs)
    forced = cli("import", str(tmp_path), "--force", "--json").json()
    assert (forced["imported"], forced["skipped"], forced["replaced"]) == (0, 0, 6)
    store = cli.store()
    for r in rs:
        got = store.index_report(str(r.hash))
        assert got is not None and _contents(got) == _contents(before[r.hash])  # type: ignore[arg-type]
    assert_consistent(store)


@needs_shared
def test_import_real_claircore_reports(cli: Cli, tmp_path: Path) -> None:
    for path in SHARED_REPORTS:
        shutil.copy(path, tmp_path / path.name)
    out = cli("import", str(tmp_path), "--json").json()
    assert out["imported"] == len(SHARED_REPORTS) and out["failed"] == 0
    store = cli.store()
    for path in SHARED_REPORTS:
        orig = IndexReport.from_json(path.read_bytes())
        got = store.index_report(str(orig.hash))
        assert got is not None and got.state == "IndexFinished"
        assert _contents(got) == _contents(orig), path.name
        assert len(got.packages or {}) == len(orig.packages or {})
    assert_consistent(store)
    # one file named on its own is enough too, and is skipped now
    run = cli("import", str(tmp_path / SHARED_REPORTS[0].name))
    assert run.code == 0 and "skipped 1" in run.out


@needs_shared
def test_importing_claircores_reports_again_changes_nothing(cli: Cli) -> None:
    """A second import of claircore's own reports is unchanged, also after ``--force`` (a
    report whose packages have no source, or whose state is "", reads back the same)."""
    files = [str(p) for p in SHARED_REPORTS]
    assert cli("import", *files, "--json").json()["imported"] == len(files)
    again = cli("import", *files, "--json")
    assert again.code == 0, again.err
    assert (again.json()["skipped"], again.json()["conflicts"]) == (len(files), 0)
    forced = cli("import", *files, "--force", "--json")
    assert forced.code == 0 and forced.json()["replaced"] == len(files)
    after = cli("import", *files, "--json")
    assert after.code == 0 and (after.json()["skipped"], after.json()["conflicts"]) == (
        len(files),
        0,
    )
    assert_consistent(cli.store())


@pytest.mark.real_only
def test_a_full_redis_stops_the_import_with_one_line(tmp_path: Path) -> None:
    """Redis out of memory (noeviction): the import stops at the first write refused, says so
    once, and exits 1; what it imported before is whole."""
    server = start_redis("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    try:
        write_reports(tmp_path, reports(300))
        proc = subprocess.run(
            [sys.executable, "-m", "redis_store", "import", str(tmp_path), "--json"],
            capture_output=True,
            text=True,
            env=env(server.url),
            timeout=300,
        )
        assert proc.returncode == 1, proc.stderr
        out = json.loads(proc.stdout)
        assert 0 < out["imported"] < 300 and out["failed"] == 0
        errors = [line for line in proc.stderr.splitlines() if "memory" in line]
        assert len(errors) == 1 and "out of memory" in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr
        with RedisStore(server.client(), namespace="claircore") as store:
            assert len(list(ops.manifests(store))) == out["imported"]
            assert ops.check(store) == []
    finally:
        server.stop()


def test_bad_files_are_named_and_skipped(cli: Cli, tmp_path: Path) -> None:
    good = reports(3)
    write_reports(tmp_path, good)
    (tmp_path / "broken.json").write_text('{"manifest_hash": "sha256:')
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "array.json").write_text("[]")
    unfinished = reports(4)[3]
    unfinished.success, unfinished.state, unfinished.err = False, "IndexError", "fetch failed"
    (tmp_path / "unfinished.json").write_bytes(unfinished.to_json())
    nameless = reports(5)[4]
    next(iter((nameless.packages or {}).values())).name = ""
    (tmp_path / "nameless.json").write_bytes(nameless.to_json())
    bad_digest = json.loads(reports(1)[0].to_json())
    bad_digest["manifest_hash"] = "sha256:nothex"
    (tmp_path / "bad-digest.json").write_text(json.dumps(bad_digest))
    run = cli("import", str(tmp_path), "--json")
    assert run.code == 1
    out = run.json()
    assert out["imported"] == 3 and out["failed"] == 6
    failures = {Path(f["source"]).name: f["error"] for f in out["failures"]}
    assert set(failures) == {
        "broken.json",
        "empty.json",
        "array.json",
        "unfinished.json",
        "nameless.json",
        "bad-digest.json",
    }
    assert "not JSON" in failures["broken.json"]
    assert "not a finished index report" in failures["unfinished.json"]
    assert "fetch failed" in failures["unfinished.json"]
    assert "without a name" in failures["nameless.json"]
    for name in failures:  # each also named on stderr as it happens
        assert name in run.err
    store = cli.store()
    assert sorted(d for _, d in ops.manifests(store)) == sorted(str(r.hash) for r in good)
    assert_consistent(store)


def test_missing_paths_and_empty_directories_import_nothing(cli: Cli, tmp_path: Path) -> None:
    """Every path is checked before anything is imported: usage errors, exit 2."""
    write_reports(tmp_path / "full", reports(2))
    run = cli("import", str(tmp_path / "full"), str(tmp_path / "nope.json"))
    assert run.code == 2
    assert run.err.endswith("nope.json: no such file or directory\n") and run.out == ""
    (tmp_path / "empty").mkdir()
    run = cli("import", str(tmp_path / "empty"))
    assert run.code == 2 and "empty: no report files in it" in run.err
    assert list(ops.manifests(cli.store())) == []


def test_stdin_json_lines(cli: Cli) -> None:
    rs = reports(4)
    lines = [r.to_json() for r in rs[:2]] + [b"", b"{oops"] + [r.to_json() for r in rs[2:]]
    run = cli("import", "-", "--json", stdin=b"\n".join(lines) + b"\n")
    assert run.code == 1
    out = run.json()
    assert out["imported"] == 4 and out["failed"] == 1
    assert out["failures"][0]["source"] == "<stdin>:4"
    assert_consistent(cli.store())


def test_a_failing_import_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    """Redis refuses one report's write: that report fails by name, nothing of it is
    stored, and the others are imported."""
    rs = reports(3)
    write_reports(tmp_path, rs)
    victim = sorted(str(r.hash) for r in rs)[1]  # files import in name order

    def hook(store: RedisStore) -> None:
        send_calls = store._send_calls

        def refusing(calls: list[Any]) -> list[Any]:
            if any(  # one server: the one script; a cluster: its last step (then undone)
                isinstance(c, ScriptCall)
                and c.name in ("import_report", "cluster/import_manifest")
                and any(victim in key for key in c.keys)
                for c in calls
            ):
                return [
                    ResponseError("ERR injected failure")
                    if isinstance(c, ScriptCall) and c.name != "cluster/release_entities"
                    else send_calls([c])[0]
                    for c in calls
                ]
            return send_calls(calls)

        store._send_calls = refusing  # type: ignore[method-assign]

    cli.on_connect(hook)
    run = cli("import", str(tmp_path), "--json")
    assert run.code == 1
    out = run.json()
    assert out["imported"] == 2 and "injected failure" in out["failures"][0]["error"]
    store = cli.store()
    assert victim not in {d for _, d in ops.manifests(store)}
    assert_consistent(store)


def test_locked_manifest_fails_after_the_timeout(cli: Cli, tmp_path: Path) -> None:
    rs = reports(2)
    write_reports(tmp_path, rs)
    other = cli.store()
    with other.manifest_lock(str(rs[0].hash)):
        run = cli("import", str(tmp_path), "--lock-timeout", "0.2", "--json")
    assert run.code == 1
    out = run.json()
    assert out["imported"] == 1 and out["failed"] == 1
    assert "lock" in out["failures"][0]["error"].lower()


@pytest.mark.single_node(reason=INTERRUPTED_STEP)
@pytest.mark.parametrize("batch", [1, 4, 9])
@pytest.mark.parametrize("after", [False, True], ids=["before-call", "after-call"])
def test_ctrl_c_during_import(cli: Cli, tmp_path: Path, batch: int, after: bool) -> None:
    rs = reports(8)
    write_reports(tmp_path, rs)
    interrupt_at(cli, batch, after=after)
    run = cli("import", str(tmp_path))
    assert run.code == 130
    assert "interrupted" in run.err
    assert run.out.startswith("imported ")
    done = int(run.out.split()[1].rstrip(","))
    store = cli.store()
    assert len(list(ops.manifests(store))) == done < len(rs)
    assert_consistent(store)
    cli._hooks.clear()
    rest = cli("import", str(tmp_path), "--json").json()  # carries on where it stopped
    assert (rest["imported"], rest["skipped"]) == (len(rs) - done, done)
    assert_consistent(store)


def test_real_sigint_finishes_the_current_report(cli: Cli, tmp_path: Path) -> None:
    """SIGINT in the middle of the third report: it is finished, the fourth never starts."""
    rs = reports(6)
    write_reports(tmp_path, rs)
    calls = 0

    def hook(store: RedisStore) -> None:
        import_report = store.import_report

        def signalled(report: IndexReport, **kwargs: Any) -> ImportOutcome:
            nonlocal calls
            calls += 1
            if calls == 3:
                os.kill(os.getpid(), signal.SIGINT)
            return import_report(report, **kwargs)

        store.import_report = signalled  # type: ignore[method-assign]

    cli.on_connect(hook)
    run = cli("import", str(tmp_path), "--json")
    assert run.code == 130
    out = run.json()
    assert out["interrupted"] is True and out["imported"] == 3
    store = cli.store()
    assert sorted(d for _, d in ops.manifests(store)) == sorted(out["digests"]["imported"])
    assert_consistent(store)


@pytest.mark.real_only
def test_sigint_during_import_subprocess(redis_server: RedisServer, tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT) at whatever point the importer has reached."""
    redis_server.client().flushall()
    write_reports(tmp_path, reports(150))
    store = RedisStore(redis_server.client(), namespace="cli")
    proc = subprocess.Popen(
        [sys.executable, "-m", "redis_store", "import", str(tmp_path), "--namespace", "cli"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REDIS_URL": redis_server.url},
    )
    deadline = time.monotonic() + 60
    while store.client.hlen(store.keys.manifests) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    done = int(out.split()[1].rstrip(","))
    assert 4 <= done < 150  # the fifth may have been the one rolled back
    assert len(list(ops.manifests(store))) == done
    assert_consistent(store)


def test_usage_errors(cli: Cli) -> None:
    assert cli("import").code == 2
    assert cli("import", "x.json", "--lock-timeout", "soon").code == 2


def test_import_then_library_agrees(cli: Cli, tmp_path: Path) -> None:
    """What import writes is what replay writes: same contents, reading back the same."""
    rs = reports(5, seed=11)
    write_reports(tmp_path, rs)
    assert cli("import", str(tmp_path)).code == 0
    lib = cli.store("lib")  # files import in name order; JSON sorts map keys as Go does
    populate(
        lib, [IndexReport.from_json(r.to_json()) for r in sorted(rs, key=lambda r: r.hash or "")]
    )
    for r in rs:
        a, b = cli.store().index_report(str(r.hash)), lib.index_report(str(r.hash))
        assert a is not None and b is not None
        assert a.to_json() == b.to_json()  # same calls, same IDs


def test_json_lines_file(cli: Cli, tmp_path: Path) -> None:
    rs = reports(3)
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(r.to_json() for r in rs) + b"\nnot json\n")
    out = cli("import", str(path), "--json").json()
    assert out["imported"] == 3 and out["failed"] == 1
    assert out["failures"][0]["source"] == f"{path}:4"
    assert cli("import", str(tmp_path / "gone.jsonl")).code == 2
    assert_consistent(cli.store())
