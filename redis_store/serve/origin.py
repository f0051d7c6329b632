"""The origin as the server talks to it: Clair's indexer API over a connection pool, and
Clair's database for misses.

:class:`IndexerAPI` sends every request through one ``aiohttp`` session per worker (its
connections kept open and reused, at most ``connections`` at once; measured on loopback at
about ten times the requests per second of ``httpx`` for 50 KB answers), each signed as
Clair's services sign theirs (:class:`~redis_store.serve.auth.Signer`). A refused or broken
connection, or an answer cut short, is an :class:`OriginUnavailable` (the client gets 502);
no answer within the timeout is an :class:`OriginTimeout` (504).

:class:`DatabaseReports` reads a manifest's report from Clair's database with the library's
:class:`~redis_store.tier.ClairDatabaseOrigin`, in a small pool of threads (psycopg blocks).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from redis_store.errors import OriginError
from redis_store.serve.auth import Signer
from redis_store.tier import ClairDatabaseOrigin

#: A larger answer is refused rather than read into memory (the library's limit too).
MAX_ANSWER = 256 << 20
#: Request headers never passed on (hop-by-hop, or the server's own business).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",
        "content-length",
        "expect",
    }
)


class OriginUnavailable(Exception):
    """The origin could not be reached or broke off its answer (502)."""

    status = 502


class OriginTimeout(OriginUnavailable):
    """The origin did not answer in time (504)."""

    status = 504


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer of the origin, its body decompressed."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


class IndexerAPI:
    """Clair's indexer API (or a combined-mode Clair) at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        signer: Signer | None,
        timeout: float,
        connections: int,
        ca_file: str = "",
    ) -> None:
        self.base = url.rstrip("/")
        self.name = self.base
        self.signer = signer
        self.timeout = timeout
        self.connections = connections
        self.ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The worker's session, made on first use (inside the event loop)."""
        if self._session is None:
            context: ssl.SSLContext | bool = True
            if self.ca_file:
                context = ssl.create_default_context(cafile=self.ca_file)
            connector = aiohttp.TCPConnector(
                limit=self.connections, ssl=context, keepalive_timeout=30, use_dns_cache=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "redis-store-serve"},
            )
        return self._session

    def _headers(self, given: Mapping[str, str] | list[tuple[str, str]] | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        items = given.items() if isinstance(given, Mapping) else (given or [])
        for k, v in items:
            if k.lower() not in HOP_BY_HOP:
                headers[k] = v
        if self.signer is not None:
            headers["Authorization"] = self.signer.header()
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """Send a request and read its whole answer (decompressed)."""
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with self.session().request(
                method, self.base + path, data=body, headers=self._headers(headers), timeout=limit
            ) as r:
                chunks: list[bytes] = []
                size = 0
                async for chunk in r.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > MAX_ANSWER:
                        raise OriginUnavailable(
                            f"the origin's answer is larger than {MAX_ANSWER} bytes"
                        )
                    chunks.append(chunk)
                return Answer(r.status, list(r.headers.items()), b"".join(chunks))
        except TimeoutError as e:
            raise OriginTimeout(
                f"the origin did not answer within {timeout or self.timeout:g} s"
            ) from e
        except (aiohttp.ClientError, OSError, ValueError) as e:
            raise OriginUnavailable(f"the origin cannot be reached: {_why(e)}") from e

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        body: AsyncIterator[bytes] | bytes | None,
        headers: list[tuple[str, str]],
        timeout: float,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and hand over its answer as it comes, undecoded (passed through)."""
        limit = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        try:
            response = await self.session().request(
                method,
                self.base + path,
                data=body,
                headers=self._headers(headers),
                timeout=limit,
                auto_decompress=False,
                allow_redirects=False,
            )
        except TimeoutError as e:
            raise OriginTimeout(f"the origin did not answer within {timeout:g} s") from e
        except (aiohttp.ClientError, OSError, ValueError) as e:
            raise OriginUnavailable(f"the origin cannot be reached: {_why(e)}") from e
        try:
            yield response
        finally:
            response.release()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class DatabaseReports:
    """Reports read from Clair's database, in ``threads`` threads of their own."""

    def __init__(self, dsn: str, *, timeout: float, threads: int = 8) -> None:
        self.origin = ClairDatabaseOrigin(dsn, timeout=timeout)
        self.name = self.origin.name
        self.timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, "origin-db")

    async def fetch(self, digest: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._pool, self.origin.fetch, digest), self.timeout + 1
            )
        except TimeoutError as e:
            raise OriginTimeout(f"the database did not answer within {self.timeout:g} s") from e
        except OriginError as e:
            if "cancel" in str(e).lower() or "timeout" in str(e).lower():
                raise OriginTimeout(str(e)) from e
            raise OriginUnavailable(str(e)) from e

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.origin.close()


__all__ = [
    "HOP_BY_HOP",
    "Answer",
    "DatabaseReports",
    "IndexerAPI",
    "OriginTimeout",
    "OriginUnavailable",
]
