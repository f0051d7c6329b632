"""Every page's examples as written: the README and docs/ (see tests/support/doccheck.py).

Python blocks run (on an in-process fakeredis), console sessions run against a real Redis
(and PostgreSQL, and claircore's reports in ``../shared``, where a session needs them) with
their output compared to the page, every command line shown parses, every link and anchor
leads somewhere, and every ``redis_store.*`` name the pages give exists.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from redis_store import AsyncRedisStore, RedisStore
from redis_store.cli import build_parser
from tests.conftest import IN_CI, SHARED_TESTDATA, _require
from tests.support.doccheck import (
    PAGE_POSTGRES,
    PAGE_REDIS,
    Shell,
    blocks,
    differences,
    redis_store_argv,
    scratch_checkout,
    server_settings,
    steps,
)
from tests.support.servers import (
    PostgresServer,
    postgres_bindir,
    redis_server_binary,
    start_postgres,
    start_redis,
)

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "BENCHMARKS.md"]
ALL = {page: blocks(page) for page in PAGES}


def _ids(pages: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in pages]


# -- links and names ------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m) for m in re.findall(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_links_lead_somewhere(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        where = page if not path else (page.parent / path).resolve()
        assert where.exists(), f"{page.name}: link to {target}: no such file"
        if anchor and where.suffix == ".md":
            assert anchor in _anchors(where), f"{page.name}: link to {target}: no such heading"


#: Names the code emits (span attributes, the logger's name): documented, not importable.
EMITTED = {
    name
    for path in (ROOT / "redis_store").rglob("*.py")
    for name in re.findall(r"[\"'](redis_store(?:\.\w+)+)[\"']", path.read_text())
}


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_names_exist(page: Path) -> None:
    """Every ``redis_store.x.y`` a page names is a module or an attribute of one (or a name
    the code emits); every ``scripts/x.py`` is a file."""
    text = page.read_text()
    for name in sorted(set(re.findall(r"\bredis_store(?:\.\w+)+", text)) - EMITTED):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj: Any = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"{page.name}: {name}: no {attr}"
                obj = getattr(obj, attr)
            break
    for script in sorted(set(re.findall(r"\bscripts/[\w-]+\.py", text))):
        assert (ROOT / script).is_file(), f"{page.name}: {script} does not exist"


# -- command lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_command_lines_parse(page: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every ``redis-store`` command a page shows is one the command line accepts."""
    parser = build_parser()
    for b in ALL[page]:
        if b.info not in ("console", "sh", "shell", "bash"):
            continue
        shown = steps(b) if b.info == "console" else []
        # a command shown failing with a usage error is meant to
        refused = {s.command for s in shown if any(": error: " in x for x in s.shown)}
        lines = [s.command for s in shown] if shown else b.body.splitlines()
        for line in (x for x in lines if x not in refused):
            for argv in redis_store_argv(line):
                if "--help" in argv or "--version" in argv:
                    continue
                try:
                    parser.parse_args(argv)
                except SystemExit as e:
                    err = capsys.readouterr().err.strip().splitlines()[-1:]
                    pytest.fail(f"{b.where()}: redis-store {shlex.join(argv)}: {e.code} {err}")


# -- Python ----------------------------------------------------------------------------------


@pytest.fixture
def fake_from_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """``from_url`` gives stores on one in-process fakeredis, whatever the URL."""
    server = fakeredis.FakeServer()

    def options(cls: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        known = inspect.signature(cls.__init__).parameters
        return {k: v for k, v in kwargs.items() if k in known}

    def sync_from_url(cls: Any, url: str, **kwargs: Any) -> RedisStore:
        return cls(fakeredis.FakeRedis(server=server), **options(cls, kwargs))

    def async_from_url(cls: Any, url: str, **kwargs: Any) -> AsyncRedisStore:
        return cls(fakeredis.FakeAsyncRedis(server=server), **options(cls, kwargs))

    monkeypatch.setattr(RedisStore, "from_url", classmethod(sync_from_url))
    monkeypatch.setattr(AsyncRedisStore, "from_url", classmethod(async_from_url))


PYTHON_PAGES = [p for p in PAGES if any(b.info in ("python", "py") for b in ALL[p])]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_ids(PYTHON_PAGES))
def test_python_runs_as_written(page: Path, fake_from_url: None) -> None:
    """A page's ``python`` blocks run in order, each as a fresh program; ``py`` blocks (a
    Sentinel, a cluster) compile."""
    for b in ALL[page]:
        if b.info == "py":
            compile(b.body, b.where(), "exec")
        elif b.info == "python":
            try:
                exec(compile(b.body, b.where(), "exec"), {"__name__": "__main__"})
            except Exception as e:
                raise AssertionError(f"{b.where()}: {type(e).__name__}: {e}") from e
            finally:
                asyncio.set_event_loop(asyncio.new_event_loop())


# -- console sessions ------------------------------------------------------------------------


def _sessions() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for page in PAGES:
        for b in ALL[page]:
            if b.session and (page, b.session) not in found:
                found.append((page, b.session))
    return found


SESSIONS = _sessions()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if postgres_bindir() is None:
        if IN_CI:
            pytest.fail("CI=true but PostgreSQL is not installed: the docs' sessions need it")
        pytest.skip("PostgreSQL is not installed")
    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.mark.parametrize(("page", "session"), SESSIONS, ids=[f"{p.name}:{s}" for p, s in SESSIONS])
def test_session_prints_what_the_page_shows(
    page: Path, session: str, request: pytest.FixtureRequest
) -> None:
    mine = [b for b in ALL[page] if b.session == session]
    needs = frozenset().union(*(b.needs for b in mine))
    _require({"redis-server": redis_server_binary()}, "real backend")
    shared = SHARED_TESTDATA.parent.parent if "shared" in needs else None
    if shared is not None and not SHARED_TESTDATA.is_dir():
        pytest.skip(f"no claircore reports in {SHARED_TESTDATA}: the session reads them")
    pg: PostgresServer | None = request.getfixturevalue("postgres") if "postgres" in needs else None
    all_steps = [s for b in mine for s in steps(b)]
    server_args: list[str] = []
    for s in all_steps:
        if s.command.startswith("redis-server "):
            server_args = server_settings(s.command)
    server = start_redis(*server_args)
    work = scratch_checkout(ROOT, shared)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CLAIR_DB")},
        "PATH": f"{work.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": server.url,
        "COLUMNS": "100",
    }
    redis_at = f"127.0.0.1:{server.port}"
    pg_at = "" if pg is None else f"127.0.0.1:{pg.port}"
    shell = Shell(work, env)
    failures: list[str] = []
    try:
        for s in all_steps:
            if s.command.startswith("redis-server "):
                continue
            command = s.command.replace(PAGE_REDIS, redis_at)
            if pg_at:
                command = command.replace(PAGE_POSTGRES, pg_at)
            got, _ = shell.run(command)
            wrong = differences(s.shown, got)
            if wrong:
                failures.append(f"{s.block.where()}: $ {s.command}\n{wrong}")
    finally:
        shell.close()
        server.stop()
    assert not failures, "\n\n".join(failures)
