"""The servers ``scripts/serve_bench.py`` compares the tier with, on the same stack (a
Starlette router on uvicorn with uvloop and httptools):

* :func:`postgres_app`: Clair's indexer answering from PostgreSQL as Clair does, one query
  per request (``indexreport.scan_result`` joined to ``manifest``), the JSON decoded and
  encoded again as Clair's Go code does; also the state, and a POST answered for a
  manifest it holds (what Clair's indexer does for a manifest already indexed). It is the
  tier's origin in the benchmark, and what nginx caches.
* :func:`floor_app`: the tier's own application (the same layer in front: metrics, access
  log) with one more route answering a constant body of a report's size: the framework's
  floor for a hit.

Both read their settings from the environment (uvicorn's ``--factory`` calls them in each
worker): ``BENCH_PG_DSN``, ``BENCH_STATE``, ``BENCH_FLOOR_BYTES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from redis_store.serve.app import Front, create_app

REPORT = (
    "SELECT ir.scan_result::text FROM indexreport ir"
    " JOIN manifest m ON m.id = ir.manifest_id WHERE m.hash = %s"
)
REPORT_TYPE = "application/vnd.clair.index_report.v1+json"
NOT_FOUND = b'{"code":"not-found","message":"index report not found"}'
PREFIX = "/indexer/api/v1"
LINK = '<{}>; rel="https://projectquay.io/clair/v1/{}"'


class _Connections:
    """A few asynchronous connections, handed out one request at a time."""

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn, self.size = dsn, size
        self.free: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        self.all: list[psycopg.AsyncConnection[Any]] = []

    async def open(self) -> None:
        for _ in range(self.size):
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            self.all.append(conn)
            self.free.put_nowait(conn)

    async def report(self, digest: str) -> str | None:
        conn = await self.free.get()
        try:
            cur = await conn.execute(REPORT, (digest,))
            row = await cur.fetchone()
        finally:
            self.free.put_nowait(conn)
        return None if row is None else str(row[0])

    async def close(self) -> None:
        for conn in self.all:
            await conn.close()


def postgres_app() -> Router:
    """Clair's indexer on PostgreSQL (one query per request)."""
    dsn = os.environ["BENCH_PG_DSN"]
    state = os.environ.get("BENCH_STATE", "bench")
    etag = f'"{state}"'
    holder: dict[str, _Connections] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        pool = _Connections(dsn, int(os.environ.get("BENCH_PG_CONNECTIONS", "8")))
        await pool.open()
        holder["pool"] = pool
        yield
        await pool.close()

    async def one(request: Request) -> Response:
        digest = request.url.path.rsplit("/", 1)[-1]
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304)
        text = await holder["pool"].report(digest)
        if text is None:
            return Response(NOT_FOUND, 404, media_type="application/json")
        body = orjson.dumps(orjson.loads(text))  # Clair decodes the row and encodes it again
        return Response(body, 200, media_type=REPORT_TYPE, headers={"etag": etag})

    async def index_state(request: Request) -> Response:
        body = orjson.dumps({"state": state})
        return Response(body, 200, media_type="application/json", headers={"etag": etag})

    async def post(request: Request) -> Response:
        manifest = orjson.loads(await request.body())
        digest = manifest["hash"]
        text = await holder["pool"].report(digest)
        headers = {
            "etag": etag,
            "location": f"{PREFIX}/index_report/{digest}",
        }
        if text is None:
            return Response(NOT_FOUND, 404, media_type="application/json")
        out = Response(orjson.dumps(orjson.loads(text)), 201, headers=headers)
        out.raw_headers.append(
            (b"link", LINK.format(f"{PREFIX}/index_report/{digest}", "index_report").encode())
        )
        return out

    return Router(
        routes=[
            Route(PREFIX + "/index_report/{rest:path}", one, methods=["GET"]),
            Route(PREFIX + "/index_state", index_state, methods=["GET"]),
            Route(PREFIX + "/index_report", post, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def floor_app() -> Front:
    """The tier's application with ``/floor``: a constant body of ``BENCH_FLOOR_BYTES``."""
    body = b'{"manifest_hash":"floor"' + b" " * max(0, int(os.environ["BENCH_FLOOR_BYTES"]) - 25)
    body += b"}"
    front = create_app()

    async def floor(request: Request) -> Response:
        return Response(body, 200, media_type=REPORT_TYPE, headers={"etag": '"floor"'})

    router = front.app
    assert isinstance(router, Router)
    router.routes.insert(0, Route("/floor", floor, methods=["GET"]))
    return front


__all__ = ["floor_app", "postgres_app"]
