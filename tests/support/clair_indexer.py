"""A stand-in for Clair's indexer HTTP API on loopback that behaves as Clair's does.

Real HTTP/1.1 with keep-alive (``http.server`` in threads), the routes, checks, statuses,
bodies and headers of Clair's ``httptransport/indexer_v1.go``:

* ``POST /indexer/api/v1/index_report``: 400 for an undecodable manifest or one without hash
  or layers, ``Link`` headers, 412 when ``If-None-Match`` is the state, then 201 with the
  finished report of a manifest in its catalog (now held), or a finished ``IndexError``
  report for one it cannot index, with ``ETag`` and ``Location``;
* ``GET|DELETE /indexer/api/v1/index_report/{digest}``: 400 for a bad digest, 304 on the
  state's ``If-None-Match`` (before the lookup), 200 with the held report and the ETag, 404
  ``{"code":"not-found","message":"index report not found"}``; DELETE 204, known or not;
* ``DELETE /indexer/api/v1/index_report``: 200 with the digests deleted (``null`` for none,
  as claircore's nil slice);
* ``GET /indexer/api/v1/index_state``: ``{"state": …}`` with ETag, 304;
* ``POST /indexer/api/v1/internal/affected_manifest/``: answered by a redis-store store that
  holds the same reports (``store=``), so the tier's own answers can be compared with it;
  the path without the slash is redirected (301) as Go's ServeMux does;
* ``GET /openapi/v1`` (Clair's document, when given) and the matcher's
  ``vulnerability_report``;
* with a ``psk``, every request must carry a token Clair would accept (401, empty body).

Faults for tests, by digest (``faults``) or by route (``route_faults``): ``"500"``,
``"slow"`` (answers after ``slow_seconds``), ``"malformed"`` (not JSON), ``"truncated"``
(the body cut short of its Content-Length), ``"drop"`` (the connection closed without an
answer), ``"other"`` (another manifest's report). Requests are recorded, and connections
counted (a client that pools its connections opens few).

``python -m tests.support.clair_indexer REPORT.json ...`` runs it on its own (``--port``,
``--psk``), holding the reports given, for trying the server by hand.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import jwt
import orjson

from redis_store import Digest, IndexReport, Vulnerability
from redis_store.errors import DigestError, StoreError
from tests.support.loopback import LoopbackHandler, serve

PREFIX = "/indexer/api/v1"
REPORT = PREFIX + "/index_report"
STATE = PREFIX + "/index_state"
AFFECTED = PREFIX + "/internal/affected_manifest"
#: claircore's state for its default scanners is an MD5 like this one.
DEFAULT_STATE = hashlib.md5(b"libindex number: 2\n").hexdigest()
LINK_INDEX = '<{}>; rel="https://projectquay.io/clair/v1/index_report"'
LINK_REPORT = '<{}>; rel="https://projectquay.io/clair/v1/vulnerability_report"'


def error(code: int, message: str) -> bytes:
    name = {400: "bad-request", 404: "not-found", 405: "method-not-allowed"}.get(
        code, "internal-error"
    )
    return orjson.dumps({"code": name, "message": message})


class ClairIndexer:
    """Clair's indexer API on ``127.0.0.1`` at a free port (``url``)."""

    def __init__(
        self,
        reports: Iterable[bytes] = (),
        *,
        catalog: Iterable[bytes] = (),
        psk: str | None = None,
        issuers: Iterable[str] = ("clair-intraservice",),
        state: str = DEFAULT_STATE,
        store: Any = None,
        openapi: Path | None = None,
        port: int = 0,
    ) -> None:
        #: Reports held (GET answers them), by digest.
        self.reports: dict[str, bytes] = {}
        #: Reports a POST can index, by digest (the held ones too).
        self.catalog: dict[str, bytes] = {}
        for body in catalog:
            self.catalog[_hash_of(body)] = body
        for body in reports:
            d = _hash_of(body)
            self.reports[d] = self.catalog[d] = body
        self.key = base64.b64decode(psk) if psk else None
        self.issuers = set(issuers)
        self.state = state
        self.store = store
        self.openapi = openapi.read_bytes() if openapi is not None else None
        self.faults: dict[str, str] = {}
        self.route_faults: dict[str, str] = {}
        self.slow_seconds = 2.0
        #: Seconds a POST takes to "index" (Clair fetches and scans the layers).
        self.index_seconds = 0.0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.counts: Counter[str] = Counter()
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        if store is not None:
            for body in self.reports.values():
                self._index(body)
        api = self

        class Handler(LoopbackHandler):
            def setup(self) -> None:
                super().setup()
                with api._lock:
                    api.connections += 1
                    api._sockets.append(self.connection)

            def do_GET(self) -> None:
                api._handle(self)

            do_POST = do_DELETE = do_PUT = do_HEAD = do_GET

        self.server = serve(Handler, port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _index(self, body: bytes) -> None:
        """Hold the report in the store that answers affected manifests too."""
        if self.store is not None:
            report = IndexReport.from_json(body)
            if report.success and report.state == "IndexFinished":
                self.store.import_report(report, force=True)

    def hold(self, body: bytes) -> str:
        """Hold one more report (as if Clair had indexed it behind the tier's back)."""
        d = _hash_of(body)
        with self._lock:
            self.reports[d] = self.catalog[d] = body
        self._index(body)
        return d

    def count(self, method: str, path: str) -> int:
        return self.counts[f"{method} {path}"]

    # -- answering ---------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((h.command, path, dict(h.headers.items())))
            self.counts[f"{h.command} {path}"] += 1
        if path == "/robots.txt":
            return self._send(h, 200, b"User-agent: *\nDisallow: /\n", "text/plain")
        if self.key is not None and not self._authorized(h):
            return self._send(h, 401, b"", None)
        route = self._route(path)
        fault = self.route_faults.get(route)
        if fault is None and route in ("one",):
            fault = self.faults.get(path.rsplit("/", 1)[-1])
        if fault is not None and self._fault(h, fault):
            return
        handler = getattr(self, f"_{route}", None)
        if handler is None:
            return self._send(h, 404, b"404 page not found\n", "text/plain; charset=utf-8")
        handler(h, path, body, fault)

    def _route(self, path: str) -> str:
        if path.startswith(REPORT + "/"):
            return "one"
        return {
            REPORT: "bulk",
            STATE: "state",
            AFFECTED + "/": "affected",
            AFFECTED: "redirect",
            "/openapi/v1": "openapi",
        }.get(path, "matcher" if path.startswith("/matcher/api/v1/vulnerability_report/") else "")

    def _authorized(self, h: BaseHTTPRequestHandler) -> bool:
        auth = h.headers.get("Authorization") or ""
        if self.key is None or not auth.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(
                auth[7:],
                self.key,
                algorithms=["HS256", "HS384", "HS512"],
                leeway=15,
                options={"verify_aud": False, "require": []},
            )
        except jwt.PyJWTError:
            return False
        return claims.get("iss") in self.issuers

    def _fault(self, h: BaseHTTPRequestHandler, fault: str) -> bool:
        """Act out a fault; True when the request is answered (or dropped) by it."""
        if fault == "500":
            self._send(h, 500, error(500, "could not retrieve index report: boom"))
            return True
        if fault == "drop":
            h.close_connection = True
            h.wfile.flush()
            return True
        if fault == "slow":
            time.sleep(self.slow_seconds)
        return False

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        ctype: str | None = "application/json",
        headers: Iterable[tuple[str, str]] = (),
        declared: int | None = None,
    ) -> None:
        try:
            h.send_response(status)
            if ctype is not None:
                h.send_header("Content-Type", ctype)
            for k, v in headers:
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body) if declared is None else declared))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body)
            if declared is not None:
                h.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    def _body(self, h: BaseHTTPRequestHandler, body: bytes, fault: str | None, **kw: Any) -> None:
        """A 200 answer of ``body``, spoiled as the fault says."""
        if fault == "malformed":
            return self._send(h, 200, b"<html>bad gateway</html>", "text/html")
        if fault == "truncated":
            return self._send(h, 200, body[: len(body) // 2], declared=len(body))
        return self._send(h, 200, body, **kw)

    def _one(self, h: BaseHTTPRequestHandler, path: str, body: bytes, fault: str | None) -> None:
        if h.command not in ("GET", "DELETE"):
            return self._send(h, 405, error(405, f"method disallowed: {h.command}"))
        try:
            d = Digest(path.rsplit("/", 1)[-1])
        except DigestError as e:
            return self._send(h, 400, error(400, f"malformed path: {e}"))
        if h.command == "DELETE":
            with self._lock:
                self.reports.pop(d, None)
            if self.store is not None:
                self.store.delete_manifests(d)
            return self._send(h, 204, b"", None)
        tag = f'"{self.state}"'
        if h.headers.get("If-None-Match") == tag:
            return self._send(h, 304, b"", None)
        found = self.reports.get(d)
        if found is None:
            return self._send(h, 404, error(404, "index report not found"))
        if fault == "other":
            found = next(b for x, b in self.reports.items() if x != d)
        self._body(
            h,
            found,
            fault,
            ctype="application/vnd.clair.index_report.v1+json",
            headers=[("Etag", tag)],
        )

    def _bulk(self, h: BaseHTTPRequestHandler, path: str, body: bytes, fault: str | None) -> None:
        if h.command == "DELETE":
            try:
                wanted = [Digest(x) for x in orjson.loads(body) or []]
            except (orjson.JSONDecodeError, TypeError, DigestError) as e:
                return self._send(h, 400, error(400, f"failed to deserialize bulk delete: {e}"))
            with self._lock:
                deleted = [d for d in dict.fromkeys(wanted) if self.reports.pop(d, None)]
            if self.store is not None and deleted:
                self.store.delete_manifests(*deleted)
            return self._send(h, 200, orjson.dumps(deleted or None), "text/plain; charset=utf-8")
        if h.command != "POST":
            return self._send(h, 405, error(405, f"method disallowed: {h.command}"))
        try:
            manifest = orjson.loads(body)
            d = manifest.get("hash") or ""
            layers = manifest.get("layers") or []
        except (orjson.JSONDecodeError, AttributeError) as e:
            return self._send(h, 400, error(400, f"failed to deserialize manifest: {e}"))
        if not d or not layers:
            return self._send(h, 400, error(400, "bogus manifest"))
        links = [
            ("Link", LINK_INDEX.format(f"{REPORT}/{d}")),
            ("Link", LINK_REPORT.format(f"/matcher/api/v1/vulnerability_report/{d}")),
        ]
        tag = f'"{self.state}"'
        if h.headers.get("If-None-Match") == tag:
            return self._send(h, 412, b"", None, headers=links)
        if self.index_seconds:
            time.sleep(self.index_seconds)
        found = self.catalog.get(d)
        if found is None:
            found = orjson.dumps(
                {
                    "manifest_hash": d,
                    "state": "IndexError",
                    "packages": {},
                    "distributions": {},
                    "repository": {},
                    "environments": {},
                    "success": False,
                    "err": "fetcher: encountered errors: layer not found",
                }
            )
        else:
            with self._lock:
                self.reports[d] = found
            self._index(found)
        headers = [*links, ("Etag", tag), ("Location", f"{REPORT}/{d}")]
        self._send(h, 201, found, "text/plain; charset=utf-8", headers=headers)

    def _state(self, h: BaseHTTPRequestHandler, path: str, body: bytes, fault: str | None) -> None:
        if h.command != "GET":
            return self._send(h, 405, error(405, f"method disallowed: {h.command}"))
        tag = f'"{self.state}"'
        if h.headers.get("If-None-Match") == tag:
            return self._send(h, 304, b"", None, headers=[("Etag", tag)])
        self._body(
            h,
            orjson.dumps({"state": self.state}) + b"\n",
            fault,
            ctype="application/vnd.clair.index_state.v1+json",
            headers=[("Etag", tag)],
        )

    def _affected(
        self, h: BaseHTTPRequestHandler, path: str, body: bytes, fault: str | None
    ) -> None:
        if h.command != "POST":
            return self._send(h, 405, error(405, f"method disallowed: {h.command}"))
        try:
            items = orjson.loads(body).get("vulnerabilities") or []
            vulns = [Vulnerability.from_json(orjson.dumps(v)) for v in items]
        except (orjson.JSONDecodeError, AttributeError, StoreError, ValueError) as e:
            return self._send(h, 400, error(400, f"failed to deserialize vulnerabilities: {e}"))
        if self.store is None:
            return self._send(h, 500, error(500, "no store to answer from"))
        answer = self.store.affected_manifests_batch(vulns).to_json()
        self._body(h, answer, fault, ctype="application/vnd.clair.affected_manifests.v1+json")

    def _redirect(
        self, h: BaseHTTPRequestHandler, path: str, body: bytes, fault: str | None
    ) -> None:
        self._send(h, 301, b"", None, headers=[("Location", AFFECTED + "/")])

    def _openapi(
        self, h: BaseHTTPRequestHandler, path: str, body: bytes, fault: str | None
    ) -> None:
        if self.openapi is None:
            return self._send(h, 404, b"404 page not found\n", "text/plain; charset=utf-8")
        self._send(h, 200, self.openapi, "application/openapi+json")

    def _matcher(
        self, h: BaseHTTPRequestHandler, path: str, body: bytes, fault: str | None
    ) -> None:
        d = path.rsplit("/", 1)[-1]
        if d not in self.reports:
            return self._send(h, 404, error(404, "index report not found"))
        report = orjson.loads(self.reports[d])
        answer = {
            "manifest_hash": d,
            "packages": report.get("packages") or {},
            "distributions": report.get("distributions") or {},
            "repository": report.get("repository") or {},
            "environments": report.get("environments") or {},
            "vulnerabilities": {},
            "package_vulnerabilities": {},
            "enrichments": {},
        }
        self._send(
            h,
            201,
            orjson.dumps(answer),
            "application/json",
            headers=[("Cache-Control", "max-age=21600")],
        )

    def stop(self) -> None:
        """Stop listening and close every open connection (as a Clair that went away)."""
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _hash_of(body: bytes) -> str:
    return str(orjson.loads(body)["manifest_hash"])


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - by hand
    import fakeredis

    from redis_store import RedisStore

    p = argparse.ArgumentParser(description="A stand-in for Clair's indexer API.")
    p.add_argument("reports", nargs="+", type=Path, help="IndexReport JSON files to hold")
    p.add_argument("--port", type=int, default=6061)
    p.add_argument("--psk", help="base64 key: require Clair's PSK JWTs")
    args = p.parse_args(argv)
    store = RedisStore(fakeredis.FakeRedis(), namespace="origin")
    clair = ClairIndexer(
        [r.read_bytes() for r in args.reports], psk=args.psk, store=store, port=args.port
    )
    print(f"Clair's indexer API (a stand-in) on {clair.url}, holding {len(clair.reports)} reports")
    try:
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        clair.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
