"""The library's HTTP origin keeps its connections: many fetches, from several threads, over
a few keep-alive connections, and a connection the origin dropped while idle is replaced
without the fetch failing."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import orjson
import pytest

from redis_store import ClairIndexerOrigin, OriginError
from tests.support.clair_indexer import ClairIndexer
from tests.test_tier import REPORTS

ABSENT = "sha256:" + "0" * 64


@pytest.fixture
def clair() -> Iterator[ClairIndexer]:
    api = ClairIndexer(REPORTS.values())
    yield api
    api.stop()


def test_fetches_reuse_connections(clair: ClairIndexer) -> None:
    origin = ClairIndexerOrigin(clair.url, timeout=5.0)
    try:
        for _ in range(10):
            for d in REPORTS:
                assert orjson.loads(origin.fetch(d) or b"")["manifest_hash"] == d
            assert origin.fetch(ABSENT) is None  # a 404 keeps the connection too
        assert origin.connections_opened == 1
        assert clair.connections == 1
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            got = list(pool.map(origin.fetch, list(REPORTS) * 25))
        assert all(g is not None for g in got)
        assert origin.connections_opened <= 5  # at most one more per thread
        assert clair.connections == origin.connections_opened
    finally:
        origin.close()


def test_a_connection_dropped_while_idle_is_replaced(clair: ClairIndexer) -> None:
    origin = ClairIndexerOrigin(clair.url, timeout=5.0)
    d = next(iter(REPORTS))
    try:
        assert origin.fetch(d) is not None
        clair.faults[ABSENT] = "drop"  # the origin closes the connection without answering
        with pytest.raises(OriginError):
            origin.fetch(ABSENT)  # a fresh connection dropped: that is a failure
        assert origin.fetch(d) is not None  # and the pool is not poisoned by it
        opened = origin.connections_opened
        origin.close()  # like an origin closing idle connections
        assert origin.fetch(d) is not None
        assert origin.connections_opened == opened + 1
    finally:
        origin.close()


def test_errors_keep_their_messages(clair: ClairIndexer) -> None:
    origin = ClairIndexerOrigin(clair.url, timeout=0.5)
    d = next(iter(REPORTS))
    try:
        clair.faults[d] = "500"
        with pytest.raises(OriginError, match="HTTP 500"):
            origin.fetch(d)
        clair.faults[d] = "slow"
        clair.slow_seconds = 1.0
        with pytest.raises(OriginError, match="timed out"):
            origin.fetch(d)
        clair.faults.clear()
        assert origin.fetch(d) is not None
    finally:
        origin.close()
