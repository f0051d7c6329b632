"""The command line as operators run it: ``python -m redis_store`` in a subprocess, on a
real redis-server (and, for misconfigurations, on what is not one), exactly as from a shell.

Each test is one item of what an operator expects from a well-kept Unix tool: --version,
log levels, $REDIS_URL, list, delete --all, the import formats, conflicts, affected,
exit statuses, closed pipes, SIGTERM, asking before deleting everything, misconfigurations
in one line, --metrics-file.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import pty
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from redis_store import (
    Distribution,
    IndexReport,
    Package,
    RedisStore,
    Vulnerability,
    cli,
    ops,
    replay,
)
from redis_store.demo import workload
from redis_store.version import __version__
from tests.support import records
from tests.support.servers import (
    PostgresServer,
    RedisServer,
    free_port,
    postgres_bindir,
    start_postgres,
    start_redis,
)
from tests.test_cli_helpers import Run, assert_consistent

ROOT = Path(__file__).resolve().parents[1]
NS = "ops"
DEBIAN = Distribution(
    did="debian",
    name="Debian GNU/Linux",
    version="10 (buster)",
    version_id="10",
    pretty_name="Debian GNU/Linux 10 (buster)",
)


def env(url: str | None = None, **extra: str) -> dict[str, str]:
    """The subprocess environment: this checkout first on the path, $REDIS_URL as given."""
    out = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    if url is not None:
        out["REDIS_URL"] = url
    out.update(extra)
    return out


def redis_store(
    *argv: str, url: str | None = None, stdin: bytes | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m redis_store ARGV`` with REDIS_URL=url, in namespace ``ops`` unless told."""
    args = list(argv)
    if "--namespace" not in args and argv and argv[0] not in ("--version",):
        args += ["--namespace", NS]
    return subprocess.run(
        [sys.executable, "-m", "redis_store", *args],
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        env=env(url),
        timeout=120,
        check=False,
        **kw,
    )


def on_a_terminal(*argv: str, url: str, answer: bytes) -> tuple[int, str, str]:
    """Run with stdin a terminal (a pseudo-terminal) on which ``answer`` is typed."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "redis_store", *argv, "--namespace", NS],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(url),
        )
        os.close(slave)
        slave = -1
        os.write(master, answer)  # held by the terminal until the prompt reads it
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    redis_server.flush()
    return redis_server


@pytest.fixture
def store(server: RedisServer) -> Iterator[RedisStore]:
    s = RedisStore(server.client(), namespace=NS)
    yield s
    s.close()


Main = Callable[..., Run]


@pytest.fixture
def main(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Main:
    """The same command in this process (``redis_store.cli.main``), for the variants of a
    case a subprocess has shown: the same code, without a second's start-up each."""
    monkeypatch.setenv("REDIS_URL", server.url)

    def run(*argv: str, stdin: bytes | None = None) -> Run:
        args = [*argv, "--namespace", NS]
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        capsys.readouterr()
        code = cli.main(args)
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return run


def populate(store: RedisStore, n: int, seed: int = 3) -> list[IndexReport]:
    reports = list(workload.generate(n, seed))
    for r in reports:
        replay.replay(store, r)
    return reports


def present(store: RedisStore) -> set[str]:
    return {d for _, d in ops.manifests(store)}


def one_line_error(run: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


# -- --version, log levels, $REDIS_URL ------------------------------------------------------------


def test_version() -> None:
    run = redis_store("--version")
    assert run.returncode == 0 and run.stdout == f"redis-store {__version__}\n"


def test_log_levels_and_quiet(
    server: RedisServer, store: RedisStore, tmp_path: Path, main: Main
) -> None:
    (tmp_path / "notes.txt").write_text("not a report")
    for r in workload.generate(1, 4):
        (tmp_path / "r.json").write_bytes(r.to_json())
    loud = main("import", str(tmp_path))
    assert loud.code == 0 and "skipped 1 entry" in loud.err  # a note
    quiet = redis_store("-q", "import", str(tmp_path), url=server.url)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout.startswith("imported 0")
    assert main("import", str(tmp_path), "-q").err == ""  # after the command too
    assert main("--log-level", "debug", "scanners").code == 0
    assert main("-vv", "scanners").code == 0
    bad = main("scanners", "--log-level", "loud")
    assert bad.code == 2 and "invalid choice" in bad.err


def test_demo_honours_redis_url(server: RedisServer, main: Main) -> None:
    run = main("demo", "--manifests", "3", "--json")  # $REDIS_URL set, no --url
    assert run.code == 0, run.err
    assert json.loads(run.out)["backend"] == server.url
    assert server.client().hlen(f"{NS}:{{g}}:manifests") > 0


def test_docker_compose(server: RedisServer) -> None:
    """The file sets maxmemory (noeviction only refuses writes when there is a limit), and
    the command in its comment works as written (on this test's server)."""
    text = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"- --maxmemory\n\s+- \S+", text) and "noeviction" in text
    (command,) = re.findall(r"then\s+(REDIS_URL=\S+ redis-store .*)$", text, re.M)
    command = command.replace("redis://localhost:6379/0", server.url)
    command = command.replace("redis-store", f"{shlex.quote(sys.executable)} -m redis_store")
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"into {server.url}" in done.stdout  # the real server, not an in-process one


# -- list -----------------------------------------------------------------------------------------


def test_list_with_filters(server: RedisServer, store: RedisStore, main: Main) -> None:
    reports = populate(store, 4)
    digests = [str(r.hash) for r in reports]
    unfinished = IndexReport.from_json(reports[3].to_json())
    unfinished.state, unfinished.success = "ScanLayers", False
    store.set_index_report(unfinished)
    store.client.hset(store.keys.manifest(digests[0]), "used", 1000)  # long unused
    run = redis_store("list", "--finished", url=server.url)
    assert run.returncode == 0 and run.stdout.split() == digests[:3]
    assert main("list").out.split() == digests
    assert main("list", "--unfinished").out.split() == [digests[3]]
    old = main("list", "--older-than", "30d")
    assert old.out.split() == [digests[0]]
    layer = str(replay.plan(reports[1]).manifest.layers[-1].hash)
    using = main("list", "--layer", layer).out.split()
    assert digests[1] in using and set(using) <= set(digests)
    long = main("list", "-l", "--unfinished").out
    assert long.startswith(digests[3]) and "ScanLayers" in long and "layers" in long
    entries = json.loads(main("list", "--json").out)
    assert [e["digest"] for e in entries] == digests
    assert [e["finished"] for e in entries] == [True, True, True, False]
    assert main("list", "--finished", "--unfinished").code == 2
    # what list prints, delete reads
    gone = main("delete", "-", stdin=old.out.encode())
    assert gone.code == 0 and present(store) == set(digests[1:])


# -- delete --all, expire of everything -----------------------------------------------------------


def test_delete_all(server: RedisServer, store: RedisStore, main: Main) -> None:
    digests = {str(r.hash) for r in populate(store, 3)}
    refused = redis_store("delete", "--all", url=server.url)
    assert refused.returncode == 2 and "--yes" in one_line_error(refused)
    assert present(store) == digests
    code, out, err = on_a_terminal("delete", "--all", url=server.url, answer=b"n\n")
    assert code == 1 and "[y/N]" in err and "nothing deleted" in err and present(store) == digests
    code, out, err = on_a_terminal("delete", "--all", url=server.url, answer=b"y\n")
    assert code == 0, err
    assert out.startswith("deleted 3, skipped 0 (locked), unknown 0") and present(store) == set()
    populate(store, 2, seed=8)
    assert main("delete", "--all", "--yes").code == 0 and present(store) == set()
    assert main("delete", "--all", "--yes").code == 0  # an empty namespace: done
    assert main("delete", "--all", "sha256:" + "a" * 64).code == 2
    assert_consistent(store)


def test_expire_of_everything_asks_first(
    server: RedisServer, store: RedisStore, main: Main
) -> None:
    digests = {str(r.hash) for r in populate(store, 3)}
    for d in digests:  # every manifest last used long ago (by the server's clock)
        store.client.hset(store.keys.manifest(d), "used", 1000)
    refused = redis_store("expire", "--older-than", "0s", url=server.url)
    assert refused.returncode == 2 and "--yes" in one_line_error(refused)
    assert present(store) == digests
    dry = main("expire", "--older-than", "0s", "--dry-run")
    assert dry.code == 0
    lines = dry.out.splitlines()
    assert lines[0].startswith("would expire 3 manifests unused for 0s")
    assert all(line.startswith("  would expire  sha256:") for line in lines[1:])
    assert "expired" not in dry.out
    code, out, err = on_a_terminal("expire", "--older-than", "0s", url=server.url, answer=b"y\n")
    assert code == 0, err
    assert out.startswith("expired 3 manifests") and present(store) == set()
    for r in populate(store, 2, seed=8):
        store.client.hset(store.keys.manifest(str(r.hash)), "used", 1000)
    assert main("expire", "--older-than", "0s", "--yes").code == 0 and present(store) == set()


# -- reading is not using ----------------------------------------------------------------------


def test_inspecting_is_not_a_use(
    server: RedisServer, store: RedisStore, tmp_path: Path, main: Main
) -> None:
    """report, export, layers, list, stats and affected leave every manifest's last use as it
    was (a nightly backup must not keep everything from expire, nor reorder evict's least
    recently used); --mark-used opts in."""
    digests = [str(r.hash) for r in populate(store, 3)]
    for d in digests:  # last used long ago (by the server's clock)
        store.client.hset(store.keys.manifest(d), "used", 1000)

    def uses() -> list[bytes | None]:
        return [store.client.hget(store.keys.manifest(d), "used") for d in digests]

    shown = redis_store("report", digests[0], url=server.url)
    assert shown.returncode == 0 and "last used      1970-01-01 00:16:40 UTC" in shown.stdout
    for argv in (
        ["report", digests[0], "--json"],
        ["report", digests[0], "--json", "--summary"],
        ["export", digests[1]],
        ["export", "--all"],
        ["export", "--all", "--out", str(tmp_path / "backup")],
        ["layers", digests[2]],
        ["list", "-l"],
        ["stats"],
    ):
        assert main(*argv).code == 0, argv
    assert uses() == [b"1000"] * 3
    assert main("list", "--older-than", "30d").out.split() == digests  # expire would take them
    summary = json.loads(main("report", digests[0], "--json", "--summary").out)
    assert summary["manifest"] == digests[0] and summary["last_used"] == 1000
    assert summary["state"] == "IndexFinished" and summary["packages"] > 0
    exported = (tmp_path / "backup" / (digests[1].replace(":", "-") + ".json")).read_bytes()
    assert exported.rstrip(b"\n") == store.index_report_json(digests[1])
    store.client.hset(store.keys.manifest(digests[1]), "used", 1000)  # that read was a use
    assert main("report", digests[0], "--mark-used").code == 0
    assert main("export", digests[1], "--mark-used").code == 0
    now, _ = store.client.time()
    assert [abs(now - float(u or 0)) < 60 for u in uses()] == [True, True, False]


# -- import ---------------------------------------------------------------------------------------


def test_import_forms(server: RedisServer, store: RedisStore, tmp_path: Path, main: Main) -> None:
    """A JSON document, a JSON array of reports and JSON lines, from stdin or a file of any
    name; directories say what they skipped; an empty or missing one imports nothing."""
    rs = list(workload.generate(8, 6))
    pretty = json.dumps(json.loads(rs[0].to_json()), indent=2).encode()
    run = redis_store("import", "-", url=server.url, stdin=pretty)
    assert run.returncode == 0 and run.stdout.startswith("imported 1, skipped 0"), run.stderr
    array = b"[" + b",".join(r.to_json() for r in rs[1:3]) + b"]"
    run = main("import", "-", stdin=array)
    assert run.code == 0 and run.out.startswith("imported 2,"), run.err
    lines = b"\n".join(r.to_json() for r in rs[3:5]) + b"\n"
    run = main("import", "-", stdin=lines)
    assert run.code == 0 and run.out.startswith("imported 2,"), run.err
    (tmp_path / "batch.txt").write_bytes(b"\n".join(r.to_json() for r in rs[5:7]))
    (tmp_path / "listed.json").write_text(json.dumps([json.loads(rs[7].to_json())], indent=1))
    run = main("import", str(tmp_path / "batch.txt"), str(tmp_path / "listed.json"))
    assert run.code == 0 and run.out.startswith("imported 3,"), run.err
    assert present(store) == {str(r.hash) for r in rs}
    # a directory: its report files; the rest is named, not silently ignored
    reports_dir = tmp_path / "reports"
    (reports_dir / "sub").mkdir(parents=True)
    (reports_dir / "notes.md").write_text("#")
    (reports_dir / "a.json").write_bytes(rs[0].to_json())
    (reports_dir / "b.jsonl").write_bytes(lines)
    run = redis_store("import", str(reports_dir), url=server.url)
    assert run.returncode == 0
    assert run.stdout.startswith("imported 0, skipped 3 (already indexed), failed 0 in ")
    assert "skipped 2 entries" in run.stderr and "notes.md" in run.stderr and "sub/" in run.stderr
    (tmp_path / "empty").mkdir()
    empty = redis_store("import", str(tmp_path / "empty"), url=server.url)
    assert empty.returncode == 2 and empty.stdout == ""  # no summary, no rate
    assert "no report files" in one_line_error(empty)
    missing = main("import", str(tmp_path / "missing"))
    assert missing.code == 2 and missing.out == "" and "no such file" in missing.err
    assert_consistent(store)


def test_import_conflicts_and_force(
    server: RedisServer, store: RedisStore, tmp_path: Path, main: Main
) -> None:
    (original,) = workload.generate(1, 12)
    path = tmp_path / "r.json"
    path.write_bytes(original.to_json())
    assert main("import", str(path)).code == 0
    same = main("import", str(path))
    assert same.code == 0 and "skipped 1 (already indexed)" in same.out
    changed = IndexReport.from_json(original.to_json())
    dropped = next(iter(changed.packages or {}))
    del (changed.packages or {})[dropped]
    del (changed.environments or {})[dropped]
    path.write_bytes(changed.to_json())
    conflict = redis_store("import", str(path), "--json", url=server.url)
    assert conflict.returncode == 1
    out = json.loads(conflict.stdout)
    assert out["conflicts"] == 1 and out["imported"] == 0
    assert "conflict" in conflict.stderr and str(original.hash) in conflict.stderr
    stored = store.index_report(str(original.hash))
    assert stored is not None and len(stored.packages or {}) == len(original.packages or {})
    forced = main("import", str(path), "--force")
    assert forced.code == 0
    assert "replaced 1" in forced.out and "replaced the stored report" in forced.err
    stored = store.index_report(str(original.hash))
    assert stored is not None and len(stored.packages or {}) == len(changed.packages or {})
    assert_consistent(store)


def test_import_keeps_the_stated_state(
    server: RedisServer, store: RedisStore, tmp_path: Path
) -> None:
    (r,) = workload.generate(1, 13)
    r.state, r.success = "IndexManifest", True  # success: true, but not claircore's last state
    (tmp_path / "r.json").write_bytes(r.to_json())
    run = redis_store("import", str(tmp_path / "r.json"), url=server.url)
    assert run.returncode == 0, run.stderr
    stored = store.index_report(str(r.hash))
    assert stored is not None and (stored.state, stored.success) == ("IndexManifest", True)
    again = redis_store("import", str(tmp_path / "r.json"), url=server.url)
    assert "skipped 1" in again.stdout  # the same content: not a conflict


# -- affected -------------------------------------------------------------------------------------


def test_affected_names_strict_and_undecided(
    server: RedisServer, store: RedisStore, tmp_path: Path, main: Main
) -> None:
    digest = records.index_manifest(
        store,
        [
            (Package(name="tar", version="a:b:c", kind="binary"), DEBIAN, None),  # unparsable
            (Package(name="gzip", version="1.9-3", kind="binary"), DEBIAN, None),
        ],
    )
    vulns = [
        Vulnerability(
            id="4711",
            name="DSA-1111-1",
            package=Package(name="gzip"),
            distribution=DEBIAN,
            fixed_in_version="1.10-1",
        ),
        Vulnerability(
            id="4712",
            name="DSA-2222-1",
            package=Package(name="tar"),
            distribution=DEBIAN,
            fixed_in_version="1.30",
        ),
    ]
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join(v.to_json() for v in vulns))
    run = redis_store("affected", str(feed), url=server.url)
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"{digest}  DSA-1111-1\n"  # the name, not the ID 4711
    # the undecided comparison, in the user's terms
    assert "debian-matcher" in run.stderr and "package tar a:b:c" in run.stderr
    assert "DSA-2222-1" in run.stderr and "counted as not affected" in run.stderr
    assert "1 comparison could not be decided" in run.stderr
    as_json = json.loads(main("affected", str(feed), "--json").out)
    assert as_json["vulnerable_manifests"] == {digest: ["4711"]}  # IDs, as claircore's JSON
    strict = redis_store("affected", str(feed), "--strict", url=server.url)
    assert strict.returncode == 1
    line = one_line_error(strict)
    assert "--strict" in line and "package tar a:b:c" in line and "DSA-2222-1" in line
    assert main("affected", str(feed), "-q").err == ""


# -- what the README promises to scripts ---------------------------------------------------------


def test_a_cron_cleanup_with_nothing_old_succeeds(server: RedisServer, store: RedisStore) -> None:
    """``list --older-than 90d | delete -`` is the usual cron job; usually nothing is old:
    an empty list deletes nothing and is not an error (nor is --all on an empty namespace)."""
    populate(store, 2)
    rs = f"{shlex.quote(sys.executable)} -m redis_store"
    script = (
        f"{rs} list --older-than 90d --namespace {NS} | {rs} delete - --namespace {NS};"
        " echo ${PIPESTATUS[@]}"
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env(server.url), timeout=120
    )
    assert done.stdout.splitlines() == ["deleted 0, skipped 0 (locked), unknown 0", "0 0"]
    assert done.stderr == "" and len(present(store)) == 2
    assert redis_store("delete", url=server.url).returncode == 2  # nothing given at all
    assert (
        redis_store("delete", "--all", "--yes", "--namespace", "empty", url=server.url).returncode
        == 0
    )


def test_affected_usage_errors_and_warnings(
    server: RedisServer, store: RedisStore, tmp_path: Path, main: Main
) -> None:
    missing = redis_store("affected", str(tmp_path / "nonexistent.json"), url=server.url)
    assert missing.returncode == 2 and "No such file" in one_line_error(missing)
    (tmp_path / "bad.json").write_text('{"package": {"name": 42}}')
    bad = main("affected", str(tmp_path / "bad.json"))
    assert bad.code == 2 and "vulnerability 1" in bad.err
    records.index_manifest(
        store, [(Package(name="tar", version="1.29", kind="binary"), DEBIAN, None)]
    )
    typo = json.loads(
        Vulnerability(
            id="1", name="DSA-1", package=Package(name="tar"), distribution=DEBIAN,
            fixed_in_version="1.30",
        ).to_json()
    )  # fmt: skip
    right = main("affected", "-", stdin=json.dumps(typo).encode())
    assert right.code == 0 and right.out.startswith("sha256:") and right.err == ""
    typo["dist"] = typo.pop("distribution")
    run = redis_store("affected", "-", url=server.url, stdin=json.dumps(typo).encode())
    assert run.returncode == 0 and run.stdout == ""  # not affected, as claircore answers
    assert "unknown keys 'dist'" in run.stderr
    assert "no matcher applies to vulnerability 'DSA-1'" in run.stderr


def test_import_prints_no_rate_of_nothing(
    server: RedisServer, store: RedisStore, tmp_path: Path, main: Main
) -> None:
    for r in workload.generate(2, 40):
        (tmp_path / f"{r.hash}.json".replace(":", "-")).write_bytes(r.to_json())
    first = main("import", str(tmp_path))
    assert first.code == 0 and re.search(
        r"in \d+\.\d\d s \(\d+\.\d imported/s\)$", first.out.strip()
    )
    again = main("import", str(tmp_path))
    assert again.code == 0 and again.out.strip().endswith(" s") and "/s" not in again.out


def test_every_command_says_what_it_does(server: RedisServer) -> None:
    for command in ("report", "layers", "scanners", "gc", "stats", "demo", "evict", "delete"):
        text = redis_store(command, "--help", url=server.url).stdout
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        assert len(paragraphs) >= 3, (command, text)  # usage, a description, the options
        assert not paragraphs[1].lstrip().startswith(("positional", "options")), text
        assert "%%" not in text, text


# -- exit statuses --------------------------------------------------------------------------------


def test_usage_errors_exit_2(server: RedisServer, main: Main) -> None:
    run = redis_store("delete", "sha256:1234", url=server.url)
    assert run.returncode == 2 and "bad digest" in one_line_error(run)
    for argv in (
        ["expire", "--older-than", "soon"],
        ["list", "--older-than", "3 days"],
        ["scanners", "--url", "http://user:secret@host/0"],
        ["scanners", "--url", "redis://host:99999/0"],
        ["nope"],
    ):
        got = main(*argv)
        assert got.code == 2, (argv, got.err)
        assert "Traceback" not in got.err and "secret" not in got.err


def test_a_closed_pipe_ends_quietly(server: RedisServer, store: RedisStore) -> None:
    """``| head`` closes the pipe early: no traceback, no "Exception ignored", status 0."""
    populate(store, 3)
    for argv in (["export", "--all"], ["scanners"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "redis_store", *argv, "--namespace", NS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(server.url),
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the first line is written
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0 and err == "", (argv, err)
    python = shlex.quote(sys.executable)
    script = f"{python} -m redis_store list --namespace {NS} | head -n 1; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env(server.url), timeout=120
    )
    assert done.stdout.splitlines()[-1] == "0" and done.stderr == ""


def test_locked_skips_count_the_same_for_delete_and_expire(
    server: RedisServer, store: RedisStore
) -> None:
    digests = [str(r.hash) for r in populate(store, 4)]
    for d in digests[:3]:  # three long unused, one in use: expire does not take everything
        store.client.hset(store.keys.manifest(d), "used", 1000)
    with store.manifest_lock(digests[0]):
        deleted = redis_store("delete", digests[0], digests[1], url=server.url)
        expired = redis_store("expire", "--older-than", "30d", url=server.url)
    assert deleted.returncode == expired.returncode == 1
    assert "skipped 1 (locked)" in deleted.stdout and "skipped 1 (locked)" in expired.stdout
    assert present(store) == {digests[0], digests[3]}


def test_sigterm_is_handled_as_sigint(
    server: RedisServer, store: RedisStore, tmp_path: Path
) -> None:
    for r in workload.generate(200, 2):
        (tmp_path / (str(r.hash).replace(":", "-") + ".json")).write_bytes(r.to_json())
    proc = subprocess.Popen(
        [sys.executable, "-m", "redis_store", "import", str(tmp_path), "--namespace", NS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(server.url),
    )
    deadline = time.monotonic() + 60
    while store.client.hlen(store.keys.manifests) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "interrupted" in err
    assert out.startswith("imported ")  # the summary
    done = int(out.split()[1].rstrip(","))
    assert len(present(store)) == done < 200
    assert_consistent(store)


def test_sigterm_stops_a_command_started_with_sigint_ignored(server: RedisServer) -> None:
    """A shell's background job (``cmd &`` without job control) starts with SIGINT
    ignored: it stays ignored, and SIGTERM still stops the command."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "redis_store", "evict", "--max-memory", "1GiB", "--watch", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(server.url),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    time.sleep(1.5)  # started, and watching
    proc.send_signal(signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and "Traceback" not in err  # stopped by SIGTERM


# -- misconfiguration: one line, exit 2 -----------------------------------------------------------


class _Http(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Http)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if postgres_bindir() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but PostgreSQL is not installed: the misconfiguration tests run")
        pytest.skip("PostgreSQL is not installed")
    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def password_server(redis_server: RedisServer) -> Iterator[RedisServer]:
    """A Redis that requires a password (set once it answers: the start-up check PINGs)."""
    server = start_redis()
    server.client().config_set("requirepass", "s3cret")
    yield server
    server.stop()


#: case -> (URL, the exit status, what the one line on stderr says)
Cases = dict[str, tuple[str, int, tuple[str, ...]]]


@pytest.fixture(scope="module")
def misconfigurations(
    redis_server: RedisServer,
    http_port: int,
    postgres: PostgresServer,
    password_server: RedisServer,
) -> tuple[Cases, dict[str, tuple[int, str]]]:
    """Every case run at once (each a second's start-up, in parallel), checked one a test."""
    port, pg, pw = redis_server.port, postgres.port, password_server.port
    cases: Cases = {
        "database-out-of-range": (f"redis://127.0.0.1:{port}/99", 2, ("no database 99",)),
        "cluster-url-at-a-standalone-server": (
            f"redis+cluster://127.0.0.1:{port}", 2, ("not in cluster mode", "use redis://"),
        ),
        "sentinel-url-at-a-redis-server": (
            f"redis+sentinel://127.0.0.1:{port}/primary", 2, ("not a sentinel",),
        ),
        "sentinel-url-at-an-http-server": (
            f"redis+sentinel://127.0.0.1:{http_port}/primary", 2, ("an HTTP server",),
        ),
        "a-port-speaking-http": (
            f"redis://127.0.0.1:{http_port}/0", 2, ("does not speak the Redis protocol", "HTTP"),
        ),
        "a-cluster-url-at-a-port-speaking-http": (
            f"redis+cluster://127.0.0.1:{http_port}", 2, ("an HTTP server",),
        ),
        "a-port-speaking-postgresql": (
            f"redis://127.0.0.1:{pg}/0", 2, ("does not speak", "a PostgreSQL server"),
        ),
        "a-wrong-password": (f"redis://:wrong@127.0.0.1:{pw}/0", 2, ("authentication failed",)),
        "no-password": (f"redis://127.0.0.1:{pw}/0", 2, ("requires authentication",)),
        "a-bad-scheme": ("http://user:s3cret@127.0.0.1/0", 2, ("bad --url", "scheme")),
        "unreachable-is-not-misconfigured": (
            f"redis://127.0.0.1:{free_port()}/0", 1, ("cannot reach Redis",),
        ),
    }  # fmt: skip
    procs = {
        case: subprocess.Popen(
            [sys.executable, "-m", "redis_store", "scanners", "--url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        for case, (url, _, _) in cases.items()
    }
    results = {}
    for case, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        results[case] = (proc.returncode, err)
    return cases, results


@pytest.mark.parametrize(
    "case",
    [
        "database-out-of-range",
        "cluster-url-at-a-standalone-server",
        "sentinel-url-at-a-redis-server",
        "sentinel-url-at-an-http-server",
        "a-port-speaking-http",
        "a-cluster-url-at-a-port-speaking-http",
        "a-port-speaking-postgresql",
        "a-wrong-password",
        "no-password",
        "a-bad-scheme",
        "unreachable-is-not-misconfigured",
    ],
)
def test_misconfiguration(
    misconfigurations: tuple[Cases, dict[str, tuple[int, str]]], case: str
) -> None:
    """One clear line, never a traceback (nor a connection pool's repr, nor the password),
    and exit status 2: the URL or the server's setup is wrong."""
    cases, results = misconfigurations
    _, status, expected = cases[case]
    code, err = results[case]
    assert code == status, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("redis-store scanners: ") and len(line) < 400
    assert "ConnectionPool" not in line and "s3cret" not in line
    for text in expected:
        assert text in line, line


def test_the_right_password_works(password_server: RedisServer, main: Main) -> None:
    ok = main("scanners", "--url", f"redis://:s3cret@127.0.0.1:{password_server.port}/0")
    assert ok.code == 0, ok.err


# -- --metrics-file -------------------------------------------------------------------------------


def _figures(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_files(server: RedisServer, store: RedisStore, tmp_path: Path, main: Main) -> None:
    populate(store, 2)
    (r,) = workload.generate(1, 21)
    (tmp_path / "r.json").write_bytes(r.to_json())
    path = tmp_path / "import.prom"
    run = redis_store(
        "import", str(tmp_path / "r.json"), "--metrics-file", str(path), url=server.url
    )
    assert run.returncode == 0, run.stderr
    for argv in (["gc"], ["fsck"], ["expire", "--older-than", "30d", "--dry-run"]):
        assert main(*argv, "--metrics-file", str(tmp_path / f"{argv[0]}.prom")).code == 0
    for job in ("import", "gc", "fsck", "expire"):
        got = _figures(tmp_path / f"{job}.prom")
        labels = (("job", job), ("namespace", NS))
        assert got[("redis_store_job_success", labels)] == 1
        assert got[("redis_store_job_duration_seconds", labels)] > 0
        assert got[("redis_store_job_last_run_timestamp_seconds", labels)] > time.time() - 60
        assert not list(tmp_path.glob(f"{job}.prom.*"))  # the temporary file is gone
    got = _figures(tmp_path / "import.prom")
    assert got[("redis_store_import_reports", (("namespace", NS), ("outcome", "imported")))] == 1
    got = _figures(tmp_path / "gc.prom")
    assert got[("redis_store_gc_reclaimed_items", (("kind", "layers"), ("namespace", NS)))] == 0
    got = _figures(tmp_path / "fsck.prom")
    assert got[("redis_store_fsck_violations_remaining", (("namespace", NS),))] == 0
    got = _figures(tmp_path / "expire.prom")
    assert got[("redis_store_job_dry_run", (("job", "expire"), ("namespace", NS)))] == 1
    key = ("redis_store_expire_manifests", (("namespace", NS), ("outcome", "expired")))
    assert got[key] == 0
    # a job that fails still leaves its figures: success 0
    down = tmp_path / "down.prom"
    run = main("gc", "--metrics-file", str(down), "--url", f"redis://127.0.0.1:{free_port()}/0")
    assert run.code == 1
    assert _figures(down)[("redis_store_job_success", (("job", "gc"), ("namespace", NS)))] == 0
    nowhere = main("gc", "--metrics-file", str(tmp_path / "no" / "x.prom"))
    assert nowhere.code == 2 and "no such directory" in nowhere.err


def test_nightly_cleanup_metrics_file(server: RedisServer, tmp_path: Path) -> None:
    s = RedisStore(server.client(), namespace="claircore")
    populate(s, 2)
    path = tmp_path / "nightly.prom"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "nightly_cleanup.py"), "--metrics-file", str(path)],
        capture_output=True,
        text=True,
        env=env(server.url),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = _figures(path)
    for job in ("nightly_cleanup", "expire", "gc", "fsck"):
        assert got[("redis_store_job_success", (("job", job), ("namespace", "claircore")))] == 1
    assert got[("redis_store_fsck_violations_found", (("namespace", "claircore"),))] == 0
    s.close()
