"""Private Redis servers on free loopback ports for the real-backend tests: one
``redis-server``, or a Redis Cluster of several (``start_cluster``)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from redis_store.bench import servers as bench_servers
from redis_store.bench.servers import stop_process

free_port = bench_servers.free_port


@dataclass
class RedisServer:
    """A running redis-server process."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def async_client(self) -> redis.asyncio.Redis:
        return redis.asyncio.Redis(host="127.0.0.1", port=self.port)

    def flush(self) -> None:
        """Empty the server (every database)."""
        with self.client() as c:
            c.flushall()

    def stop(self) -> None:
        stop_process(self.process, self.workdir, timeout=10)


redis_server_binary = bench_servers.redis_binary


def start_redis(*extra: str) -> RedisServer:
    """A redis-server with no persistence, on 127.0.0.1 only, ready to answer PING."""
    binary = redis_server_binary()
    if binary is None:
        raise FileNotFoundError("redis-server is not installed")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="redis-store-test-")
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        workdir,
        "--protected-mode",
        "yes",
        *extra,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(proc, port, workdir)
    deadline = time.monotonic() + 10
    while True:
        try:
            if server.client().ping():
                return server
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"redis-server did not start on port {port}") from None
            time.sleep(0.02)


@dataclass
class RedisClusterServers:
    """A running Redis Cluster: ``masters`` primaries, each with its replicas."""

    servers: list[RedisServer]
    masters: int
    replicas_per_master: int
    _nodes: list[redis.Redis] = field(default_factory=list, repr=False)

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def startup_nodes(self) -> list[redis.cluster.ClusterNode]:
        return [redis.cluster.ClusterNode("127.0.0.1", p) for p in self.ports]

    @property
    def url(self) -> str:
        """``redis+cluster://`` naming every node."""
        return bench_servers.cluster_url(self.ports)

    def client(self) -> redis.cluster.RedisCluster:
        return redis.cluster.RedisCluster(
            host="127.0.0.1", port=self.ports[0], decode_responses=False
        )

    def async_client(self) -> redis.asyncio.cluster.RedisCluster:
        return redis.asyncio.cluster.RedisCluster(
            host="127.0.0.1", port=self.ports[0], decode_responses=False
        )

    def nodes(self) -> list[redis.Redis]:
        """One plain client per node, kept open (every test's flush asks)."""
        if not self._nodes:
            self._nodes = [s.client() for s in self.servers]
        return self._nodes

    def primaries(self) -> list[redis.Redis]:
        """Plain clients of the nodes that are primaries now, in start order."""
        return [n for n in self.nodes() if n.info("replication")["role"] == "master"]

    def flush(self) -> None:
        """Empty every primary, and wait until its replicas have applied that too."""
        for node in self.primaries():
            node.flushall()
            if self.replicas_per_master and node.wait(self.replicas_per_master, 5000) < 1:
                raise RuntimeError("a replica did not apply FLUSHALL within 5 s")

    def stop(self) -> None:
        for n in self._nodes:
            n.close()
        for s in self.servers:  # all at once: each takes a moment to exit
            s.process.terminate()
        for s in self.servers:
            s.stop()


redis_cli_binary = bench_servers.redis_cli_binary


def start_cluster(masters: int = 3, replicas_per_master: int = 1) -> RedisClusterServers:
    """A Redis Cluster on loopback with no persistence, formed and settled: every node sees
    the same slots, primaries and replicas (``redis_store.bench.servers.form_cluster``)."""
    servers: list[RedisServer] = []
    try:
        for _ in range(masters * (1 + replicas_per_master)):
            servers.append(start_redis(*bench_servers.cluster_node_args()))
        bench_servers.form_cluster([s.port for s in servers], replicas_per_master)
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return RedisClusterServers(servers, masters, replicas_per_master)
