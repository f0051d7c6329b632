"""The blocking store's direct wire (batches sent straight on connections of the client's
pool) on a real redis-server: it gives its connections back, so stores made and dropped on
one long-lived client never exhaust the client's pool."""

from __future__ import annotations

import gc

import redis

from redis_store import RedisStore, VersionedScanner
from tests.support.servers import RedisServer

A = VersionedScanner("a", "1", "package")


def test_dropped_stores_give_their_connections_back(redis_server: RedisServer) -> None:
    pool = redis.ConnectionPool.from_url(redis_server.url, max_connections=3)
    client = redis.Redis(connection_pool=pool)
    for i in range(20):  # more stores than the pool has connections
        store = RedisStore(client, namespace=f"wire{i}", local_cache=False)
        assert store._direct is not None  # the path under test
        store.register_scanners([A])
        assert store.layer_scanned("sha256:" + "a" * 64, A) is False
        del store
        gc.collect()
    assert len(pool._in_use_connections) == 0
    client.close()
