"""Private PostgreSQL and Redis servers on free loopback ports, for the tests and the
benchmark (``benchmarks/``).

Both run from Debian's packages. PostgreSQL keeps its defaults (``fsync`` and
``synchronous_commit`` on; only the port, the socket directory and
``listen_addresses=127.0.0.1`` are set). Redis never writes RDB snapshots; the benchmark's
servers keep an AOF fsynced every second (``aof=True``), the tests' keep nothing. Redis can
also run as a Redis Cluster of such servers (:func:`start_cluster`), formed with
``redis-cli --cluster create``. Each server lives in its own temporary directory, removed
when it stops; :func:`servers` starts and stops what one benchmark run needs.

PostgreSQL refuses to run as root; as root, the cluster is created and run as the
``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

#: The Debian packages that provide the binaries, for messages and ``--install``.
POSTGRES_PACKAGE = "postgresql"
REDIS_PACKAGE = "redis-server"


class ServerError(RuntimeError):
    """A server could not be found, installed, started or stopped."""


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(
    process: subprocess.Popen[Any],
    workdir: str | Path | None = None,
    sig: int = signal.SIGTERM,
    timeout: float = 30.0,
) -> None:
    """Stop a server: ``sig``, SIGKILL if it is still running after ``timeout`` seconds, then
    remove its directory."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


# -- finding and installing binaries ------------------------------------------------------------


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parts
    for p in parts:
        if p.replace(".", "").isdigit():
            return tuple(int(x) for x in p.split("."))
    return ()


def postgres_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: ``$PATH`` first, then Debian's
    ``/usr/lib/postgresql/<version>/bin`` (newest version)."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        d = Path(os.path.realpath(initdb)).parent
        if (d / "postgres").exists():
            return d
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for c in candidates:
        d = Path(c)
        if (d / "initdb").exists() and (d / "postgres").exists():
            return d
    return None


def redis_server_binary() -> str | None:
    """The ``redis-server`` binary, from ``$PATH`` or Debian's locations."""
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.path.exists(p)), None
    )


def redis_cli_binary() -> str | None:
    """``redis-cli`` (Debian's ``redis-tools``, which ``redis-server`` depends on)."""
    return shutil.which("redis-cli") or next(
        (p for p in ("/usr/bin/redis-cli",) if os.path.exists(p)), None
    )


def missing_binaries(*, postgres: bool = True, redis: bool = True) -> list[str]:
    """The Debian packages whose binaries are not installed (empty when all are)."""
    out = []
    if postgres and postgres_bindir() is None:
        out.append(POSTGRES_PACKAGE)
    if redis and (redis_server_binary() is None or redis_cli_binary() is None):
        out.append(REDIS_PACKAGE)  # pulls in redis-tools (redis-cli) too
    return out


def install_packages(packages: Sequence[str]) -> None:
    """``apt-get install -y`` the packages (as root, or through ``sudo -n``)."""
    if not packages:
        return
    if shutil.which("apt-get") is None:
        raise ServerError(
            f"cannot install {', '.join(packages)}: apt-get is not available; install them"
            " with your system's package manager"
        )
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise ServerError(
                f"installing {', '.join(packages)} needs root: run"
                f" 'sudo apt-get install -y {' '.join(packages)}'"
            )
        prefix = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        result = subprocess.run([*prefix, *cmd], env=env, check=False)
        if result.returncode != 0:
            raise ServerError(f"'{' '.join(cmd)}' failed with status {result.returncode}")


def require_binaries(*, postgres: bool = True, redis: bool = True, install: bool = False) -> None:
    """Raise a :class:`ServerError` naming what to install, or install it with ``install``."""
    missing = missing_binaries(postgres=postgres, redis=redis)
    if missing and install:
        install_packages(missing)
        missing = missing_binaries(postgres=postgres, redis=redis)
    if missing:
        what = {POSTGRES_PACKAGE: "initdb/postgres", REDIS_PACKAGE: "redis-server/redis-cli"}
        names = ", ".join(f"{what[p]} (Debian package {p!r})" for p in missing)
        raise ServerError(
            f"not installed: {names}. Install with 'apt-get install -y {' '.join(missing)}'"
            " or pass --install"
        )


# -- PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster and its server process."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    bindir: Path
    user: str = "bench"
    database: str = "postgres"
    log: Path = field(default_factory=Path)

    @property
    def dsn(self) -> str:
        """A libpq connection string over loopback TCP."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={self.database}"

    def version(self) -> str:
        out = subprocess.run(
            [str(self.bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the cluster."""
        stop_process(self.process, self.workdir, signal.SIGINT)


def _run_as() -> pwd.struct_passwd | None:
    """The user PostgreSQL must run as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServerError(
            "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as;"
            " run the benchmark as an ordinary user"
        ) from None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the server (and every process it forks) to ``cpus``."""
    if not cpus:
        return None
    chosen = set(cpus)

    def pin() -> None:
        os.sched_setaffinity(0, chosen)

    return pin


def start_postgres(
    *, bindir: Path | None = None, timeout: float = 60.0, cpus: set[int] | None = None
) -> PostgresServer:
    """initdb a cluster in a temporary directory and start ``postgres`` on a free port
    (on ``cpus`` only, when given)."""
    bindir = bindir or postgres_bindir()
    if bindir is None:
        require_binaries(postgres=True, redis=False)
        raise AssertionError("unreachable")
    user = _run_as()
    workdir = Path(tempfile.mkdtemp(prefix="redis-store-bench-pg-"))
    data, sock, log = workdir / "data", workdir / "sock", workdir / "postgres.log"
    sock.mkdir()
    uid = gid = None
    groups: list[int] | None = None
    if user is not None:
        for p in (workdir, sock):
            os.chown(p, user.pw_uid, user.pw_gid)
        uid, gid, groups = user.pw_uid, user.pw_gid, []
    env = dict(os.environ, LC_ALL="C", LANG="C")
    init = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "bench",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",  # initdb's own files only; the server runs with fsync on
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        check=False,
        user=uid,
        group=gid,
        extra_groups=groups,
    )
    if init.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        raise ServerError(f"initdb failed ({init.returncode}):\n{init.stderr.strip()}")
    port = free_port()
    logf = open(log, "wb")  # noqa: SIM115 - the server writes it for its whole life
    if user is not None:
        os.chown(log, user.pw_uid, user.pw_gid)
    proc = subprocess.Popen(
        [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(sock),
            "-c",
            "listen_addresses=127.0.0.1",
        ],
        stdout=logf,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=workdir,
        preexec_fn=_pinned(cpus),
        user=uid,
        group=gid,
        extra_groups=groups,
    )
    logf.close()
    server = PostgresServer(proc, port, workdir, bindir, log=log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = _tail(log)
            server.stop()
            raise ServerError(f"postgres exited with status {proc.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "bench"],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            tail = _tail(log)
            server.stop()
            raise ServerError(f"postgres did not accept connections within {timeout:g}s:\n{tail}")
        time.sleep(0.05)


# -- Redis --------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A private redis-server process."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    binary: str
    #: seconds :meth:`stop` waits after SIGTERM before SIGKILL
    stop_timeout: float = 10.0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self) -> str:
        out = subprocess.run(
            [self.binary, "--version"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def async_client(self) -> redis.asyncio.Redis:
        return redis.asyncio.Redis(host="127.0.0.1", port=self.port)

    def flush(self) -> None:
        """Empty the server (every database)."""
        with self.client() as c:
            c.flushall()

    def stop(self) -> None:
        """SIGTERM (Redis flushes its AOF, if any, and exits), then remove the directory."""
        stop_process(self.process, self.workdir, timeout=self.stop_timeout)


def start_redis(
    *extra: str,
    aof: bool = False,
    binary: str | None = None,
    timeout: float = 10.0,
    stop_timeout: float = 10.0,
    cpus: set[int] | None = None,
    port: int | None = None,
) -> RedisServer:
    """``redis-server`` on a free loopback port (or ``port``: a restart where one stopped),
    ready to answer PING, with no RDB snapshots: with ``aof``, the AOF fsynced every second
    (what the benchmark runs), else no persistence at all (the tests' servers); on ``cpus``
    only, when given. ``extra`` arguments are appended (a setting given twice takes the last
    value)."""
    binary = binary or redis_server_binary()
    if binary is None:
        require_binaries(postgres=False, redis=True)
        raise AssertionError("unreachable")
    workdir = Path(tempfile.mkdtemp(prefix="redis-store-redis-"))
    port = port or free_port()
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else ["--appendonly", "no"]
    )
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        *persistence,
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--protected-mode",
        "yes",
        "--logfile",
        str(workdir / "redis.log"),
        *extra,
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_pinned(cpus)
    )
    server = RedisServer(proc, port, workdir, binary, stop_timeout)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            tail = _tail(workdir / "redis.log")
            server.stop()
            raise ServerError(f"redis-server exited with status {proc.returncode}:\n{err}{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise ServerError(f"redis-server did not answer PING within {timeout:g}s")
        time.sleep(0.02)


# -- Redis Cluster ------------------------------------------------------------------------------


def cluster_node_args(node_timeout_ms: int = 2000) -> list[str]:
    """What makes a ``redis-server`` a cluster node, for ``start_redis(*args)``.

    The bus port is chosen free like the client port (the default, port + 10000, may be taken
    or above 65535), and replicas sync at once instead of after the 5 s diskless delay.
    """
    return [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",  # relative: in the node's own --dir
        "--cluster-node-timeout",
        str(node_timeout_ms),
        "--cluster-port",
        str(free_port()),
        "--repl-diskless-sync-delay",
        "0",
    ]


def form_cluster(ports: Sequence[int], replicas_per_master: int, timeout: float = 30.0) -> None:
    """Join running cluster nodes into one cluster (``redis-cli --cluster create``) and wait
    until every node says ``cluster_state:ok``, every node has the same view of who owns which
    slots and who replicates whom, and every replica's link is up: a client's first view of
    the topology is then the final one, and ``WAIT`` works at once."""
    cli = redis_cli_binary()
    if cli is None:
        raise ServerError("redis-cli is not installed (Debian package 'redis-tools')")
    addrs = [f"127.0.0.1:{p}" for p in ports]
    args = ["--cluster", "create", *addrs, "--cluster-replicas", str(replicas_per_master)]
    done = subprocess.run(
        [cli, *args, "--cluster-yes"], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise ServerError(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")
    nodes = [redis.Redis(host="127.0.0.1", port=p) for p in ports]
    try:
        deadline = time.monotonic() + timeout
        while not _cluster_settled(nodes):
            if time.monotonic() > deadline:
                raise ServerError(f"the cluster did not settle within {timeout:g}s")
            time.sleep(0.02)
    finally:
        for n in nodes:
            n.close()


def _cluster_settled(nodes: Sequence[redis.Redis]) -> bool:
    views = set()
    try:
        for node in nodes:
            if node.cluster("INFO").get("cluster_state") != "ok":
                return False
            view = _cluster_view(node.cluster("NODES"))
            if view is None or len(view[1]) != len(nodes):
                return False
            views.add(view)
            repl = node.info("replication")
            if repl["role"] == "slave" and repl.get("master_link_status") != "up":
                return False
    except redis.ConnectionError:
        return False
    return len(views) == 1


def _cluster_view(nodes: dict[str, dict[str, Any]]) -> tuple[Any, ...] | None:
    """One node's parsed CLUSTER NODES as (slot range -> primary, node -> its primary);
    None while a node is still joining (handshake) or thought failing."""
    flags = [set(n["flags"].split(",")) for n in nodes.values()]
    if any(f & {"handshake", "noaddr", "fail", "fail?"} for f in flags):
        return None
    slots = sorted(
        (tuple(r), n["node_id"])
        for n in nodes.values()
        if n["master_id"] == "-"
        for r in n["slots"]
    )
    roles = sorted((n["node_id"], n["master_id"]) for n in nodes.values())
    return tuple(slots), tuple(roles)


def cluster_url(ports: Sequence[int]) -> str:
    """A ``redis+cluster://`` URL naming every node (any one is enough to find the others)."""
    return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)


@dataclass
class RedisClusterServers:
    """A private Redis Cluster: ``masters`` primaries, each with its replicas, every node a
    :class:`RedisServer` (primaries first)."""

    servers: list[RedisServer]
    masters: int
    replicas_per_master: int
    _nodes: list[redis.Redis] = field(default_factory=list, repr=False)

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def startup_nodes(self) -> list[redis.cluster.ClusterNode]:
        return [
            redis.cluster.ClusterNode("127.0.0.1", p)  # type: ignore[no-untyped-call]
            for p in self.ports
        ]

    @property
    def url(self) -> str:
        """``redis+cluster://`` naming every node."""
        return cluster_url(self.ports)

    @property
    def binary(self) -> str:
        return self.servers[0].binary

    def version(self) -> str:
        return self.servers[0].version()

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
        """SIGTERM every node at once (each takes a moment to exit), then wait for each and
        remove its directory."""
        for n in self._nodes:
            n.close()
        for s in self.servers:
            if s.process.poll() is None:
                s.process.terminate()
        for s in self.servers:
            s.stop()


def start_cluster(
    masters: int = 3,
    replicas_per_master: int = 1,
    *,
    aof: bool = False,
    timeout: float = 30.0,
    stop_timeout: float = 10.0,
    cpus: set[int] | None = None,
) -> RedisClusterServers:
    """A Redis Cluster of ``masters`` primaries and their replicas on loopback, each node set
    up as :func:`start_redis` sets up one server, formed and settled: every node sees the same
    slots, primaries and replicas (:func:`form_cluster`)."""
    if masters < 3:
        raise ServerError("a Redis Cluster needs at least 3 primaries")
    servers: list[RedisServer] = []
    try:
        for _ in range(masters * (1 + replicas_per_master)):
            servers.append(
                start_redis(
                    *cluster_node_args(),
                    aof=aof,
                    timeout=timeout,
                    stop_timeout=stop_timeout,
                    cpus=cpus,
                )
            )
        form_cluster([s.port for s in servers], replicas_per_master, timeout)
    except BaseException:
        RedisClusterServers(servers, masters, replicas_per_master).stop()
        raise
    return RedisClusterServers(servers, masters, replicas_per_master)


@dataclass
class Servers:
    """What :func:`servers` started (``None`` for a store not benchmarked)."""

    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    redis_cluster: RedisClusterServers | None = None

    @property
    def redis_url(self) -> str | None:
        """The URL of the Redis that :func:`servers` started (server or cluster)."""
        if self.redis_cluster is not None:
            return self.redis_cluster.url
        return self.redis.url if self.redis is not None else None


@contextmanager
def servers(
    *,
    postgres: bool = True,
    redis: bool = True,
    install: bool = False,
    cpus: set[int] | None = None,
    cluster_masters: int = 0,
) -> Iterator[Servers]:
    """Start the private servers a benchmark run needs (on ``cpus`` only, when given; Redis
    with its AOF) and stop them afterwards, whatever happens. With ``cluster_masters``, Redis
    is a cluster of that many primaries (no replicas) instead of one server."""
    require_binaries(postgres=postgres, redis=redis, install=install)
    with ExitStack() as stack:
        out = Servers()
        if redis and cluster_masters:
            out.redis_cluster = start_cluster(
                cluster_masters, 0, aof=True, stop_timeout=30.0, cpus=cpus
            )
            stack.callback(out.redis_cluster.stop)
        elif redis:
            out.redis = start_redis(aof=True, timeout=20.0, stop_timeout=30.0, cpus=cpus)
            stack.callback(out.redis.stop)
        if postgres:
            out.postgres = start_postgres(cpus=cpus)
            stack.callback(out.postgres.stop)
        yield out


__all__ = [
    "PostgresServer",
    "RedisClusterServers",
    "RedisServer",
    "ServerError",
    "Servers",
    "cluster_node_args",
    "cluster_url",
    "form_cluster",
    "free_port",
    "install_packages",
    "missing_binaries",
    "postgres_bindir",
    "redis_cli_binary",
    "redis_server_binary",
    "require_binaries",
    "servers",
    "start_cluster",
    "start_postgres",
    "start_redis",
    "stop_process",
]
