"""The cache tier's other origin and bulk fill: Clair's indexer database (a real PostgreSQL
in claircore's schema, holding the shared real reports and workload reports), read
through and listed; ``import --from`` from it and from the HTTP API, in parallel,
resumable, Ctrl-C safe; fsck clean after each.
"""

from __future__ import annotations

import functools
import importlib.util
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from redis_store import ClairDatabaseOrigin, IndexReport, OriginError, RedisStore, ops
from redis_store.demo import workload
from redis_store.fill import fill_from_origin
from redis_store.ops import mirror
from tests.conftest import IN_CI, Backend
from tests.support import servers
from tests.support.clair import ClairAPI
from tests.test_cli_helpers import Cli, make_cli
from tests.test_tier import REPORTS

ABSENT = "sha256:" + "0" * 64


def _need(ok: bool, reason: str) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}: the PostgreSQL origin tests must run")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def clair_db() -> Iterator[tuple[str, list[str]]]:
    """A PostgreSQL server with claircore's indexer schema holding the shared reports and
    20 workload reports: (URL, digests)."""
    _need(servers.postgres_bindir() is not None, "initdb/postgres are not installed")
    _need(importlib.util.find_spec("psycopg") is not None, "psycopg is not installed")
    from benchmarks.clair_database import fill_clair_database

    server = servers.start_postgres()
    try:
        reports = [IndexReport.from_json(raw) for raw in REPORTS.values()]
        reports += list(workload.generate(20, seed=11))
        digests = fill_clair_database(server.dsn, reports, fresh=True)
        url = f"clair+postgresql://{server.user}@127.0.0.1:{server.port}/{server.database}"
        yield url, [str(d) for d in digests]
    finally:
        server.stop()


@pytest.fixture
def db_origin(clair_db: tuple[str, list[str]]) -> Iterator[ClairDatabaseOrigin]:
    origin = ClairDatabaseOrigin(clair_db[0], timeout=5.0)
    yield origin
    origin.close()


def test_the_database_origin_reads_and_lists_claircores_schema(
    db_origin: ClairDatabaseOrigin, clair_db: tuple[str, list[str]]
) -> None:
    _, digests = clair_db
    assert sorted(db_origin.digests()) == sorted(digests)
    for d in list(REPORTS)[:2]:
        raw = db_origin.fetch(d)
        assert raw is not None and orjson.loads(raw)["manifest_hash"] == d
    assert db_origin.fetch(ABSENT) is None
    assert "@" not in db_origin.name  # no user in messages


def test_the_database_origin_is_read_only(db_origin: ClairDatabaseOrigin) -> None:
    import psycopg

    conn = db_origin._connection()
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("DELETE FROM indexreport")


def test_read_through_from_the_database(
    backend: Backend, db_origin: ClairDatabaseOrigin, clair_db: tuple[str, list[str]]
) -> None:
    store = RedisStore(backend.client(), "test", origin=db_origin)
    _, digests = clair_db
    for d in digests[:5]:
        got = store.index_report(d)
        assert got is not None and got.success and store.index_report(d) == got
    assert store.index_report(ABSENT) is None
    assert store.tier is not None and store.tier.stats().imported == 5
    assert ops.check(store) == []
    store.close()


def test_an_unreachable_database_is_an_origin_error(backend: Backend) -> None:
    port = servers.free_port()
    origin = ClairDatabaseOrigin(f"clair+postgresql://nobody@127.0.0.1:{port}/x", timeout=2.0)
    store = RedisStore(backend.client(), "test", origin=origin)
    with pytest.raises(OriginError, match=r"127\.0\.0\.1"):
        store.index_report(next(iter(REPORTS)))
    assert list(backend.client().scan_iter("test:*")) == []
    with pytest.raises(OriginError):
        list(origin.digests())
    store.close()


def _openers(
    backend: Backend, clair_db: tuple[str, list[str]], jobs: int
) -> tuple[Callable[[], RedisStore], Callable[[], ClairDatabaseOrigin]]:
    """How a fill opens its stores and origins: anything for one job (it runs here); for
    worker processes, openers that pickle, on a server they can reach."""
    if jobs == 1:
        return (
            lambda: RedisStore(backend.client(), "test"),
            lambda: ClairDatabaseOrigin(clair_db[0], timeout=5.0),
        )
    if not backend.real:
        pytest.skip("worker processes cannot reach an in-process fakeredis")
    assert backend.url is not None
    return (
        functools.partial(RedisStore.from_url, backend.url, namespace="test"),
        functools.partial(ClairDatabaseOrigin, clair_db[0], timeout=5.0),
    )


@pytest.mark.parametrize("jobs", [1, 4])
def test_bulk_fill_from_the_database_is_whole_and_resumable(
    backend: Backend, clair_db: tuple[str, list[str]], jobs: int
) -> None:
    _, digests = clair_db
    open_store, open_origin = _openers(backend, clair_db, jobs)
    seen: list[tuple[int, int | None]] = []
    first = fill_from_origin(
        open_store, open_origin, digests[:10], jobs=jobs, on_progress=lambda *a: seen.append(a)
    )
    assert sorted(first.imported) == sorted(digests[:10]) and not first.failed, first
    assert first.processes == (0 if jobs == 1 else jobs)
    assert seen[-1] == (10, 10)
    assert not first.complete_mirror  # some digests: nothing said of the rest
    rest = fill_from_origin(open_store, open_origin, jobs=jobs)  # every one listed
    assert sorted(rest.skipped) == sorted(digests[:10])
    assert sorted(rest.imported) == sorted(digests[10:])
    assert rest.complete_mirror  # the whole listing, all of it in: the tier mirrors it
    with open_store() as store:
        assert ops.check(store) == []
        assert sorted(d for _, d in ops.manifests(store)) == sorted(digests)
        assert mirror.status(store).complete
        store.delete_manifests(digests[0])
        assert not mirror.status(store).complete  # a deletion only here: no longer


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_stopped_fill_leaves_whole_reports(
    backend: Backend, clair_db: tuple[str, list[str]], jobs: int
) -> None:
    _, digests = clair_db
    open_store, open_origin = _openers(backend, clair_db, jobs)
    stop = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= 3:
            stop.set()

    res = fill_from_origin(
        open_store, open_origin, digests, jobs=jobs, on_progress=progress, stop=stop
    )
    assert res.interrupted and 3 <= len(res.imported) < len(digests)
    assert len(res.imported) <= 3 + jobs  # what the workers held when asked to stop
    with open_store() as store:
        assert ops.check(store) == []
        assert sorted(d for _, d in ops.manifests(store)) == sorted(res.imported)
        for _, d in ops.manifests(store):
            got = store.index_report(d)
            assert got is not None and got.success


@pytest.mark.real_only
def test_a_worker_that_dies_is_named_and_stops_the_fill(
    redis_server: servers.RedisServer, clair_db: tuple[str, list[str]]
) -> None:
    """A worker process killed mid-fill: the fill stops, says which worker and which
    report, and what is stored is whole."""
    redis_server.client().flushall()
    _, digests = clair_db
    open_store = functools.partial(RedisStore.from_url, redis_server.url, namespace="test")
    killed = threading.Event()
    result: list[Any] = []

    def progress(done: int, total: int | None) -> None:
        if done >= 2 and not killed.is_set():
            killed.set()
            for child in multiprocessing.active_children():
                if child.name.startswith("redis-store fill"):
                    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
                    break

    result.append(
        fill_from_origin(
            open_store,
            functools.partial(_SlowOrigin, clair_db[0]),
            digests,
            jobs=2,
            on_progress=progress,
        )
    )
    res = result[0]
    assert killed.is_set()
    assert "died (killed by signal 9) while importing sha256:" in res.aborted, res
    assert len(res.imported) < len(digests)
    with open_store() as store:
        assert ops.check(store) == []
        assert sorted(d for _, d in ops.manifests(store)) == sorted(res.imported)


class _SlowOrigin(ClairDatabaseOrigin):
    """The database origin, a little slow per fetch (so a worker holds a report when it is
    killed)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=5.0)

    def fetch(self, digest: str) -> bytes | None:
        time.sleep(0.2)
        return super().fetch(digest)


@pytest.fixture
def cli(backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Cli:
    return make_cli(backend, monkeypatch, capsys)


def test_import_from_the_database(cli: Cli, clair_db: tuple[str, list[str]]) -> None:
    url, digests = clair_db
    jobs = 2 if cli.backend.real else 1  # worker processes cannot reach an in-process store
    run = cli("import", "--from", url, "--jobs", str(jobs), "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["imported"] == len(digests) and doc["failed"] == 0 and doc["jobs"] == jobs
    assert doc["processes"] == (jobs if jobs > 1 else 0)
    again = cli("import", "--from", url)
    assert again.code == 0 and f"skipped {len(digests)} (already here)" in again.out
    with cli.store() as store:
        assert ops.check(store) == []


def test_import_from_the_api_needs_digests(cli: Cli, tmp_path: Path) -> None:
    api = ClairAPI(REPORTS)
    try:
        run = cli("import", "--from", api.url)
        assert run.code == 2 and "--digests" in run.err
        listed = tmp_path / "digests.txt"
        listed.write_text("# wanted\n" + "\n".join([*REPORTS, ABSENT]) + "\n\n")
        api.faults[list(REPORTS)[-1]] = "500"
        run = cli("import", "--from", api.url, "--digests", str(listed), "--json")
        doc = run.json()
        assert run.code == 1  # one failed
        assert doc["imported"] == len(REPORTS) - 1 and doc["missing"] == 1
        assert doc["failed"] == 1 and "HTTP 500" in doc["failures"][0]["error"]
        bad = tmp_path / "bad.txt"
        bad.write_text("sha256:abc\n")
        run = cli("import", "--from", api.url, "--digests", str(bad))
        assert run.code == 2 and "line 1" in run.err
        run = cli("import", "x.json", "--from", api.url)
        assert run.code == 2 and "not both" in run.err
        run = cli("import", "--from", "ftp://clair")
        assert run.code == 2 and "neither" in run.err
    finally:
        api.stop()
    with cli.store() as store:
        assert ops.check(store) == []


def test_the_report_command_reads_through(cli: Cli, clair_db: tuple[str, list[str]]) -> None:
    url, _ = clair_db
    d = next(iter(REPORTS))
    run = cli("report", d)
    assert run.code == 1 and "no report" in run.err
    run = cli("report", d, "--through", url)  # a miss: fetched, imported, shown
    assert run.code == 0 and d in run.out and "read through" in run.err
    run = cli("report", d, "--through", url, "--json")  # a hit: Redis answers
    assert run.code == 0 and "read through" not in run.err
    assert orjson.loads(run.out)["manifest_hash"] == d
    run = cli("report", d)
    assert run.code == 0
    run = cli("report", ABSENT, "--through", url)
    assert run.code == 1 and "nor at postgresql://127.0.0.1" in run.err
    run = cli("report", d, "--through", "ftp://clair")
    assert run.code == 2 and "--through" in run.err
    with cli.store() as store:
        assert ops.check(store) == []
