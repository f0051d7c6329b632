"""The introspection listener, in the command's own process (as Clair's
``introspection_addr``): ``/metrics`` (every live worker's series, each with a ``worker``
label), ``/healthz`` (200 while a worker is alive) and ``/readyz`` (200 while every live
worker reaches Redis; the JSON body says what each worker sees). It reads what the workers
write once a second to the run directory (:class:`~redis_store.serve.introspect.Snapshots`),
so it works the same for one worker or several, and loads nothing of the server itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: A worker whose files are older than this is counted as gone.
STALE = 5.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_workers(rundir: str) -> dict[int, dict[str, Any]]:
    """The status of every worker whose files are fresh, by process ID."""
    out: dict[int, dict[str, Any]] = {}
    now = time.time()
    for path in Path(rundir).glob("status-*.json"):
        try:
            pid = int(path.stem.split("-", 1)[1])
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if now - float(status.get("at", 0)) < STALE and _alive(pid):
            out[pid] = status
    return out


def merged_metrics(rundir: str) -> bytes:
    """Every live worker's series, each sample labelled with its worker."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Metric] = {}
    for pid in sorted(live_workers(rundir)):
        try:
            text = (Path(rundir) / f"metrics-{pid}.prom").read_text()
        except OSError:
            continue
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            for s in family.samples:
                merged.add_sample(s.name, {**s.labels, "worker": str(pid)}, s.value, s.timestamp)

    class Collected:
        def collect(self) -> list[Any]:
            return list(families.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collected())
    return generate_latest(registry)


class Introspection:
    """``/metrics``, ``/healthz`` and ``/readyz`` on their own address, in a thread."""

    def __init__(self, host: str, port: int, rundir: str) -> None:
        rd = rundir

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    return self._send(200, merged_metrics(rd), CONTENT_TYPE)
                workers = live_workers(rd)
                if path == "/healthz":
                    ok = bool(workers)
                    body: dict[str, Any] = {
                        "status": "ok" if ok else "no worker",
                        "workers": len(workers),
                    }
                elif path == "/readyz":
                    ok = bool(workers) and all(w.get("redis") == "ok" for w in workers.values())
                    body = {"ready": ok, "workers": {str(p): w for p, w in workers.items()}}
                else:
                    return self._send(404, b"not found\n", "text/plain")
                data = json.dumps(body, indent=1).encode() + b"\n"
                self._send(200 if ok else 503, data, "application/json")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self.server = Server((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="introspection")
        self.thread.daemon = True

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = ["STALE", "Introspection", "live_workers", "merged_metrics"]
