"""``redis-store serve`` as a real process on loopback, for the tests and the benchmark.

:func:`start_serve` runs ``python -m redis_store serve`` with the given options on free
ports, waits until both listeners answer, and returns a :class:`ServeProcess` that knows
its URLs, can stop it (SIGTERM, as an orchestrator would) and hands over everything it
wrote to stderr (the access log and the server's own lines).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    port: int
    introspection_port: int
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def introspection(self) -> str:
        return f"http://127.0.0.1:{self.introspection_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop it with ``sig``; its exit status (killed after ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def start_serve(
    options: list[str], *, env: dict[str, str] | None = None, timeout: float = 30.0
) -> ServeProcess:
    """Start the server with ``options`` (``--listen`` and ``--introspection`` are added)."""
    port, iport = free_port(), free_port()
    log = Path(tempfile.mkstemp(prefix="serve-", suffix=".log")[1])
    args = [
        sys.executable,
        "-m",
        "redis_store",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--introspection",
        f"127.0.0.1:{iport}",
        *options,
    ]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_STORE_")}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env or {})
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=environ, cwd=ROOT
        )
    serve = ServeProcess(process, port, iport, log, args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}:\n{serve.log()}")
        if _answers(serve.url + "/robots.txt") and _answers(serve.introspection + "/healthz"):
            wait_healthy(serve, max(1.0, deadline - time.monotonic()))
            return serve
        time.sleep(0.1)
    serve.stop(signal.SIGKILL)
    raise RuntimeError(f"serve did not start within {timeout} s:\n{serve.log()}")


def start_tier(origin: str, redis_url: str, namespace: str, *options: str) -> ServeProcess:
    """The server in front of ``origin``, its tier in ``namespace`` of ``redis_url``."""
    return start_serve(["--origin", origin, "--url", redis_url, "--namespace", namespace, *options])


def wait_healthy(serve: ServeProcess, timeout: float = 10.0) -> None:
    """Until every worker wrote its first status (the introspection listener sees it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(serve.introspection + "/healthz", timeout=1.0) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no healthy worker within {timeout} s:\n{serve.log()}")


__all__ = ["ServeProcess", "start_serve", "start_tier", "wait_healthy"]
