"""A Sentinel-managed primary with replicas on loopback, for the failover tests.

A primary, ``replicas`` replicas (``--replicaof``) and one sentinel (quorum 1) that declares
the primary down after ``down_after_ms`` and promotes a replica. Built from the
``redis-server`` binary like :func:`tests.support.servers.start_redis`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from tests.support.servers import (
    RedisServer,
    free_port,
    redis_server_binary,
    start_redis,
    stop_process,
)

SERVICE = "primary"


def _wait(what: str, ready: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = ready()
            if value:
                return value
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class SentinelTopology:
    """The running processes; ``url`` names the service through the sentinel."""

    primary: RedisServer
    replicas: list[RedisServer]
    sentinel: subprocess.Popen[bytes]
    sentinel_port: int
    workdir: str
    service: str = SERVICE
    _clients: list[redis.Redis] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{self.service}/0"

    def sentinel_client(self) -> redis.Redis:
        client = redis.Redis(host="127.0.0.1", port=self.sentinel_port, socket_timeout=2)
        self._clients.append(client)
        return client

    def primary_port(self) -> int:
        """The port of the primary the sentinel announces now."""
        addr = self.sentinel_client().execute_command(  # type: ignore[no-untyped-call]
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
        )
        return int(addr[1])

    def kill_primary(self) -> int:
        """SIGKILL the current primary (no shutdown, no goodbye); returns its port."""
        port = self.primary_port()
        victim = next(s for s in [self.primary, *self.replicas] if s.port == port)
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        return port

    def wait_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until the sentinel has switched to a new primary; returns its port."""
        return int(
            _wait("the failover", lambda: (p := self.primary_port()) != old_port and p, timeout)
        )

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        self.sentinel.terminate()
        for s in [self.primary, *self.replicas]:
            if s.process.poll() is None:
                s.process.terminate()
        for s in [self.primary, *self.replicas]:
            s.stop()
        stop_process(self.sentinel, self.workdir, timeout=10)


def start_sentinel_topology(replicas: int = 2, down_after_ms: int = 1000) -> SentinelTopology:
    """Start the primary, its replicas (in sync) and a sentinel that knows them all."""
    binary = redis_server_binary()
    if binary is None:
        raise FileNotFoundError("redis-server is not installed")
    started: list[RedisServer] = []
    sentinel: subprocess.Popen[bytes] | None = None
    workdir = tempfile.mkdtemp(prefix="redis-store-sentinel-")
    try:
        primary = start_redis()
        started.append(primary)
        for _ in range(replicas):
            started.append(start_redis("--replicaof", "127.0.0.1", str(primary.port)))
        pc = primary.client()
        _wait(
            "the replicas to sync",
            lambda: (
                pc.info("replication").get("connected_slaves") == replicas
                and all(
                    pc.info("replication")[f"slave{i}"]["state"] == "online"
                    for i in range(replicas)
                )
            ),
        )
        pc.close()
        port = free_port()
        conf = os.path.join(workdir, "sentinel.conf")
        with open(conf, "w") as f:  # sentinel rewrites its config: a private, writable file
            f.write(
                f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 1\n"
                f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
                f"sentinel parallel-syncs {SERVICE} {max(1, replicas)}\n"
            )
        sentinel = subprocess.Popen(
            [binary, conf, "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        topology = SentinelTopology(primary, started[1:], sentinel, port, workdir)

        def knows_replicas() -> bool:
            found = topology.sentinel_client().sentinel_slaves(SERVICE)
            return len(found) == replicas and all(
                r["is_slave"] and not (r["is_sdown"] or r["is_disconnected"]) for r in found
            )

        _wait("the sentinel to see every replica", knows_replicas)
        return topology
    except BaseException:
        if sentinel is not None:
            sentinel.kill()
            sentinel.wait()
        for s in started:
            s.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
