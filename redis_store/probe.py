"""What listens on a port, found by speaking to it: the words a diagnosis uses when a
Redis URL or an origin's URL leads to another kind of server. A leaf module: sockets only.
"""

from __future__ import annotations

import socket
import struct
from typing import Final

#: PostgreSQL's SSLRequest: a server answers one byte, ``S`` or ``N``, and waits.
PG_SSL_REQUEST: Final = struct.pack("!ii", 8, 80877103)
PING: Final = b"*1\r\n$4\r\nPING\r\n"


def probe(host: str, port: int, timeout: float = 1.0) -> str | None:
    """What listens on ``host:port``, in a few words ("redis" for a Redis server), or None
    when nothing could be learnt (no connection)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(PING)
            answer = _read(s)
    except OSError:
        return None
    if answer.startswith((b"+", b"-")):
        return "redis"
    if answer.startswith((b"HTTP/", b"<")):
        return "an HTTP server"
    if answer.startswith(b"SSH-"):
        return "an SSH server"
    if answer:
        return f"a server that answered {answer[:20]!r}"
    try:  # a server that hung up on a Redis command: perhaps PostgreSQL
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(PG_SSL_REQUEST)
            if _read(s, 1) in (b"S", b"N"):
                return "a PostgreSQL server"
    except OSError:
        pass
    return "a server that closed the connection without a Redis reply (a TLS port reached with redis://?)"


def _read(s: socket.socket, n: int = 64) -> bytes:
    try:
        return s.recv(n)
    except OSError:
        return b""


__all__ = ["PG_SSL_REQUEST", "PING", "probe"]
