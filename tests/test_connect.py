"""Store URLs: every form parses to the right redis-py client and options; bad ones fail
clearly. No server is needed (redis-py connects lazily; the sync cluster client's eager
discovery is stubbed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

from redis_store import AsyncRedisStore, InvalidInputError, RedisStore
from redis_store.store import connect
from redis_store.store.connect import client_from_url, failover_retry, parse


@pytest.fixture
def no_cluster_discovery(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(redis.cluster.NodesManager, "initialize", lambda self, **kw: None)
    monkeypatch.setattr(redis.cluster, "CommandsParser", lambda client: None)
    yield


def test_standalone_forms() -> None:
    p = parse("redis://u:p%40ss@db.example:6380/3?socket_timeout=2.5")
    assert (p.family, p.tls) == ("standalone", False)
    assert p.options == {
        "username": "u",
        "password": "p@ss",
        "host": "db.example",
        "port": 6380,
        "db": 3,
        "socket_timeout": 2.5,
    }
    assert parse("rediss://h/0?ssl_cert_reqs=none").options["ssl_cert_reqs"] == "none"
    assert parse("rediss://h").tls
    assert parse("unix:///run/redis.sock?db=2").options == {"path": "/run/redis.sock", "db": 2}


def test_standalone_clients() -> None:
    c = client_from_url("rediss://h:1/2?ssl_ca_certs=/ca.pem", ssl_certfile="/c.pem")
    kw = c.get_connection_kwargs()
    assert isinstance(c, redis.Redis) and c.connection_pool.connection_class is redis.SSLConnection
    assert (kw["ssl_ca_certs"], kw["ssl_certfile"], kw["db"]) == ("/ca.pem", "/c.pem", 2)
    assert kw["decode_responses"] is False
    a = client_from_url("redis://h", asyncio=True)
    assert isinstance(a, redis.asyncio.Redis)
    asyncio.run(a.aclose())
    u = client_from_url("unix:///tmp/r.sock")
    assert u.connection_pool.connection_class is redis.UnixDomainSocketConnection


def test_sentinel_form() -> None:
    p = parse(
        "rediss+sentinel://app:pw@s1:5000,s2,[::1]:5002/mymaster/4"
        "?sentinel_password=spw&sentinel_ssl=false&ssl_ca_certs=/ca&socket_timeout=3"
    )
    assert (p.family, p.tls, p.service) == ("sentinel", True, "mymaster")
    assert p.hosts == [("s1", 5000), ("s2", 26379), ("::1", 5002)]
    assert p.options == {
        "username": "app",
        "password": "pw",
        "db": 4,
        "ssl_ca_certs": "/ca",
        "socket_timeout": 3.0,
    }
    assert p.sentinel == {"sentinel_password": "spw", "sentinel_ssl": False}


def test_sentinel_client() -> None:
    c = client_from_url(
        "rediss+sentinel://app:pw@s1:5000,s2/mymaster?sentinel_password=spw&ssl_ca_certs=/ca"
    )
    assert isinstance(c, redis.Redis)
    pool = c.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert pool.service_name == "mymaster" and pool.is_master
    assert pool.connection_class is connect.RediscoveringSSLConnection
    kw = pool.connection_kwargs
    assert (kw["username"], kw["password"], kw["ssl_ca_certs"]) == ("app", "pw", "/ca")
    assert isinstance(kw["retry"]._backoff, connect.FailoverBackoff)
    manager = pool.sentinel_manager
    assert [s.get_connection_kwargs()["host"] for s in manager.sentinels] == ["s1", "s2"]
    skw = manager.sentinels[0].get_connection_kwargs()
    # rediss+sentinel: the sentinels use TLS too (sentinel_ssl defaults to the scheme)
    assert manager.sentinel_kwargs["ssl"] is True and skw["password"] == "spw"
    assert manager.sentinel_kwargs["ssl_ca_certs"] == "/ca"


def test_sentinel_client_plain_with_tls_sentinels_and_kwargs() -> None:
    mine = redis.retry.Retry(redis.backoff.NoBackoff(), 1)
    c = client_from_url(
        "redis+sentinel://s1/svc/1?sentinel_ssl=true",
        sentinel_username="watcher",
        retry=mine,
        sentinel_kwargs={"socket_timeout": 0.25},
    )
    pool = c.connection_pool
    assert pool.connection_class is connect.RediscoveringConnection
    assert pool.connection_kwargs["db"] == 1
    assert pool.connection_kwargs["retry"] == mine
    skw = pool.sentinel_manager.sentinel_kwargs
    assert (skw["ssl"], skw["username"], skw["socket_timeout"]) == (True, "watcher", 0.25)


def test_async_sentinel_client() -> None:
    c = client_from_url("redis+sentinel://s1:1/svc", asyncio=True)
    assert isinstance(c, redis.asyncio.Redis)
    pool = c.connection_pool
    assert isinstance(pool, redis.asyncio.sentinel.SentinelConnectionPool)
    assert pool.connection_class is connect.AsyncRediscoveringConnection
    assert isinstance(pool.connection_kwargs["retry"], redis.asyncio.retry.Retry)
    asyncio.run(c.aclose())


def test_cluster_clients(no_cluster_discovery: None) -> None:
    p = parse("rediss+cluster://u:pw@n1:7000,n2:7001?ssl_ca_certs=/ca")
    assert (p.family, p.tls, p.hosts) == ("cluster", True, [("n1", 7000), ("n2", 7001)])
    c = client_from_url("rediss+cluster://u:pw@n1:7000,n2:7001?ssl_ca_certs=/ca")
    assert isinstance(c, redis.cluster.RedisCluster)
    assert sorted(c.nodes_manager.startup_nodes) == ["n1:7000", "n2:7001"]
    kw = c.nodes_manager.connection_kwargs
    assert (kw["username"], kw["password"], kw["ssl_ca_certs"]) == ("u", "pw", "/ca")
    assert kw["ssl"] is True
    assert kw["decode_responses"] is False
    a = client_from_url("redis+cluster://n1", asyncio=True)
    assert isinstance(a, redis.asyncio.cluster.RedisCluster)
    assert [(n.host, n.port) for n in a.nodes_manager.startup_nodes.values()] == [("n1", 6379)]


def test_wait_replicas_refused_on_cluster(no_cluster_discovery: None) -> None:
    with pytest.raises(InvalidInputError, match="not supported on Redis Cluster"):
        RedisStore.from_url("redis+cluster://n1:7000", wait_replicas=1)
    with pytest.raises(InvalidInputError, match="not supported on Redis Cluster"):
        AsyncRedisStore.from_url("redis+cluster://n1:7000", wait_replicas=1)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://h", "scheme"),
        ("h:6379", "scheme"),
        ("redis://h:port", "port"),
        ("redis://h:99999", "(?i)port"),
        ("redis://h/abc", "db"),
        ("redis+sentinel://s1:26379", "service"),
        ("redis+sentinel://s1:26379/", "service"),
        ("redis+sentinel://s1:x/svc", "port"),
        ("redis+sentinel://s1:0/svc", "port"),
        ("redis+sentinel://s1/svc/x", "db"),
        ("redis+sentinel:///svc", "host"),
        ("redis+sentinel://s1,,s2/svc", "host"),
        ("redis+cluster://n1:7000/1", "path"),
        ("redis+cluster://n1?db=1", "db 0"),
        ("redis+cluster://n1?sentinel_password=x", "Sentinel"),
        ("redis+cluster://[::1:7000", "IPv6"),
        ("redis://h?decode_responses=true", "decode_responses"),
        ("redis://h?socket_timeout=soon", "socket_timeout"),
    ],
)
def test_malformed_urls(url: str, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why):
        client_from_url(url)


def test_errors_never_show_the_password() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse("redis+sentinel://u:hunter2@s1:bad/svc")
    assert "hunter2" not in str(caught.value)


def test_decode_responses_refused() -> None:
    with pytest.raises(InvalidInputError, match="decode_responses"):
        client_from_url("redis://h", decode_responses=True)


def test_failover_retry_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    retry = failover_retry(0.3)
    calls: list[int] = []

    def down() -> Any:
        calls.append(1)
        raise redis.ConnectionError("down")

    with pytest.raises(redis.ConnectionError, match="down"):
        retry.call_with_retry(down, lambda error: None)
    assert 2 <= len(calls) < 30  # gave up on time, not on the count
    assert isinstance(failover_retry(asyncio=True), redis.asyncio.retry.Retry)
    with pytest.raises(InvalidInputError):
        failover_retry(0)


def test_store_options_checked() -> None:
    client = fakeredis.FakeRedis()
    for bad in ({"wait_replicas": -1}, {"wait_replicas": True}, {"wait_timeout": 0}):
        with pytest.raises(InvalidInputError):
            RedisStore(client, **bad)  # type: ignore[arg-type]
