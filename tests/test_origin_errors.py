"""An origin that is wrong or out of reach, said as a Redis one is: checked before the command
does anything, one line on stderr naming the origin (no summary of nothing, no library
error), exit 2 when its URL or setup is wrong (running again cannot help), 1 when it is out
of reach or failing for now. On a real PostgreSQL (a database with no claircore tables, a
role or database that does not exist, a port that is not PostgreSQL) and real HTTP servers
(one that is not Clair, a Clair that refuses the token).
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from redis_store import OriginError
from redis_store.tier import ClairDatabaseOrigin, ClairIndexerOrigin
from redis_store.tier.diagnose import pg_startup
from tests.support.clair import ClairAPI
from tests.support.servers import PostgresServer, RedisServer, free_port
from tests.test_cli_operators import env, postgres  # noqa: F401 - the fixture

DIGEST = "sha256:" + "ab" * 32


class _NotClair(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()


@pytest.fixture(scope="module")
def not_clair() -> Iterator[str]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _NotClair)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def clair() -> Iterator[ClairAPI]:
    api = ClairAPI({}, token="s3cret")
    yield api
    api.stop()


#: case -> (command line, exit status, what the one line says)
Cases = dict[str, tuple[list[str], int, tuple[str, ...]]]


@pytest.fixture(scope="module")
def outcomes(
    redis_server: RedisServer,
    postgres: PostgresServer,  # noqa: F811 - the fixture
    not_clair: str,
    clair: ClairAPI,
) -> tuple[Cases, dict[str, tuple[int, str, str]]]:
    """Every case at once (each a second's start-up, in parallel), checked one a test."""
    pg, down = f"clair+postgresql://bench@127.0.0.1:{postgres.port}", free_port()
    cases: Cases = {
        "database-refused": (
            ["import", "--from", f"clair+postgresql://bench@127.0.0.1:{down}/postgres"],
            1,
            ("cannot reach Clair's database at postgresql://127.0.0.1:", "refused"),
        ),
        "database-without-claircore-tables": (
            ["import", "--from", f"{pg}/postgres"],
            2,
            ("not Clair's indexer database", "42P01"),
        ),
        "role-that-does-not-exist": (
            ["import", "--from", f"clair+postgresql://nobody@127.0.0.1:{postgres.port}/postgres"],
            2,
            ("refused the user", "28000", 'role "nobody"'),
        ),
        "database-that-does-not-exist": (
            ["import", "--from", f"{pg}/nodb"],
            2,
            ("no such database", "3D000"),
        ),
        "a-redis-port-given-as-postgresql": (
            ["import", "--from", f"clair+postgresql://bench@127.0.0.1:{redis_server.port}/x"],
            2,
            ("does not speak the PostgreSQL protocol: it is redis",),
        ),
        "report-through-a-database-without-claircore-tables": (
            ["report", DIGEST, "--through", f"{pg}/postgres"],
            2,
            ("not Clair's indexer database",),
        ),
        "http-that-is-not-clair": (
            ["import", "--from", not_clair, "--digests", "-"],
            2,
            ("not Clair's indexer API", "HTTP 404"),
        ),
        "clair-refusing-the-token": (
            ["import", "--from", clair.url, "--digests", "-", "--token", "wrong"],
            2,
            ("refused the request", "HTTP 401", "--token"),
        ),
        "http-refused": (
            ["report", DIGEST, "--through", f"http://127.0.0.1:{down}"],
            1,
            ("cannot reach Clair at http://127.0.0.1:", "refused"),
        ),
    }
    procs = {
        case: subprocess.Popen(
            [sys.executable, "-m", "redis_store", *argv, "--namespace", "origin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(redis_server.url),
        )
        for case, (argv, _, _) in cases.items()
    }
    results = {}
    for case, proc in procs.items():
        out, err = proc.communicate(input=DIGEST + "\n", timeout=120)
        results[case] = (proc.returncode, out, err)
    return cases, results


@pytest.mark.parametrize(
    "case",
    [
        "database-refused",
        "database-without-claircore-tables",
        "role-that-does-not-exist",
        "database-that-does-not-exist",
        "a-redis-port-given-as-postgresql",
        "report-through-a-database-without-claircore-tables",
        "http-that-is-not-clair",
        "clair-refusing-the-token",
        "http-refused",
    ],
)
def test_origin_failure(outcomes: tuple[Cases, dict[str, tuple[int, str, str]]], case: str) -> None:
    cases, results = outcomes
    argv, status, expected = cases[case]
    code, out, err = results[case]
    assert code == status, err
    assert out == ""  # nothing was done: no summary
    assert "Traceback" not in err and "OperationalError" not in err and "UndefinedTable" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"redis-store {argv[0]}: ") and "s3cret" not in lines[0]
    for text in expected:
        assert text in lines[0], lines[0]


def test_a_report_that_fails_names_its_digest_once(
    redis_server: RedisServer, clair: ClairAPI
) -> None:
    clair.reports[DIGEST] = b"{}"
    clair.faults[DIGEST] = "500"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "redis_store", "import", "--from", clair.url),
            *("--digests", "-", "--token", "s3cret", "--namespace", "origin"),
        ],
        input=DIGEST + "\n",
        capture_output=True,
        text=True,
        env=env(redis_server.url),
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    (line,) = [x for x in run.stderr.splitlines() if "HTTP 500" in x]
    assert line.count(DIGEST) == 1, line


def test_the_library_checks_say_the_same(
    postgres: PostgresServer,  # noqa: F811 - the fixture
    not_clair: str,
) -> None:
    """``check()`` on the origins: what the command line says, for a library user."""
    empty = ClairDatabaseOrigin(f"postgresql://bench@127.0.0.1:{postgres.port}/postgres")
    with pytest.raises(OriginError, match="not Clair's indexer database") as e:
        empty.check()
    assert e.value.misconfigured
    empty.close()
    api = ClairIndexerOrigin(not_clair)
    with pytest.raises(OriginError, match="not Clair's indexer API") as e:
        api.check()
    assert e.value.misconfigured
    answer = pg_startup("127.0.0.1", postgres.port, "nobody", "postgres", 5.0)
    assert answer is not None and answer.sqlstate == "28000"
