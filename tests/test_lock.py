"""The per-manifest index lock: unique token, expiry, renewal, release only by its owner."""

from __future__ import annotations

import time
from typing import Any

import pytest

from redis_store import LockError, RedisStore
from redis_store.keys import KeyLayout
from tests.support import gen


def other(backend: Any, **kwargs: Any) -> RedisStore:
    return RedisStore(backend.client(), namespace="test", **kwargs)


def test_exclusive(store: Any, backend: Any) -> None:
    m = gen.random_digest()
    with store.manifest_lock(m):
        with pytest.raises(LockError), other(backend).manifest_lock(m, blocking=False):
            pass
        t0 = time.monotonic()
        with pytest.raises(LockError), other(backend).manifest_lock(m, timeout=0.2):
            pass
        assert 0.15 < time.monotonic() - t0 < 2
    with other(backend).manifest_lock(m, blocking=False):
        pass


def test_not_reentrant_within_one_store(store: Any) -> None:
    m = gen.random_digest()
    with (
        store.manifest_lock(m),
        pytest.raises(LockError),
        store.manifest_lock(m, blocking=False),
    ):
        pass


def test_waiter_gets_it_after_release(backend: Any) -> None:
    import threading

    m = gen.random_digest()
    a, b = other(backend), other(backend)
    got = threading.Event()

    def wait_for_it() -> None:
        with b.manifest_lock(m, timeout=5):
            got.set()

    with a.manifest_lock(m):
        t = threading.Thread(target=wait_for_it)
        t.start()
        time.sleep(0.1)
        assert not got.is_set()
    t.join(5)
    assert got.is_set()


def test_holder_keeps_it_past_the_ttl(backend: Any) -> None:
    m = gen.random_digest()
    holder = other(backend, lock_ttl=0.6)  # (not shorter: a loaded machine delays renewals)
    with holder.manifest_lock(m):
        time.sleep(2.0)  # more than three TTLs: the renewer keeps it
        with pytest.raises(LockError), other(backend).manifest_lock(m, blocking=False):
            pass
        assert holder.delete_manifests(m) == []  # unknown, but not refused for the lock


def test_dead_holder_frees_within_the_ttl(backend: Any) -> None:
    m = gen.random_digest()
    key = KeyLayout("test").lock(m)
    backend.client().set(key, "token-of-a-dead-process", px=1500)
    with pytest.raises(LockError), other(backend).manifest_lock(m, blocking=False):
        pass
    with other(backend).manifest_lock(m, timeout=4):
        pass


def test_release_only_by_owner(store: Any, backend: Any) -> None:
    m = gen.random_digest()
    key = KeyLayout("test").lock(m)
    client = backend.client()
    with store.manifest_lock(m):
        client.set(key, "someone-else")  # e.g. ours expired and another took it
    assert client.get(key) == b"someone-else"


def test_tokens_are_unique(backend: Any) -> None:
    m = gen.random_digest()
    key = KeyLayout("test").lock(m)
    seen = set()
    for _ in range(5):
        with other(backend).manifest_lock(m):
            seen.add(backend.client().get(key))
    assert len(seen) == 5
