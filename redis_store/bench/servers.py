"""Private PostgreSQL and Redis servers for the benchmark, on free loopback ports.

Both run from Debian's packages with the settings the benchmark documents: PostgreSQL with
its defaults (``fsync`` and ``synchronous_commit`` on; only the port, the socket directory and
``listen_addresses=127.0.0.1`` are set), Redis with AOF ``everysec`` and no RDB snapshots.
Each lives in its own temporary directory, removed when it stops.

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

#: The Debian packages that provide the binaries, for messages and ``--install``.
POSTGRES_PACKAGE = "postgresql"
REDIS_PACKAGE = "redis-server"


class ServerError(RuntimeError):
    """A server could not be found, installed, started or stopped."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def redis_binary() -> str | None:
    """The ``redis-server`` binary, from ``$PATH`` or Debian's locations."""
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.path.exists(p)), None
    )


def missing_binaries(*, postgres: bool = True, redis: bool = True) -> list[str]:
    """The Debian packages whose binaries are not installed (empty when all are)."""
    out = []
    if postgres and postgres_bindir() is None:
        out.append(POSTGRES_PACKAGE)
    if redis and redis_binary() is None:
        out.append(REDIS_PACKAGE)
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
        what = {POSTGRES_PACKAGE: "initdb/postgres", REDIS_PACKAGE: "redis-server"}
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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


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

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self) -> str:
        out = subprocess.run(
            [self.binary, "--version"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    def stop(self) -> None:
        """SIGTERM (Redis flushes its AOF and exits), then remove the directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis(
    *, binary: str | None = None, timeout: float = 20.0, cpus: set[int] | None = None
) -> RedisServer:
    """``redis-server`` with AOF everysec and no RDB snapshots, on a free loopback port
    (on ``cpus`` only, when given)."""
    binary = binary or redis_binary()
    if binary is None:
        require_binaries(postgres=False, redis=True)
        raise AssertionError("unreachable")
    workdir = Path(tempfile.mkdtemp(prefix="redis-store-bench-redis-"))
    port = free_port()
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--protected-mode",
        "yes",
        "--logfile",
        str(workdir / "redis.log"),
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_pinned(cpus)
    )
    server = RedisServer(proc, port, workdir, binary)
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


@dataclass
class Servers:
    """What :func:`servers` started (``None`` for a store not benchmarked)."""

    postgres: PostgresServer | None = None
    redis: RedisServer | None = None


@contextmanager
def servers(
    *,
    postgres: bool = True,
    redis: bool = True,
    install: bool = False,
    cpus: set[int] | None = None,
) -> Iterator[Servers]:
    """Start the private servers the run needs (on ``cpus`` only, when given) and stop them
    afterwards, whatever happens."""
    require_binaries(postgres=postgres, redis=redis, install=install)
    with ExitStack() as stack:
        out = Servers()
        if redis:
            out.redis = start_redis(cpus=cpus)
            stack.callback(out.redis.stop)
        if postgres:
            out.postgres = start_postgres(cpus=cpus)
            stack.callback(out.postgres.stop)
        yield out


__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerError",
    "Servers",
    "free_port",
    "install_packages",
    "missing_binaries",
    "postgres_bindir",
    "redis_binary",
    "require_binaries",
    "servers",
    "start_postgres",
    "start_redis",
]
