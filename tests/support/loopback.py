"""What the HTTP stand-ins on loopback share: a quiet HTTP/1.1 handler with TCP_NODELAY, and
a threaded server started on a port of its own."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive as Clair's server; TCP_NODELAY as Go's net/http (an answer's headers and
    body go out as two writes, and with Nagle the body would wait for a delayed ACK)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler], port: int = 0) -> ThreadingHTTPServer:
    """A threaded server for ``handler`` on 127.0.0.1, answering from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
