"""Limits: Clair's concurrency limit (429) and the largest request body (413).

Clair limits, per process, every POST under its indexer prefix (an index request, an
affected-manifests request) and every method on ``/indexer/api/v1/index_report`` (the bulk
delete), with a semaphore tried once: a request over the limit is answered 429 at once,
never queued (``httptransport/concurrentlimit.go``). This server does the same, per
worker. Request bodies are read up to ``--max-body`` bytes: a declared ``Content-Length``
over it is refused before reading, a body that turns out longer when read is cut off there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request

from redis_store.serve.errors import ApiError

INDEX_REPORT = "/indexer/api/v1/index_report"


class ConcurrencyLimit:
    """Clair's limiter: ``size`` requests at once (None: unlimited)."""

    def __init__(self, size: int | None) -> None:
        self.size = size
        self.used = 0

    @staticmethod
    def applies(method: str, path: str) -> bool:
        """Clair's predicate, for a request under the indexer prefix."""
        return method == "POST" or path == INDEX_REPORT

    def try_acquire(self) -> bool:
        if self.size is not None and self.used >= self.size:
            return False
        self.used += 1
        return True

    def release(self) -> None:
        self.used -= 1


def declared_length(request: Request, limit: int) -> None:
    """Refuse a body whose declared length is over the limit (before reading it)."""
    raw = request.headers.get("content-length")
    if raw is not None:
        try:
            size = int(raw)
        except ValueError:
            raise ApiError(400, f"malformed Content-Length: {raw!r}") from None
        if size > limit:
            raise ApiError(413, f"request body of {size} bytes is over the limit of {limit}")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, at most ``limit`` bytes (413 beyond)."""
    declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def limited_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body as it comes, cut off (and the request failed) past ``limit``."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is over the limit of {limit} bytes")
        if chunk:
            yield chunk


__all__ = ["INDEX_REPORT", "ConcurrencyLimit", "declared_length", "limited_stream", "read_body"]
