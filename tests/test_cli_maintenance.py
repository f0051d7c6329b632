"""``expire``, ``gc``, ``fsck`` and ``stats``; options every command shares; progress bars."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from redis_store import RedisStore, ops
from redis_store import cli as cli_module
from redis_store.cli import options, progress
from redis_store.keys import KeyLayout
from tests.support.servers import RedisServer, free_port
from tests.test_cli_helpers import Cli, assert_consistent, make_cli, populate, reports

K = KeyLayout("cli")


@pytest.fixture
def cli(backend: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(backend, monkeypatch, capsys)


@pytest.fixture
def digests(cli: Cli) -> list[str]:
    return populate(cli.store(), reports(6, seed=5))


def _age(store: RedisStore, digests: list[str], when: float = 1000.0) -> None:
    for d in digests:
        store.client.hset(K.manifest(d), "used", when)


# -- expire ------------------------------------------------------------------------------------


def test_expire(cli: Cli, digests: list[str]) -> None:
    store = cli.store()
    old = digests[:3]
    _age(store, old)
    dry = cli("expire", "--older-than", "30d", "--dry-run")
    assert dry.code == 0
    assert dry.out.splitlines()[0] == (
        "would expire 3 manifests unused for 30d; skipped 0 (locked); kept 0 with no recorded use"
    )
    assert sorted(dry.out.splitlines()[1:]) == sorted(f"  would expire  {d}" for d in old)
    assert len(list(ops.manifests(store))) == 6
    with store.manifest_lock(old[0]):
        run = cli("expire", "--older-than", "1w", "--json")
    assert run.code == 1  # a manifest skipped because locked: as for delete
    out = run.json()
    assert out["older_than_seconds"] == 7 * 86400
    assert sorted(out["expired"]) == sorted(old[1:])
    assert out["skipped_locked"] == [old[0]] and out["unknown"] == 0
    assert {d for _, d in ops.manifests(store)} == {old[0], *digests[3:]}
    assert_consistent(store)
    nothing = cli("expire", "--older-than", "12h")
    assert nothing.code == 0 and nothing.out.startswith("expired 0 manifests unused for 12h")


@pytest.mark.parametrize("age", ["30", "d", "-1d", "3y", "1.5.2h", ""])
def test_expire_bad_durations(cli: Cli, age: str) -> None:
    run = cli("expire", "--older-than", age)
    assert run.code == 2
    assert "not a duration" in run.err or "cannot be negative" in run.err
    assert "expected one argument" not in run.err or age == ""


def test_expire_needs_older_than(cli: Cli) -> None:
    assert cli("expire").code == 2


def test_duration_units() -> None:
    parse = options.duration
    assert [parse(x).seconds for x in ("90s", "15m", "2h", "1.5d", "2w")] == [
        90,
        900,
        7200,
        129600,
        1209600,
    ]


# -- gc ----------------------------------------------------------------------------------------


def test_gc_healthy(cli: Cli, digests: list[str]) -> None:
    run = cli("gc", "--json")
    assert run.code == 0
    out = run.json()
    assert all(out[k] == 0 for k in ("layers", "records", "packages", "distributions"))
    text = cli("gc")
    assert text.out.startswith("reclaimed\n  layers                 0\n")


def test_gc_reclaims_what_a_crash_left(cli: Cli, digests: list[str]) -> None:
    store = cli.store()
    d = digests[0]
    info = ops.manifest_info(store, d)
    assert info is not None
    # a crash between the steps of a delete: the manifest's keys went, its layers' links not
    store.client.delete(K.manifest(d), K.manifest_scanned(d), K.report(d))
    store.client.hdel(K.manifests, str(info.id))
    assert ops.check(store) != []
    dry = cli("gc", "--dry-run", "--json").json()
    assert dry["dry_run"] is True
    total = sum(dry[k] for k in ("layers", "records", "packages", "distributions", "repositories"))
    assert total + dry["stale_links"] > 0
    assert ops.check(store) != []  # a dry run changes nothing
    text = cli("gc", "--dry-run")
    assert text.out.startswith("would reclaim\n")
    assert cli("gc").code == 0
    assert_consistent(store)


# -- fsck --------------------------------------------------------------------------------------

Corruption = Callable[[Any, str, str, str], Any]
CORRUPTIONS: dict[str, tuple[str, Corruption]] = {
    "table entry removed": ("manifest-unlisted", lambda c, d, mid, layer: c.hdel(K.manifests, mid)),
    "layer forgets manifest": ("layer-link", lambda c, d, mid, layer: c.srem(K.layer(layer), mid)),
    "layer lists a ghost": (
        "layer-dangling-manifest",
        lambda c, d, mid, layer: c.sadd(K.layer(layer), 99999),
    ),
    "unknown scanner mark": (
        "scanner-unknown",
        lambda c, d, mid, layer: c.sadd(K.manifest_scanned(d), 777),
    ),
    "count off": (
        "refs-mismatch",
        lambda c, d, mid, layer: c.hincrby(K.entity_refs("pkg"), "1", 3),
    ),
    "index records dropped": (
        "record-unlisted",
        lambda c, d, mid, layer: c.hset(K.manifest(d), "recs", ""),
    ),
}


def _target(store: RedisStore, d: str) -> tuple[str, str]:
    info = ops.manifest_info(store, d)
    assert info is not None
    return str(info.id), info.layers[0]


def test_fsck_clean(cli: Cli, digests: list[str]) -> None:
    run = cli("fsck")
    assert run.code == 0
    assert run.out.startswith("0 violations in ")
    out = cli("fsck", "--json").json()
    assert out["violations"] == [] and out["remaining"] == [] and out["seconds"] >= 0


def test_fsck_finds_and_repairs_each_corruption(cli: Cli, digests: list[str]) -> None:
    store = cli.store()
    for i, (_, corrupt) in enumerate(CORRUPTIONS.values()):
        d = digests[i % len(digests)]
        corrupt(store.client, d, *_target(store, d))
    found = cli("fsck")
    assert found.code == 1
    kinds = {line.split(":")[0] for line in found.out.splitlines()[:-1]}
    assert kinds >= {kind for kind, _ in CORRUPTIONS.values()}
    repaired = cli("fsck", "--repair", "--json")
    assert repaired.code == 0, repaired.out
    out = repaired.json()
    assert out["remaining"] == []
    assert {v["kind"] for v in out["repaired"]} >= {kind for kind, _ in CORRUPTIONS.values()}
    assert_consistent(store)
    assert cli("fsck").code == 0


def test_fsck_reports_what_it_cannot_repair(cli: Cli, digests: list[str]) -> None:
    store = cli.store()
    store.client.set("cli:{junk}", "x")
    run = cli("fsck", "--repair")
    assert run.code == 1
    assert "unknown-key: cli:{junk}" in run.out and "(not repairable)" in run.out
    assert run.out.splitlines()[-1].endswith("; repaired 0, 1 remain")


# -- stats -------------------------------------------------------------------------------------


def test_stats(cli: Cli, digests: list[str]) -> None:
    out = cli("stats", "--json").json()
    assert out["counts"]["manifests"] == 6
    assert out["counts"]["packages"] > 0 and out["counts"]["index records"] > 0
    assert len(out["largest"]) == 6
    assert {row[0] for row in out["largest"]} == set(digests)
    if cli.backend.real:
        assert out["memory"]["manifest:report"] > 0
    else:
        assert out["memory"] is None  # fakeredis has no MEMORY USAGE
    text = cli("stats", "--sample", "5")
    assert text.code == 0
    assert text.out.startswith("counts\n  manifests                    6\n")
    assert "largest manifests" in text.out
    assert ("memory (estimated" in text.out) == cli.backend.real
    assert cli("stats", "--sample", "0").code == 2


# -- shared options, connection, progress ------------------------------------------------------


def test_url_from_environment(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_server.client().flushall()
    populate(RedisStore(redis_server.client(), namespace="claircore"), reports(1))
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    assert cli_module.main(["scanners", "--json"]) == 0  # no --url, default namespace
    assert len(json.loads(capsys.readouterr().out)) > 0


def test_unreachable_redis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    url = f"redis://127.0.0.1:{free_port()}/0"
    for argv in (["fsck"], ["stats"], ["scanners"], ["gc"]):
        assert cli_module.main([*argv, "--url", url]) == 1
        assert "cannot reach Redis" in capsys.readouterr().err
    assert cli_module.main(["fsck", "--url", "http://u:secret@host/0"]) == 2
    err = capsys.readouterr().err
    assert "bad --url" in err and "secret" not in err


@pytest.mark.parametrize("argv", [["fsck", "--namespace", "a{b}"], ["gc", "--bogus"], ["nope"]])
def test_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_module.main(argv) == 2


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(
    cli: Cli, digests: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    quiet = cli("fsck")
    assert quiet.err == ""  # not a terminal: no bar
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert cli("fsck").code == 0
    drawn = tty.getvalue()
    assert "checking [" in drawn
    assert drawn.endswith("\r\x1b[K")  # cleared before the result is printed
    bar = progress.Progress(_Tty(), interval=0)
    bar.update("importing", 5, 10)
    bar.update("reading", 7)
    assert "importing [" + "#" * 12 + "-" * 12 + "] 5/10" in bar.stream.getvalue()  # type: ignore[attr-defined]
    assert "reading 7" in bar.stream.getvalue()  # type: ignore[attr-defined]
