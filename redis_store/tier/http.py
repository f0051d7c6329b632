"""Clair's indexer HTTP API as an origin: ``GET /indexer/api/v1/index_report/{digest}``."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator

from redis_store.errors import InvalidInputError, OriginError
from redis_store.models import Digest
from redis_store.options import seconds
from redis_store.tier.diagnose import http_failure

#: Where Clair's indexer serves a manifest's report, and its state (what a check asks).
REPORT_PATH = "/indexer/api/v1/index_report/"
STATE_PATH = "/indexer/api/v1/index_state"
#: A larger answer is refused rather than read into memory (claircore's largest reports
#: are a few MB).
MAX_REPORT_BYTES = 256 * 1024 * 1024


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
        context = ssl_context
        if context is None and parts.scheme == "https":
            context = ssl.create_default_context(cafile=ca_file)
            if cert_file is not None:
                context.load_cert_chain(cert_file, key_file)
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "redis-store"}
        token = self._token() if callable(self._token) else self._token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def fetch(self, digest: str) -> bytes | None:
        url = self.base + REPORT_PATH + urllib.parse.quote(digest, safe=":")
        where = f"{self.name}: {digest}"
        try:
            request = urllib.request.Request(url, headers=self._headers())
            with self._opener.open(request, timeout=self.timeout) as answer:
                body: bytes = answer.read(MAX_REPORT_BYTES + 1)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise http_failure(e, self.name, digest) from e
        except (OSError, http.client.HTTPException, ValueError) as e:  # timeouts are OSError
            raise http_failure(e, self.name, digest) from e
        except Exception as e:  # the token callable, say
            raise OriginError(f"{where}: {type(e).__name__}: {e}", origin=self.name) from e
        if len(body) > MAX_REPORT_BYTES:
            raise OriginError(
                f"{where}: the answer is larger than {MAX_REPORT_BYTES} bytes",
                origin=self.name,
                digest=digest,
            )
        return body

    def check(self) -> None:
        """Ask the indexer its state (``GET /indexer/api/v1/index_state``, which needs the
        same token): an :class:`OriginError` saying what is wrong (``misconfigured`` when it
        is the URL, the token or TLS) before any work."""
        url = self.base + STATE_PATH
        try:
            request = urllib.request.Request(url, headers=self._headers())
            with self._opener.open(request, timeout=self.timeout) as answer:
                body: bytes = answer.read(64 * 1024)
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise http_failure(e, self.name, probe=True) from e
        except Exception as e:  # the token callable, say
            raise OriginError(f"{self.name}: {type(e).__name__}: {e}", origin=self.name) from e
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
        """Nothing to release: every request has its own connection."""


__all__ = ["ClairIndexerOrigin"]
