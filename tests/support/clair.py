"""A stand-in for Clair's indexer HTTP API on loopback, serving given reports.

Real HTTP (``http.server`` in a thread): ``GET /indexer/api/v1/index_report/{digest}``
answers the report's JSON (``GET /indexer/api/v1/index_state`` the indexer's state, which a
client checks first), 404 for a digest it does not hold, and for digests given a
``fault``: ``"500"`` (an internal error), ``"slow"`` (answers after ``slow_seconds``),
``"malformed"`` (not JSON), ``"truncated"`` (JSON cut short), ``"other"`` (another
manifest's report). With a ``token``, a request without ``Authorization: Bearer <token>``
gets 401. Every request is counted by digest.
"""

from __future__ import annotations

import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackHandler, serve

PREFIX = "/indexer/api/v1/index_report/"
STATE = "/indexer/api/v1/index_state"


class ClairAPI:
    def __init__(self, reports: dict[str, bytes], *, token: str | None = None) -> None:
        self.reports = dict(reports)
        self.faults: dict[str, str] = {}
        self.token = token
        self.slow_seconds = 2.0
        #: Seconds every answer waits (a Clair across a network); 0 by default.
        self.delay_seconds = 0.0
        #: What ``GET /indexer/api/v1/index_state`` answers (claircore's scanner set hash).
        self.state = "4a1fb6a8b3e1bd47b55d2c0b3a4ab1a3"
        self.requests: Counter[str] = Counter()
        self.authorizations: list[str | None] = []
        api = self

        class Handler(LoopbackHandler):
            def do_GET(self) -> None:
                api._answer(self)

        self.server = serve(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        if h.path == STATE:  # what a client checks first: the indexer's state
            if self.token is not None and h.headers.get("Authorization") != f"Bearer {self.token}":
                return self._send(h, 401, b'{"code":"unauthorized"}')
            return self._send(h, 200, b'{"state":"' + self.state.encode() + b'"}')
        if not h.path.startswith(PREFIX):
            return self._send(h, 404, b'{"code":"not-found"}')
        digest = h.path[len(PREFIX) :]
        self.requests[digest] += 1
        auth = h.headers.get("Authorization")
        self.authorizations.append(auth)
        if self.token is not None and auth != f"Bearer {self.token}":
            return self._send(h, 401, b'{"code":"unauthorized"}')
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        fault = self.faults.get(digest)
        if fault == "500":
            return self._send(h, 500, b'{"code":"internal-error"}')
        if fault == "slow":
            time.sleep(self.slow_seconds)
        body = self.reports.get(digest)
        if body is None:
            return self._send(h, 404, b'{"code":"not-found","message":"no such report"}')
        if fault == "malformed":
            body = b"<html>bad gateway</html>"
        elif fault == "truncated":
            body = body[: len(body) // 2]
        elif fault == "other":
            body = next(b for d, b in self.reports.items() if d != digest)
        self._send(h, 200, body)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
