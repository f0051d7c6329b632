"""``redis-store delete``: arguments, --from, stdin, locks, bad input and Ctrl-C."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from redis_store import IndexReport, Layer, Manifest, RedisStore, ops
from tests.support import gen
from tests.support.inspect import all_keys
from tests.test_cli_helpers import (
    INTERRUPTED_STEP,
    Cli,
    assert_consistent,
    interrupt_at,
    make_cli,
    populate,
    reports,
)


@pytest.fixture
def cli(backend: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(backend, monkeypatch, capsys)


@pytest.fixture
def digests(cli: Cli) -> list[str]:
    return populate(cli.store(), reports(8, seed=9))


def _present(store: RedisStore) -> set[str]:
    return {d for _, d in ops.manifests(store)}


def test_delete_arguments(cli: Cli, digests: list[str]) -> None:
    unknown = str(gen.random_digest())
    run = cli("delete", digests[0], unknown, digests[1])
    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "deleted 2, skipped 0 (locked), unknown 1",
        f"  deleted     {digests[0]}",
        f"  deleted     {digests[1]}",
        f"  unknown     {unknown}",
    ]
    store = cli.store()
    assert _present(store) == set(digests[2:])
    assert_consistent(store)
    again = cli("delete", digests[0], "--json")
    assert again.code == 1  # found nothing to delete
    assert again.json() == {
        "deleted": [],
        "locked": [],
        "unknown": [digests[0]],
        "not_deleted": [],
        "interrupted": False,
    }


def test_delete_from_file_and_stdin(cli: Cli, digests: list[str], tmp_path: Path) -> None:
    listing = tmp_path / "gone.txt"
    upper = "sha256:" + digests[1].removeprefix("sha256:").upper()
    listing.write_text(f"# registry GC, 2 manifests\n{digests[0]}\n\n  {upper}  \n")
    run = cli("delete", "--from", str(listing), "--json")
    assert run.code == 0
    assert run.json()["deleted"] == digests[:2]  # upper-case hex is the same digest
    stdin = f"{digests[2]}\n{digests[3]}\n".encode()
    out = cli("delete", "-", digests[4], "--json", stdin=stdin).json()
    assert out["deleted"] == digests[2:5]
    out = cli("delete", "--from", "-", "--json", stdin=f"{digests[5]}\n".encode()).json()
    assert out["deleted"] == [digests[5]]
    store = cli.store()
    assert _present(store) == set(digests[6:])
    assert_consistent(store)


def test_delete_everything_leaves_only_the_registry(cli: Cli, digests: list[str]) -> None:
    run = cli("delete", *digests)
    assert run.code == 0
    assert all_keys(cli.store().client, "cli") == {"cli:{g}:scanners", "cli:{g}:seq"}


def test_bad_digest_deletes_nothing(cli: Cli, digests: list[str], tmp_path: Path) -> None:
    run = cli("delete", digests[0], "sha256:1234")
    assert run.code == 2
    assert "bad digest 'sha256:1234' (argument)" in run.err
    listing = tmp_path / "list.txt"
    listing.write_text(f"{digests[1]}\nmd5:abcd\n")
    run = cli("delete", "--from", str(listing))
    assert run.code == 2 and f"bad digest 'md5:abcd' ({listing} line 2)" in run.err
    assert _present(cli.store()) == set(digests)  # nothing deleted
    missing = cli("delete", "--from", str(tmp_path / "nope.txt"))
    assert missing.code == 2 and "nope.txt" in missing.err
    assert cli("delete").code == 2
    # an empty list (a cron job's `list --older-than 90d | delete -`): nothing to do
    empty = cli("delete", "-", stdin=b"\n# nothing\n")
    assert empty.code == 0 and empty.out.startswith("deleted 0,")


def test_locked_manifest_is_skipped(cli: Cli, digests: list[str]) -> None:
    indexer = cli.store()
    with indexer.manifest_lock(digests[0]):
        run = cli("delete", digests[0], digests[1], "--json")
    assert run.code == 1  # something was not deleted
    out = run.json()
    assert out["deleted"] == [digests[1]] and out["locked"] == [digests[0]]
    assert digests[0] in _present(indexer)
    assert_consistent(indexer)


@pytest.mark.single_node(reason=INTERRUPTED_STEP)
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("after", [False, True], ids=["before-call", "after-call"])
def test_ctrl_c_during_delete(cli: Cli, digests: list[str], batch: int, after: bool) -> None:
    """delete_manifests' round trip 1 plans the deletes, 2 runs them (one script each)."""
    interrupt_at(cli, batch, after=after)
    run = cli("delete", *digests, "--json")
    assert run.code == 130, run.err
    assert "interrupted" in run.err
    out = run.json()
    assert out["interrupted"] is True
    gone = set(digests) - _present(cli.store())
    assert gone == (set(digests) if batch == 2 and after else set())
    assert set(out["deleted"]) == gone  # what the interrupted call did is reported
    assert set(out["not_deleted"]) == set(digests) - gone
    assert_consistent(cli.store())
    cli._hooks.clear()
    rest = cli("delete", *digests, "--json").json()  # finishing the job afterwards
    assert set(rest["deleted"]) == set(digests) - gone
    assert_consistent(cli.store())


def _small_manifests(store: RedisStore, n: int) -> list[str]:
    """``n`` finished manifests of one layer each and no packages: quick to make."""
    out = []
    for i in range(n):
        d = gen.digest_of(f"manifest {i}")
        store.persist_manifest(
            Manifest(hash=d, layers=[Layer(hash=gen.digest_of(f"layer {i % 7}"))])
        )
        store.set_index_finished(IndexReport(hash=d, state="IndexFinished", success=True), [])
        out.append(str(d))
    return out


def test_real_sigint_during_delete(cli: Cli) -> None:
    """A real SIGINT while the second of three delete calls is under way: that call
    finishes (100 manifests each), the third never starts."""
    digests = _small_manifests(cli.store(), 250)
    calls = 0

    def hook(store: RedisStore) -> None:
        delete = store.delete_manifests

        def signalled(*ds: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                os.kill(os.getpid(), signal.SIGINT)
            return delete(*ds)

        store.delete_manifests = signalled

    cli.on_connect(hook)
    run = cli("delete", *digests, "--json")
    assert run.code == 130
    out = run.json()
    assert out["deleted"] == digests[:200] and out["not_deleted"] == digests[200:]
    assert _present(cli.store()) == set(digests[200:])
    assert_consistent(cli.store())
