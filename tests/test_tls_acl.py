"""TLS and least-privilege ACL users: the whole store through ``rediss://`` as a user that may
run only :data:`redis_store.acl.STORE_COMMANDS` on ``ns:*`` keys, and the ops functions as a
user with :data:`redis_store.acl.OPS_COMMANDS` on top. Any command the store needs and the
rules lack would fail the cycle, and the server's ``ACL LOG`` must stay empty."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

import redis_store.store
from redis_store import (
    AsyncRedisStore,
    DurabilityError,
    IndexReport,
    RedisStore,
    acl,
    ops,
    replay,
)
from redis_store.demo import workload
from redis_store.scripts import NAMES, source
from tests.conftest import IN_CI
from tests.support.servers import redis_server_binary
from tests.support.tls import Certs, TlsRedisServer, make_certs, openssl_binary, start_tls_redis

pytestmark = pytest.mark.real_only

NS = "ns"
PASSWORD = "s3cret-pass"


def need(binary: str | None, name: str) -> None:
    if binary is None:
        if IN_CI:
            pytest.fail(f"CI=true but {name} is not installed: the TLS/ACL tests must run")
        pytest.skip(f"{name} is not installed: TLS/ACL tests skipped")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    need(openssl_binary(), "openssl")
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def server(certs: Certs) -> Iterator[TlsRedisServer]:
    need(redis_server_binary(), "redis-server")
    s = start_tls_redis(certs)
    with s.admin() as admin:
        admin.execute_command(*acl.setuser_command("indexer", PASSWORD, NS))
        admin.execute_command(*acl.setuser_command("fsck", PASSWORD, NS, ops=True))
    yield s
    s.stop()


@pytest.fixture
def admin(server: TlsRedisServer) -> Iterator[redis.Redis]:
    """The default user; the namespace is emptied and the ACL log reset for each test."""
    with server.admin() as client:
        client.flushall()
        client.execute_command("ACL", "LOG", "RESET")
        yield client


def url(server: TlsRedisServer, user: str, *, certs_in_query: bool = True) -> str:
    query = urlencode(server.certs.client_kwargs()) if certs_in_query else ""
    return f"rediss://{user}:{PASSWORD}@127.0.0.1:{server.port}/0?{query}"


def denials(admin: redis.Redis) -> list[Any]:
    return list(admin.execute_command("ACL", "LOG"))


def workload_cycle(store: Any) -> None:
    """Index, read, match, lock and delete: every kind of store call (blocking API)."""
    reports = list(workload.generate(4, seed=5))
    finished = [replay.replay(store, r) for r in reports]
    digests = [r.hash for r in finished]
    for r in finished:
        assert r.hash is not None
        got = store.index_report(r.hash)
        assert got == IndexReport.from_json(r.to_json())
        layer = next(iter((r.environments or {}).values()))[0].introduced_in
        assert store.packages_by_layer(layer, replay.plan(r).scanners)
    vulns = workload.sample_vulnerabilities(reports, 20, seed=5)
    affected = store.affected_manifests_batch(vulns)
    assert affected.vulnerable_manifests
    with store.manifest_lock(digests[0]):
        assert store.delete_manifests(*digests) == digests


def test_store_cycle_as_store_user_sync(server: TlsRedisServer, admin: redis.Redis) -> None:
    with RedisStore.from_url(url(server, "indexer"), namespace=NS) as store:
        workload_cycle(store)
        admin.script_flush()  # the store reloads its scripts (SCRIPT LOAD) as this user
        workload_cycle(store)
    assert denials(admin) == []


def test_store_cycle_as_store_user_async(server: TlsRedisServer, admin: redis.Redis) -> None:
    async def run() -> None:
        store = AsyncRedisStore.from_url(
            url(server, "indexer", certs_in_query=False),
            namespace=NS,
            **server.certs.client_kwargs(),
        )
        async with store:
            reports = list(workload.generate(2, seed=6))
            for r in reports:
                assert r.hash is not None
                async with store.manifest_lock(r.hash):
                    await store.persist_manifest(replay.plan(r).manifest)
                    await store.set_index_report(r)
                got = await store.index_report(r.hash)
                assert got is not None and got.hash == r.hash
            assert await store.affected_manifests_batch([]) is not None
            assert await store.delete_manifests(*(r.hash for r in reports if r.hash))

    asyncio.run(run())
    assert denials(admin) == []


def test_wait_is_allowed_and_reports_missing_replicas(
    server: TlsRedisServer, admin: redis.Redis
) -> None:
    with RedisStore.from_url(
        url(server, "indexer"), namespace=NS, wait_replicas=1, wait_timeout=0.05
    ) as store:
        with pytest.raises(DurabilityError) as caught:
            store.register_scanners(replay.plan(next(workload.generate(1))).scanners)
        assert (caught.value.acknowledged, caught.value.wanted) == (0, 1)
    assert denials(admin) == []


def test_store_user_is_confined_to_its_namespace(
    server: TlsRedisServer, admin: redis.Redis
) -> None:
    with redis.Redis.from_url(url(server, "indexer")) as client:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("other:x", 1)
        # Its keys, but no command the store does not need. (The scripts' own commands, SET
        # included, are allowed directly too: an ACL cannot tell a script's call apart.)
        for command in (
            ("EXPIRE", f"{NS}:x", 1),
            ("RENAME", f"{NS}:x", f"{NS}:y"),
            ("FLUSHALL",),
            ("KEYS", "*"),
            ("CONFIG", "GET", "*"),
            ("SCAN", 0),
            ("EVAL", "return 1", 0),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)
    # Through the store too: the same scripts on another namespace's keys are refused.
    with RedisStore.from_url(url(server, "indexer"), namespace="other") as other:
        scanners = replay.plan(next(workload.generate(1))).scanners
        with pytest.raises(redis.exceptions.ResponseError, match=r"(?i)permission|noperm"):
            other.register_scanners(scanners)
    assert admin.keys("other:*") == []


def test_plain_connections_are_refused(server: TlsRedisServer) -> None:
    plain = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2)
    with plain, pytest.raises(redis.exceptions.ConnectionError):
        plain.ping()
    store = RedisStore.from_url(f"redis://127.0.0.1:{server.port}/0", socket_timeout=2)
    with store, pytest.raises(redis.exceptions.ConnectionError):
        store.index_report("sha256:" + "ab" * 32)


def test_ops_as_ops_user(server: TlsRedisServer, admin: redis.Redis) -> None:
    with RedisStore.from_url(url(server, "indexer"), namespace=NS) as store:
        for r in workload.generate(3, seed=7):
            replay.replay(store, r)
    with RedisStore.from_url(url(server, "fsck"), namespace=NS) as store:
        assert ops.check(store) == []
        assert ops.repair(store) == []
        ops.collect(store)
        stats = ops.store_stats(store)
        assert stats.counts["manifests"] == 3 and stats.memory is not None
        assert len(ops.scanners(store)) >= 1
        listed = list(ops.manifests(store))
        assert len(listed) == 3
        assert ops.manifest_info(store, listed[0][1]) is not None
        assert ops.expire(store, 3600).expired == []
        assert len(store.delete_manifests(*(d for _, d in listed))) == 3
    assert denials(admin) == []
    # The store user lacks what ops need (SCAN at least): ops are a separate, wider user.
    store = RedisStore.from_url(url(server, "indexer"), namespace=NS)
    with store, pytest.raises(redis.exceptions.NoPermissionError):
        ops.check(store)


def test_rules_cover_every_command_the_scripts_call() -> None:
    called: set[str] = set()
    for name in NAMES:  # each source has lib.lua prepended
        found = re.findall(r"(?:redis\.p?call|chunked)\(\s*'([A-Za-z]+)'", source(name).source)
        called |= {c.lower() for c in found}
    assert called <= set(acl.SCRIPT_COMMANDS), called - set(acl.SCRIPT_COMMANDS)
    assert set(acl.SCRIPT_COMMANDS) <= called, "a rule for a command no script calls"


def test_rules_cover_every_command_the_store_sends() -> None:
    package = Path(redis_store.__file__).parent
    sources = [f.read_text() for d in ("store", "cache") for f in (package / d).rglob("*.py")]
    sent = {c.lower() for text in sources for c in re.findall(r'Command\(\(\s*"([A-Z]+)"', text)}
    # CLIENT subcommands: the cache's tracking of reads and its listener's ID
    sent -= {"client"}
    sent |= {
        f"client|{sub.lower()}"
        for text in sources
        for sub in re.findall(r'"CLIENT",\s*"([A-Z]+)"', text)
    }
    sent.add("hello")  # the listener's RESP3 handshake
    assert {"client|tracking", "client|caching", "client|id", "get", "sadd"} <= sent
    allowed = set(acl.STORE_COMMANDS)
    assert sent <= allowed, sent - allowed


def test_setuser_command_shape() -> None:
    cmd = acl.setuser_command("u", "p", "claircore", ops=True)
    assert cmd[:6] == ["ACL", "SETUSER", "u", "reset", "on", ">p"]
    assert "~claircore:{*" in cmd and "-@all" in cmd and "+evalsha" in cmd and "+scan" in cmd
    assert "+scan" not in acl.setuser_command("u", "p", "claircore")
    with pytest.raises(ValueError):
        acl.rules("bad*ns")
