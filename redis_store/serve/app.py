"""The ASGI application: Clair's indexer routes behind authentication, limits, metrics and
an access log.

``create_app()`` is the factory each uvicorn worker calls (``redis-store serve`` hands the
settings over in an environment variable). Requests pass through :class:`Front` (a plain
ASGI layer, cheaper than a framework middleware): the PSK check (401, empty body), Clair's
concurrency limit (429), the request's metrics and its access-log line, and a last guard
that turns any unexpected failure into Clair's 500 answer, logged here, never a traceback
to the client. Behind it, a Starlette router (:mod:`redis_store.serve.routes`).

Each worker runs one background task: once a second it checks that Redis answers, reads
the mirror mark, retries clearing a mark Redis could not take before, and writes its
metrics and status for the introspection listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from redis_store import CacheConfig
from redis_store.ops import mirror
from redis_store.serve import routes
from redis_store.serve.auth import PskVerifier, Signer
from redis_store.serve.config import RUNDIR_ENV, ServeConfig, from_env
from redis_store.serve.context import Serving
from redis_store.serve.errors import error_body
from redis_store.serve.introspect import ServeMetrics, Snapshots
from redis_store.serve.limits import ConcurrencyLimit
from redis_store.serve.negotiate import GzipMemo
from redis_store.serve.origin import DatabaseReports, IndexerAPI
from redis_store.serve.state import OriginState
from redis_store.store import AsyncRedisStore

log = logging.getLogger("redis_store.serve")

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def route_of(path: str) -> str:
    """The metrics' and the access log's name for a path."""
    if path.startswith("/indexer/api/v1/"):
        rest = path[16:]
        if rest.startswith("index_report/"):
            return "index_report"
        if rest == "index_report":
            return "index_report_bulk"
        if rest == "index_state":
            return "index_state"
        if rest.startswith("internal/affected_manifest"):
            return "affected_manifest"
    if path == "/openapi/v1":
        return "openapi"
    if path == "/robots.txt":
        return "robots"
    return "forward"


class Front:
    """Authentication, limits, metrics, the access log and the last guard, around ``app``."""

    def __init__(self, app: ASGIApp, holder: dict[str, Serving]) -> None:
        self.app = app
        self.holder = holder
        self._children: dict[tuple[str, str, int], Any] = {}
        #: Each route's in-flight gauge and latency histogram (labels() costs a lookup).
        self._per_route: dict[str, tuple[Any, Any]] = {}
        self.text_log = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        serving = self.holder["serving"]
        m = serving.metrics
        path: str = scope["path"]
        method: str = scope["method"]
        route = route_of(path)
        start = time.perf_counter()
        sent = {"status": 0, "bytes": 0}

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        per_route = self._per_route.get(route)
        if per_route is None:
            per_route = self._per_route[route] = (
                m.in_flight.labels(route),
                m.latency.labels(route),
            )
        gauge, latency = per_route
        gauge.inc()
        acquired = False
        try:
            if serving.verifier is not None and path != "/robots.txt":
                values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"]
                if not serving.verifier.check(values):
                    await _plain(sending, 401)
                    return
            limit = serving.limit
            if path.startswith("/indexer/") and limit.applies(method, path):
                if not limit.try_acquire():
                    m.limited.labels(route, method).inc()
                    await _error(sending, 429, "server handling too many requests")
                    return
                acquired = True
            await self.app(scope, receive, sending)
        except Exception as e:  # the last guard: logged here, Clair's 500 there
            log.error(
                "%s %s failed: %s\n%s", method, path, e, "".join(traceback.format_exception(e))
            )
            if sent["status"] == 0:
                with contextlib.suppress(Exception):
                    await _error(sending, 500, f"internal error: {type(e).__name__}")
        finally:
            if acquired:
                serving.limit.release()
            gauge.dec()
            elapsed = time.perf_counter() - start
            status = sent["status"] or 499
            key = (route, method, status)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = m.requests.labels(route, method, str(status))
            child.inc()
            latency.observe(elapsed)
            if serving.config.access_log != "off":
                self._log(scope, route, status, sent["bytes"], elapsed, serving.config.access_log)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, size: int, elapsed: float, kind: str) -> None:
        client = scope.get("client")
        remote = f"{client[0]}:{client[1]}" if client else ""
        query = scope.get("query_string", b"")
        uri = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        source = scope.get(routes.SOURCE, "")
        ms = round(elapsed * 1000, 3)
        if kind == "json":
            line = orjson.dumps(
                {
                    "ts": round(time.time(), 3),
                    "remote": remote,
                    "method": scope["method"],
                    "uri": uri,
                    "route": route,
                    "status": status,
                    "bytes": size,
                    "ms": ms,
                    "source": source,
                }
            ).decode()
        else:
            line = f'{remote} "{scope["method"]} {uri}" {status} {size} {ms}ms {route} {source}'
        _write_line(line)


def _write_line(line: str) -> None:
    """One access-log line on stderr, in one write: cheaper than the logging machinery on
    the hot path, and a line from one worker is never split by another's."""
    with contextlib.suppress(OSError):  # stderr closed: the line is lost, the answer is not
        os.write(2, (line + "\n").encode("utf-8", "replace"))


async def _plain(send: Callable[[MutableMapping[str, Any]], Awaitable[None]], status: int) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


async def _error(
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]], status: int, message: str
) -> None:
    body = error_body(status, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_serving(config: ServeConfig) -> Serving:
    """A worker's stores, origin clients and the rest, from the settings."""
    registry = CollectorRegistry(auto_describe=True)
    cache: bool | CacheConfig = (
        CacheConfig(max_bytes=config.cache_size) if config.cache_size > 0 else False
    )
    timeouts: dict[str, Any] = {
        "socket_timeout": config.redis_timeout,
        "socket_connect_timeout": config.redis_timeout,
    }
    store = AsyncRedisStore.from_url(
        config.url, namespace=config.namespace, local_cache=cache, metrics=registry, **timeouts
    )
    signer = Signer(config.signing_key) if config.signing_key else None
    api = (
        IndexerAPI(
            config.api_origin,
            signer=signer,
            timeout=config.origin_timeout,
            connections=config.origin_connections,
            ca_file=config.origin_ca_file,
        )
        if config.api_origin
        else None
    )
    database = (
        DatabaseReports(config.database_origin, timeout=config.origin_timeout)
        if config.database_origin
        else None
    )
    return Serving(
        config=config,
        store=store,
        api=api,
        database=database,
        state=OriginState(api, config.state_ttl),
        verifier=PskVerifier(config.psk, config.issuers) if config.psk else None,
        limit=ConcurrencyLimit(config.limit),
        gzip=GzipMemo(config.gzip_cache),
        metrics=ServeMetrics(registry),
    )


async def _checks(serving: Serving, snapshots: Snapshots | None) -> None:
    """Once a second: Redis answering, the mirror mark, the worker's files."""
    store = serving.store
    while True:
        try:
            await store.client.exists(store.keys.scanners)
            if serving.mirror_dirty:
                await mirror.clear_async(store)
                serving.mirror_dirty = False
            await serving.mirror_status()
            serving.redis_ok, serving.redis_error = True, ""
        except (RedisError, OSError) as e:
            serving.redis_ok, serving.redis_error = False, f"{type(e).__name__}: {e}"
        except Exception as e:  # never let the checks die
            log.warning("health check failed: %s", e)
        serving.metrics.gzip.set(serving.gzip.size)
        if snapshots is not None:
            try:
                snapshots.write(_status(serving))
            except OSError as e:
                log.warning("cannot write the worker's status: %s", e)
        await asyncio.sleep(1.0)


def _status(serving: Serving) -> dict[str, Any]:
    state = serving.state
    mark = serving.last_mirror
    return {
        "redis": "ok" if serving.redis_ok else (serving.redis_error or "not checked yet"),
        "origin": serving.origin_name,
        "state": state.value,
        "state_error": state.error or None,
        "mirror": None if mark is None else {**mark.as_dict(), "dirty": serving.mirror_dirty},
        "local_cache": serving.store.local_cache.state,
    }


def create_app(config: ServeConfig | None = None) -> Front:
    """The application of one worker (the settings from the environment by default)."""
    config = config or from_env()
    configure_logging()
    holder: dict[str, Serving] = {}
    rundir = os.environ.get(RUNDIR_ENV, "")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        serving = build_serving(config)
        holder["serving"] = serving
        snapshots = Snapshots(rundir, serving.metrics.registry) if rundir else None
        checks = asyncio.get_running_loop().create_task(_checks(serving, snapshots))
        if serving.api is not None:
            serving.state.held()  # the first state, in the background
        log.info("worker %d serving", os.getpid())
        try:
            yield
        finally:
            checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checks
            if snapshots is not None:
                snapshots.remove()
            for closing in (serving.api, serving.database):
                if closing is not None:
                    with contextlib.suppress(Exception):
                        await closing.close()
            with contextlib.suppress(Exception):
                await serving.store.close()

    indexer = "/indexer/api/v1"
    handlers: list[tuple[str, routes.Handler]] = [
        (f"{indexer}/index_report/{{rest:path}}", routes.index_report_one),
        (f"{indexer}/index_report", routes.index_report),
        (f"{indexer}/index_state", routes.index_state),
        (f"{indexer}/internal/affected_manifest", routes.affected_manifest),
        (f"{indexer}/internal/affected_manifest/", routes.affected_manifest),
        ("/robots.txt", routes.robots),
        ("/{path:path}", routes.forward),
    ]
    table = [
        Route(path, routes.errors_to_answers(handler, holder), methods=METHODS)
        for path, handler in handlers
    ]
    router = Router(routes=table, lifespan=lifespan, redirect_slashes=False)
    return Front(router, holder)


def configure_logging(level: int = logging.INFO) -> None:
    """The server's own lines on stderr, prefixed (the access log writes its lines itself)."""
    other = logging.StreamHandler(sys.stderr)
    other.setFormatter(logging.Formatter("redis-store serve: %(levelname)s %(message)s"))
    log.handlers[:] = [other]
    log.propagate = False
    log.setLevel(level)


__all__ = ["Front", "build_serving", "configure_logging", "create_app", "route_of"]
