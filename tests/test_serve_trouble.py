"""The server under trouble, each case on a server of its own: Redis going away and coming
back, Clair's concurrency limit, SIGTERM with requests in flight, several workers sharing
one Redis, and an origin that is only Clair's database."""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.util
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from redis_store import IndexReport, RedisStore
from redis_store.demo import workload
from redis_store.ops import mirror
from tests.conftest import IN_CI
from tests.support import servers
from tests.support.clair_indexer import ClairIndexer
from tests.support.serve import start_tier
from tests.support.servers import RedisServer, start_redis
from tests.test_tier import REPORTS

pytestmark = [pytest.mark.real_only, pytest.mark.slow]

BASE = "/indexer/api/v1"
DIGESTS = list(REPORTS)
CATALOG = {str(r.hash): r.to_json() for r in workload.generate(2, seed=33)}


def _manifest(d: str) -> dict[str, Any]:
    layer = "sha256:" + hashlib.sha256(d.encode()).hexdigest()
    return {"hash": d, "layers": [{"hash": layer, "uri": "https://registry/blob", "headers": {}}]}


@pytest.fixture
def clair() -> Iterator[ClairIndexer]:
    api = ClairIndexer(REPORTS.values(), catalog=CATALOG.values())
    yield api
    api.stop()


def _redis_on(port: int) -> subprocess.Popen[bytes]:
    """A redis-server on ``port`` (a server that went away, back on its address)."""
    binary = servers.redis_server_binary()
    assert binary is not None
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    assert _until(lambda: _pings(client)), "redis-server did not come back"
    client.close()
    return process


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _until(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_redis_down_is_503_and_back_without_a_restart(clair: ClairIndexer) -> None:
    redis = start_redis()
    serve = start_tier(clair.url, redis.url, "t", "--redis-timeout", "1")
    port = redis.port
    try:
        url = serve.url + f"{BASE}/index_report/{DIGESTS[0]}"
        assert requests.get(url, timeout=10).status_code == 200
        redis.stop()
        down = requests.get(url, timeout=10)
        assert down.status_code == 503 and down.json()["code"] == "internal-error"
        assert "Redis" in down.json()["message"]
        assert _until(
            lambda: requests.get(serve.introspection + "/readyz", timeout=5).status_code == 503
        )
        back = _redis_on(port)  # back, empty, on the same address
        try:
            assert _until(lambda: requests.get(url, timeout=10).status_code == 200)
            assert _until(
                lambda: requests.get(serve.introspection + "/readyz", timeout=5).status_code == 200
            )
        finally:
            servers.stop_process(back)
    finally:
        assert serve.stop() == 0
        redis.stop()
    assert "Traceback" not in serve.log()


def test_clairs_concurrency_limit_answers_429(
    clair: ClairIndexer, redis_server: RedisServer
) -> None:
    serve = start_tier(clair.url, redis_server.url, "t429", "--concurrency", "1")
    clair.index_seconds = 1.5
    d = next(iter(CATALOG))
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            slow = pool.submit(
                requests.post, serve.url + f"{BASE}/index_report", json=_manifest(d), timeout=30
            )
            time.sleep(0.5)
            refused = requests.post(
                serve.url + f"{BASE}/index_report", json=_manifest(d), timeout=10
            )
            assert refused.status_code == 429
            assert refused.json() == {
                "code": "too-many-requests",
                "message": "server handling too many requests",
            }
            bulk = requests.delete(serve.url + f"{BASE}/index_report", json=[], timeout=10)
            assert bulk.status_code == 429  # every method on /index_report, as Clair
            affected = requests.post(
                serve.url + f"{BASE}/internal/affected_manifest/", json={}, timeout=10
            )
            assert affected.status_code == 429  # every POST under the prefix
            held = requests.get(serve.url + f"{BASE}/index_report/{DIGESTS[0]}", timeout=10)
            assert held.status_code == 200  # reads are never limited
            assert slow.result().status_code == 201
        assert (
            requests.post(
                serve.url + f"{BASE}/index_report", json=_manifest(d), timeout=30
            ).status_code
            == 201
        )
        time.sleep(1.2)
        metrics = requests.get(serve.introspection + "/metrics", timeout=10).text
        assert 'redis_store_serve_concurrency_limited_total{method="POST"' in metrics
    finally:
        assert serve.stop() == 0


def test_sigterm_drains_requests_in_flight(clair: ClairIndexer, redis_server: RedisServer) -> None:
    serve = start_tier(clair.url, redis_server.url, "tterm")
    clair.index_seconds = 2.0
    d = next(iter(CATALOG))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(
            requests.post, serve.url + f"{BASE}/index_report", json=_manifest(d), timeout=30
        )
        time.sleep(0.7)
        serve.process.send_signal(signal.SIGTERM)
        answer = in_flight.result()
    assert answer.status_code == 201 and answer.json()["manifest_hash"] == d
    assert serve.stop() == 0  # drained, then a clean exit
    with pytest.raises(requests.ConnectionError):
        requests.get(serve.url + "/robots.txt", timeout=2)
    store = RedisStore.from_url(redis_server.url, namespace="tterm", local_cache=False)
    try:
        assert store.index_report(d) is not None  # imported before it stopped
    finally:
        store.close()
    assert "Traceback" not in serve.log()


def test_two_workers_share_one_redis_and_stay_fresh(
    clair: ClairIndexer, redis_server: RedisServer
) -> None:
    serve = start_tier(clair.url, redis_server.url, "tw", "--workers", "2", "--not-found-ttl", "0")
    url = serve.url + f"{BASE}/index_report/{DIGESTS[0]}"
    try:
        assert _until(
            lambda: (
                len(requests.get(serve.introspection + "/readyz", timeout=5).json()["workers"]) == 2
            )
        )
        for _ in range(20):  # new connections: both workers answer, and keep it in memory
            assert requests.get(url, timeout=10).status_code == 200
        assert requests.delete(url, timeout=10).status_code == 204  # through one worker
        for _ in range(20):  # no worker answers from a stale memory
            assert requests.get(url, timeout=10).status_code == 404
        time.sleep(1.2)
        metrics = requests.get(serve.introspection + "/metrics", timeout=10).text
        workers = {
            line.split('worker="')[1].split('"')[0]
            for line in metrics.splitlines()
            if line.startswith("redis_store_serve_requests_total{")
        }
        assert len(workers) == 2
    finally:
        assert serve.stop() == 0
    assert "Traceback" not in serve.log()


# -- a database origin --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clair_database() -> Iterator[str]:
    if servers.postgres_bindir() is None or importlib.util.find_spec("psycopg") is None:
        if IN_CI:
            pytest.fail("CI=true but PostgreSQL or psycopg is missing: these tests must run")
        pytest.skip("PostgreSQL or psycopg is not installed")
    from benchmarks.clair_database import fill_clair_database

    server = servers.start_postgres()
    try:
        fill_clair_database(
            server.dsn, [IndexReport.from_json(r) for r in REPORTS.values()], fresh=True
        )
        yield f"clair+postgresql://{server.user}@127.0.0.1:{server.port}/{server.database}"
    finally:
        server.stop()


def test_only_a_database_origin(clair_database: str, redis_server: RedisServer) -> None:
    serve = start_tier(clair_database, redis_server.url, "tdb")
    store = RedisStore.from_url(redis_server.url, namespace="tdb", local_cache=False)
    try:
        d = DIGESTS[0]
        got = requests.get(serve.url + f"{BASE}/index_report/{d}", timeout=10)
        assert got.status_code == 200 and got.json()["manifest_hash"] == d
        assert "etag" not in got.headers  # no state without Clair's API
        assert store.index_report(d) is not None
        for method, path in (
            ("GET", f"{BASE}/index_state"),
            ("POST", f"{BASE}/index_report"),
            ("DELETE", f"{BASE}/index_report/{d}"),
            ("GET", f"/matcher/api/v1/vulnerability_report/{d}"),
        ):
            r = requests.request(method, serve.url + path, json=_manifest(d), timeout=10)
            assert r.status_code == 501, (method, path)
            assert "indexer API" in r.json()["message"]
        path = serve.url + f"{BASE}/internal/affected_manifest/"
        body = {"vulnerabilities": [{"id": "1", "package": {"name": "openssl"}}]}
        assert requests.post(path, json=body, timeout=10).status_code == 503  # not complete
        start = mirror.begin_fill(store)
        for raw in REPORTS.values():
            store.import_report(IndexReport.from_json(raw))
        mirror.mark_complete(store, start, origin=clair_database)
        assert requests.post(path, json=body, timeout=10).status_code == 200
    finally:
        store.close()
        assert serve.stop() == 0
    assert "Traceback" not in serve.log()


def test_both_origins_misses_read_the_database(
    clair_database: str, clair: ClairIndexer, redis_server: RedisServer
) -> None:
    serve = start_tier(clair.url, redis_server.url, "tboth", "--origin", clair_database)
    try:
        d = DIGESTS[1]
        got = requests.get(serve.url + f"{BASE}/index_report/{d}", timeout=10)
        assert got.status_code == 200 and got.headers["etag"]
        assert clair.count("GET", f"{BASE}/index_report/{d}") == 0  # read from the database
        posted = requests.post(
            serve.url + f"{BASE}/index_report", json=_manifest(next(iter(CATALOG))), timeout=10
        )
        assert posted.status_code == 201  # the API indexes
    finally:
        assert serve.stop() == 0


def test_the_origin_gone_is_502_while_held_reports_answer(
    clair: ClairIndexer, redis_server: RedisServer
) -> None:
    serve = start_tier(clair.url, redis_server.url, "tgone", "--state-ttl", "1")
    held, missing = DIGESTS[0], DIGESTS[1]
    try:
        assert requests.get(serve.url + f"{BASE}/index_report/{held}", timeout=10).ok
        clair.stop()  # nothing listens there any more
        time.sleep(1.1)  # past --state-ttl
        miss = requests.get(serve.url + f"{BASE}/index_report/{missing}", timeout=10)
        assert miss.status_code == 502 and "cannot be reached" in miss.json()["message"]
        assert requests.get(serve.url + f"{BASE}/index_state", timeout=10).status_code == 502
        posted = requests.post(
            serve.url + f"{BASE}/index_report", json=_manifest(missing), timeout=10
        )
        assert posted.status_code == 502 and posted.json()["code"] == "internal-error"
        for _ in range(5):
            hit = requests.get(serve.url + f"{BASE}/index_report/{held}", timeout=10)
            assert hit.status_code == 200 and hit.headers["etag"]  # the state last heard
    finally:
        assert serve.stop() == 0
    assert "Traceback" not in serve.log()
