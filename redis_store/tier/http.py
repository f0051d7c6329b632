"""Clair's indexer HTTP API as an origin: ``GET /indexer/api/v1/index_report/{digest}``.

Connections are kept open and reused (a pool of keep-alive connections, shared by the
threads that fetch): a bulk fill or a stream of misses costs one TCP (and TLS) handshake
per connection, not one per report. A pooled connection the origin closed while it sat
idle is noticed on its next use and the request sent once more on a new connection (a GET
is safe to repeat).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator

from redis_store.errors import InvalidInputError, OriginError
from redis_store.models import Digest
from redis_store.options import seconds
from redis_store.tier.diagnose import http_failure, http_status

#: Where Clair's indexer serves a manifest's report, and its state (what a check asks).
REPORT_PATH = "/indexer/api/v1/index_report/"
STATE_PATH = "/indexer/api/v1/index_state"
#: A larger answer is refused rather than read into memory (claircore's largest reports
#: are a few MB).
MAX_REPORT_BYTES = 256 * 1024 * 1024
#: Idle connections kept open at most (more may be open while many threads fetch).
POOL_SIZE = 16
#: What a pooled connection the origin closed while idle raises on its next use.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class _Pool:
    """Keep-alive connections to one origin, the most recently used first."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        timeout: float,
        context: ssl.SSLContext | None,
    ) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.timeout, self.context = timeout, context
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        #: Connections opened so far (for tests and statistics).
        self.opened = 0

    def take(self) -> tuple[http.client.HTTPConnection, bool]:
        """A connection, and whether it was used before."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
            self.opened += 1
        if self.scheme == "https":
            return (
                http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self.context
                ),
                False,
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout), False

    def give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class ClairIndexerOrigin:
    """Reports from a Clair indexer (or a combined-mode Clair) over HTTP(S).

    ``token`` goes in the ``Authorization`` header as ``Bearer <token>``: a string, or a
    callable asked for a fresh one on every request (Clair's pre-shared-key JWTs expire).
    TLS: ``ca_file`` to trust a private CA, ``cert_file``/``key_file`` for a client
    certificate, or a whole ``ssl_context``. A 404 is "not indexed" (None); any other
    failure, a timeout included, is an :class:`OriginError`.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        token: str | Callable[[], str] | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not isinstance(url, str):
            raise InvalidInputError(f"origin: expected a URL, got {type(url).__name__}")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(f"origin: expected an http:// or https:// URL, got {url!r}")
        timeout = seconds(timeout, "origin timeout")
        self.base = urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc.rpartition("@")[2], parts.path.rstrip("/"), "", "")
        )
        self.name = self.base
        self.timeout = float(timeout)
        self._token = token
        self._prefix = parts.path.rstrip("/")
        context = ssl_context
        if context is None and parts.scheme == "https":
            context = ssl.create_default_context(cafile=ca_file)
            if cert_file is not None:
                context.load_cert_chain(cert_file, key_file)
        self._pool = _Pool(parts.scheme, parts.hostname, parts.port, self.timeout, context)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "redis-store"}
        token = self._token() if callable(self._token) else self._token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    @property
    def connections_opened(self) -> int:
        """Connections opened to the origin so far (reused ones count once)."""
        return self._pool.opened

    def fetch(self, digest: str) -> bytes | None:
        path = self._prefix + REPORT_PATH + urllib.parse.quote(digest, safe=":")
        where = f"{self.name}: {digest}"
        try:
            status, reason, body = self._get(path, self._headers())
        except (OSError, http.client.HTTPException, ValueError) as e:  # timeouts are OSError
            raise http_failure(e, self.name, digest) from e
        except Exception as e:  # the token callable, say
            raise OriginError(f"{where}: {type(e).__name__}: {e}", origin=self.name) from e
        if status == 404:
            return None
        if status != 200:
            raise http_status(status, reason, self.name, digest)
        if len(body) > MAX_REPORT_BYTES:
            raise OriginError(
                f"{where}: the answer is larger than {MAX_REPORT_BYTES} bytes",
                origin=self.name,
                digest=digest,
            )
        return body

    def _get(self, path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """One GET on a pooled connection (sent again once on a new one when a reused
        connection turns out closed); the connection goes back to the pool when the answer
        was read whole and the origin keeps it open."""
        while True:
            conn, reused = self._pool.take()
            try:
                conn.request("GET", path, headers=headers)
                answer = conn.getresponse()
                body = answer.read(MAX_REPORT_BYTES + 1)
            except _STALE:
                conn.close()
                if reused:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if answer.isclosed() and not answer.will_close:
                self._pool.give(conn)
            else:
                conn.close()
            return answer.status, answer.reason, body

    def check(self) -> None:
        """Ask the indexer its state (``GET /indexer/api/v1/index_state``, which needs the
        same token): an :class:`OriginError` saying what is wrong (``misconfigured`` when it
        is the URL, the token or TLS) before any work."""
        try:
            status, reason, body = self._get(self._prefix + STATE_PATH, self._headers())
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise http_failure(e, self.name) from e
        except Exception as e:  # the token callable, say
            raise OriginError(f"{self.name}: {type(e).__name__}: {e}", origin=self.name) from e
        if status != 200:
            raise http_status(status, reason, self.name, probe=True)
        try:
            state = json.loads(body)
        except ValueError:
            state = None
        if not isinstance(state, dict) or "state" not in state:
            raise OriginError(
                f"{self.name}: not Clair's indexer API: {STATE_PATH} did not answer an index state",
                origin=self.name,
                misconfigured=True,
            )

    def digests(self) -> Iterator[Digest]:
        raise OriginError(
            f"{self.name}: Clair's indexer API cannot list its manifests; name them"
            " (--digests FILE)",
            origin=self.name,
        )

    def close(self) -> None:
        """Close the pooled connections (a later fetch opens new ones)."""
        self._pool.close()


__all__ = ["ClairIndexerOrigin"]
