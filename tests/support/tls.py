"""A TLS-only redis-server on loopback, with a throwaway CA, server and client certificate.

Certificates are made with the ``openssl`` command line (no Python crypto dependency); the
server is started from the ``redis-server`` binary like
:func:`tests.support.servers.start_redis`, with its plain port disabled (``--port 0``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.support.servers import free_port, redis_server_binary, stop_process


def openssl_binary() -> str | None:
    return shutil.which("openssl")


@dataclass(frozen=True)
class Certs:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    def client_kwargs(self, *, client_cert: bool = True) -> dict[str, Any]:
        """redis-py TLS options trusting the test CA (and presenting the client cert)."""
        out: dict[str, Any] = {"ssl_ca_certs": self.ca}
        if client_cert:
            out |= {"ssl_certfile": self.client_cert, "ssl_keyfile": self.client_key}
        return out


def _openssl(*args: str, cwd: Path) -> None:
    binary = openssl_binary()
    assert binary is not None
    subprocess.run(
        [binary, *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def make_certs(directory: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (P-256 keys)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", "-new", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=redis-store test CA", cwd=directory)  # fmt: skip
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        (directory / f"{name}.ext").write_text(ext)
        _openssl("req", "-new", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=redis-store test {name}", cwd=directory)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                 "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip
    d = str(directory)
    return Certs(
        ca=os.path.join(d, "ca.crt"),
        server_cert=os.path.join(d, "server.crt"),
        server_key=os.path.join(d, "server.key"),
        client_cert=os.path.join(d, "client.crt"),
        client_key=os.path.join(d, "client.key"),
    )


@dataclass
class TlsRedisServer:
    """A running TLS-only redis-server."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: str
    certs: Certs

    def admin(self) -> redis.Redis:
        """The default (all-powerful) user, over TLS with the client certificate."""
        return redis.Redis(host="127.0.0.1", port=self.port, ssl=True, **self.certs.client_kwargs())

    def stop(self) -> None:
        stop_process(self.process, self.workdir, timeout=10)


def start_tls_redis(certs: Certs, *, auth_clients: str = "optional") -> TlsRedisServer:
    """A redis-server answering only TLS on a free loopback port, ready to answer PING."""
    binary = redis_server_binary()
    if binary is None:
        raise FileNotFoundError("redis-server is not installed")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="redis-store-tls-")
    args = [
        binary,
        "--port", "0",
        "--tls-port", str(port),
        "--tls-cert-file", certs.server_cert,
        "--tls-key-file", certs.server_key,
        "--tls-ca-cert-file", certs.ca,
        "--tls-auth-clients", auth_clients,
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", workdir,
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = TlsRedisServer(proc, port, workdir, certs)
    deadline = time.monotonic() + 10
    while True:
        try:
            with server.admin() as client:
                if client.ping():
                    return server
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"TLS redis-server did not start on port {port}") from None
            time.sleep(0.02)
