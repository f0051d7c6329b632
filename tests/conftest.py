"""One suite, four stores: {fakeredis, real redis-server} x {sync, asyncio}.

The real server is started from the ``redis-server`` binary on a free loopback port. Without
the binary the real-backend tests skip, unless ``CI=true``, where they must run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio

from redis_store import AsyncRedisStore, RedisStore
from tests.support.adapters import BlockingAsyncStore
from tests.support.server import RedisServer, redis_server_binary, start_redis

SHARED_TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "claircore"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        if IN_CI:
            pytest.fail("CI=true but redis-server is not installed: the real backend must run")
        pytest.skip("redis-server is not installed: real-backend tests skipped")
    server = start_redis()
    yield server
    server.stop()


class Backend:
    """Makes clients of one backend; every test starts from an empty database."""

    def __init__(self, kind: str, server: RedisServer | None) -> None:
        self.kind = kind
        self.server = server
        self.fake_server = fakeredis.FakeServer() if server is None else None

    @property
    def real(self) -> bool:
        return self.server is not None

    def client(self) -> Any:
        if self.server is not None:
            return redis.Redis(host="127.0.0.1", port=self.server.port)
        return fakeredis.FakeRedis(server=self.fake_server)

    def async_client(self) -> Any:
        if self.server is not None:
            return redis.asyncio.Redis(host="127.0.0.1", port=self.server.port)
        return fakeredis.FakeAsyncRedis(server=self.fake_server)


@pytest.fixture(params=["fake", "real"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "real":
        server = request.getfixturevalue("redis_server")
        server.client().flushall()
        yield Backend("real", server)
    else:
        yield Backend("fake", None)


@pytest.fixture(params=["sync", "async"])
def store(request: pytest.FixtureRequest, backend: Backend) -> Iterator[Any]:
    """A store under test: RedisStore, or AsyncRedisStore behind a blocking adapter."""
    if request.param == "sync":
        s = RedisStore(backend.client(), namespace="test")
        yield s
        s.close()
    else:
        loop = asyncio.new_event_loop()
        a = AsyncRedisStore(backend.async_client(), namespace="test")
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
    binary = redis_server_binary()
    return [f"redis-server: {binary or 'not installed (real backend skipped)'}; CI={IN_CI}"]
