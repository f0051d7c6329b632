"""One suite, ten stores: {fakeredis, real redis-server, Redis Cluster} x {sync, asyncio},
and on the real backends with the local cache on and off.

The real server is started from the ``redis-server`` binary on a free loopback port; the
cluster from the same binary (three primaries, one replica each) and ``redis-cli --cluster
create``. Without the binaries those backends skip, unless ``CI=true``, where they must run.
A store a test builds itself has the library's default (the cache on, on a real server).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from redis_store import AsyncRedisStore, RedisStore
from tests.support.adapters import BlockingAsyncStore
from tests.support.cache import start_cache
from tests.support.servers import (
    RedisClusterServers,
    RedisServer,
    redis_cli_binary,
    redis_server_binary,
    start_cluster,
    start_redis,
)

SHARED_TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "claircore"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require(binaries: dict[str, str | None], backend: str) -> None:
    """Skip (fail under CI) when a binary the backend runs on is missing."""
    missing = [name for name, path in binaries.items() if path is None]
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true but {', '.join(missing)} not installed: the {backend} must run")
        pytest.skip(f"{', '.join(missing)} not installed: {backend} tests skipped")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    _require({"redis-server": redis_server_binary()}, "real backend")
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    _require(
        {"redis-server": redis_server_binary(), "redis-cli": redis_cli_binary()},
        "cluster backend",
    )
    cluster = start_cluster()
    yield cluster
    cluster.stop()


class Backend:
    """Makes clients of one backend; every test starts from an empty database."""

    def __init__(self, kind: str, server: RedisServer | RedisClusterServers | None) -> None:
        self.kind = kind
        self.server = server
        self.fake_server = fakeredis.FakeServer() if server is None else None

    @property
    def real(self) -> bool:
        """A real Redis (a server or a cluster), not fakeredis."""
        return self.server is not None

    @property
    def cluster(self) -> bool:
        return isinstance(self.server, RedisClusterServers)

    @property
    def url(self) -> str | None:
        return None if self.server is None else self.server.url

    def client(self) -> Any:
        if self.server is not None:
            return self.server.client()
        return fakeredis.FakeRedis(server=self.fake_server)

    def async_client(self) -> Any:
        if self.server is not None:
            return self.server.async_client()
        return fakeredis.FakeAsyncRedis(server=self.fake_server)


@pytest.fixture(params=["fake", "real", "cluster"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each test once per backend. A test marked ``single_node(reason)`` skips the cluster."""
    if request.param == "fake":
        yield Backend("fake", None)
        return
    single = request.node.get_closest_marker("single_node")
    if request.param == "cluster" and single is not None:
        pytest.skip(f"single-node only: {single.kwargs.get('reason') or single.args[0]}")
    server = request.getfixturevalue("redis_server" if request.param == "real" else "redis_cluster")
    server.flush()
    yield Backend(request.param, server)


@pytest.fixture(params=["cache", "nocache"])
def cache(request: pytest.FixtureRequest) -> bool:
    """The local cache on or off (fakeredis has none: only ``nocache`` runs there)."""
    return bool(request.param == "cache")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """fakeredis has no client tracking: its ``cache`` variant would repeat ``nocache``."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        p = params.params if params is not None else {}
        (drop if p.get("backend") == "fake" and p.get("cache") == "cache" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(params=["sync", "async"])
def store(request: pytest.FixtureRequest, backend: Backend, cache: bool) -> Iterator[Any]:
    """A store under test: RedisStore, or AsyncRedisStore behind a blocking adapter."""
    if request.param == "sync":
        s = RedisStore(backend.client(), namespace="test", local_cache=cache)
        if cache:
            start_cache(s)
        yield s
        s.close()
    else:
        loop = asyncio.new_event_loop()
        a = AsyncRedisStore(backend.async_client(), namespace="test", local_cache=cache)
        if cache:
            start_cache(a)
        yield BlockingAsyncStore(a, loop)
        loop.run_until_complete(a.close())
        loop.close()


@pytest.fixture
def sync_store(backend: Backend) -> Iterator[RedisStore]:
    """A plain RedisStore, for tests about the sync front end itself."""
    s = RedisStore(backend.client(), namespace="test")
    yield s
    s.close()


def pytest_report_header() -> list[str]:
    server, cli = redis_server_binary(), redis_cli_binary()
    return [
        f"redis-server: {server or 'not installed (real and cluster backends skipped)'};"
        f" redis-cli: {cli or 'not installed (cluster backend skipped)'}; CI={IN_CI}"
    ]
