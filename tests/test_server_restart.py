"""A Redis restart empties the script cache: the store reloads its scripts and carries on."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from redis_store import Layer, Manifest, RedisStore, VersionedScanner
from tests.support import gen
from tests.support.servers import redis_server_binary, start_redis


def test_store_survives_a_server_restart() -> None:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    server = start_redis("--appendonly", "yes", "--appendfsync", "always")
    try:
        store = RedisStore(
            redis.Redis(host="127.0.0.1", port=server.port, retry_on_error=[redis.ConnectionError]),
            namespace="test",
        )
        s = VersionedScanner("dpkg", "7", "package")
        m, layer = gen.random_digest(), gen.random_digest()
        store.register_scanners([s])
        store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=layer)]))
        server.process.terminate()
        server.process.wait(10)
        args = server.process.args
        assert isinstance(args, list)
        server.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                store.client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert store.client.script_exists(store.scripts["set_layer_scanned"].sha) == [False]
        store.set_layer_scanned(layer, s)  # NOSCRIPT -> reload -> done
        assert store.layer_scanned(layer, s) is True
    finally:
        server.stop()
