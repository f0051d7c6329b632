"""Clair's indexer routes, answered from the tier where it can and by the origin otherwise.

Each handler follows Clair's own (``httptransport/indexer_v1.go``) in its checks and their
order: the method (405), the digest in the path (400), the media type (415), the state's
``If-None-Match`` (304 or 412), then the work. Where the answer comes from:

* ``GET index_report/{digest}``: the stored bytes, no decode; a miss is read from the origin
  (its database when one is given, else its API), imported when finished, and answered
  with the origin's bytes; a report the origin has not finished is relayed, not kept.
* ``GET index_state``: the held state (:mod:`redis_store.serve.state`).
* ``POST index_report``: always forwarded: only the origin knows whether its current scanners
  covered the manifest (the tier records the replay's scanners, not Clair's), Clair answers
  a manifest it holds from its store without fetching a layer, and indexing requests are
  rare beside reads. The finished report in its answer is imported (replacing a different
  one the tier held), and the answer relayed with its ETag, Location and Link headers.
* ``DELETE``: forwarded; what the origin deleted is deleted here too, and the mirror mark
  told that the origin made those deletions as well.
* ``POST internal/affected_manifest``: from the tier while it is a complete mirror (checked
  before and after the answer is read), otherwise forwarded.
* Everything else (the matcher's and notifier's routes, ``/openapi/v1``): passed to the
  origin unchanged and streamed back.

With only a database origin, what needs Clair's API (the state, POST, DELETE, forwarded
paths) is a 501, and an affected-manifests request the tier cannot answer whole a 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from redis_store.codec.wire import vulnerability_from_obj
from redis_store.errors import DigestError, LockError, OriginError, StoreError
from redis_store.models import Digest
from redis_store.ops import mirror
from redis_store.serve.context import Serving
from redis_store.serve.errors import ApiError, error_response
from redis_store.serve.importing import import_finished
from redis_store.serve.limits import INDEX_REPORT, declared_length, limited_stream, read_body
from redis_store.serve.negotiate import (
    ACCEPTABLE,
    BadAccept,
    GzipMemo,
    NotAcceptable,
    encode,
    pick_content_type,
    pick_encoding,
)
from redis_store.serve.origin import HOP_BY_HOP, Answer, OriginTimeout, OriginUnavailable
from redis_store.store.importing import ImportOutcome, Prepared
from redis_store.store.readthrough import decode

log = logging.getLogger("redis_store.serve")

INDEXER = "/indexer/api/v1"
INDEX_STATE = INDEXER + "/index_state"
AFFECTED = INDEXER + "/internal/affected_manifest"
REPORT_TYPES = ("application/vnd.clair.index_report.v1+json", "application/json")
STATE_TYPES = ("application/vnd.clair.index_state.v1+json", "application/json")
BULK_TYPES = ("application/vnd.clair.bulk_delete.v1+json", "application/json")
AFFECTED_TYPES = ("application/vnd.clair.affected_manifests.v1+json", "application/json")
LINK_INDEX = '<{}>; rel="https://projectquay.io/clair/v1/index_report"'
NOT_FOUND = "index report not found"
#: Scope keys: where the answer came from (for the access log), the negotiated encoding.
SOURCE = "redis_store.source"
ENCODING = "redis_store.encoding"

Handler = Callable[[Serving, Request], Awaitable[Response]]


def header_values(request: Request, name: str) -> list[str] | None:
    """Every value of a request header, as Go's ``r.Header[name]`` (None when absent)."""
    raw = name.lower().encode()
    values = [v.decode("latin-1") for k, v in request.scope["headers"] if k == raw]
    return values or None


def unmodified(request: Request, etag: str) -> bool:
    """Clair's ``unmodified``: an exact match of one ``If-None-Match`` value."""
    values = header_values(request, "if-none-match")
    return values is not None and etag in values


def media_type(request: Request, allow: tuple[str, ...]) -> str:
    try:
        return pick_content_type(header_values(request, "accept"), allow)
    except NotAcceptable as e:
        raise ApiError(415, str(e)) from None
    except BadAccept as e:
        raise ApiError(400, f"malformed request: {e}") from None


def encoding_of(request: Request) -> str:
    """The negotiated content encoding (415 with no body when none is acceptable)."""
    try:
        return pick_encoding(request.headers.get("accept-encoding"))
    except NotAcceptable:
        raise _Unacceptable() from None


class _Unacceptable(Exception):
    """Clair's compression middleware answers 415 without a body."""


def answer(
    request: Request,
    status: int,
    body: bytes,
    *,
    media: str | None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    memo: GzipMemo | None = None,
    key: str = "",
) -> Response:
    """An answer, encoded as negotiated (with ``memo``: a held report's gzip, kept under
    ``key``)."""
    enc = request.scope.get(ENCODING, "identity")
    out = Response(body, status, media_type=media)
    if headers:
        items = headers.items() if isinstance(headers, dict) else headers
        for k, v in items:
            out.raw_headers.append((k.lower().encode(), v.encode("latin-1")))
    if enc == "identity" or not body:
        if enc == "identity" and request.headers.get("accept-encoding") is not None:
            out.raw_headers.append((b"accept-encoding", ACCEPTABLE.encode()))
        return out
    coded = memo.gzip(key, body) if enc == "gzip" and memo is not None else encode(body, enc)
    out.body = coded
    out.raw_headers = [(k, v) for k, v in out.raw_headers if k != b"content-length"]
    out.raw_headers.append((b"content-length", str(len(coded)).encode()))
    out.raw_headers.append((b"content-encoding", enc.encode()))
    return out


def parse_digest(path: str) -> Digest:
    """The last path element as a digest (Clair's ``path.Base`` and ``ParseDigest``)."""
    base = path.rstrip("/").rsplit("/", 1)[-1] or "."
    try:
        return Digest(base)
    except DigestError as e:
        raise ApiError(400, f"malformed path: {e}") from None


def needs_api(serving: Serving, what: str) -> None:
    if serving.api is None:
        raise ApiError(
            501,
            f"{what} needs Clair's indexer API as an origin (--origin http(s)://...); this"
            " server has only its database",
        )


async def origin_call(
    serving: Serving,
    route: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    timeout: float | None = None,
) -> Answer:
    """One request to Clair's indexer API, counted and timed."""
    assert serving.api is not None
    m = serving.metrics
    start = time.perf_counter()
    try:
        result = await serving.api.request(
            method, path, body=body, headers=headers, timeout=timeout
        )
    except OriginTimeout:
        m.origin.labels(route, "timeout").inc()
        raise
    except OriginUnavailable:
        m.origin.labels(route, "unreachable").inc()
        raise
    finally:
        m.origin_latency.labels(route).observe(time.perf_counter() - start)
    m.origin.labels(route, str(result.status)).inc()
    return result


#: Headers of the origin's answer that a relayed indexer answer keeps.
RELAYED = ("etag", "location", "link", "content-type", "x-content-type-options")


def relay(request: Request, found: Answer, media: str | None = None) -> Response:
    """The origin's answer, with its status, body and the headers clients read; a success
    with ``media``, the documented media type (Clair sets none on a POST's or a bulk
    delete's answer, so Go sniffs ``text/plain``; no client reads it, and Clair's document
    names these)."""
    kept = [
        (k, v) for k, v in found.headers if k.lower() in RELAYED and k.lower() != "content-type"
    ]
    if media is None or not 200 <= found.status < 300:
        media = found.header("content-type")
    if found.status in (204, 304) or (found.status == 412 and not found.body):
        media = None
    return answer(request, found.status, found.body, media=media, headers=kept)


# -- GET and DELETE of one report ---------------------------------------------------------------


async def index_report_one(serving: Serving, request: Request) -> Response:
    method = request.method
    if method not in ("GET", "DELETE"):
        raise ApiError(405, f"method disallowed: {method}")
    d = parse_digest(request.url.path)
    if method == "DELETE":
        return await delete_one(serving, request, d)
    media = media_type(request, REPORT_TYPES)
    state = serving.state.held()
    etag = None if state is None else f'"{state}"'
    if etag is not None and unmodified(request, etag):
        return Response(status_code=304)
    headers = None if etag is None else {"etag": etag}
    body = await serving.store.index_report_json(d)
    if body is not None:
        request.scope[SOURCE] = "tier"
        serving.metrics.answers.labels("index_report", "tier").inc()
        return answer(request, 200, body, media=media, headers=headers, memo=serving.gzip, key=d)
    kind, found = await read_through(serving, d)
    serving.metrics.answers.labels("index_report", kind).inc()
    request.scope[SOURCE] = kind
    if found is None:
        raise ApiError(404, NOT_FOUND)
    return answer(request, 200, found, media=media, headers=headers)


async def read_through(serving: Serving, d: Digest) -> tuple[str, bytes | None]:
    """A miss: ("origin", its bytes) once imported, ("unfinished", its bytes) for a report
    the origin has not finished, ("absent", None) when it has none. Concurrent misses of
    one digest share one fetch; a client that goes away does not stop it."""
    if serving.recently_absent(d):
        return "absent", None
    task = serving.misses.get(d)
    if task is None:
        task = asyncio.get_running_loop().create_task(_miss(serving, d))
        serving.misses[d] = task
        task.add_done_callback(lambda _: serving.misses.pop(d, None))
    return await asyncio.shield(task)


async def _miss(serving: Serving, d: Digest) -> tuple[str, bytes | None]:
    if serving.database is not None:
        source = await serving.database.fetch(d)
        name = serving.database.name
    else:
        found = await origin_call(
            serving,
            "index_report",
            "GET",
            f"{INDEX_REPORT}/{d}",
            headers={"Accept": "application/json", "Accept-Encoding": "gzip"},
        )
        if found.status == 404:
            source = None
        elif found.status != 200:
            raise OriginUnavailable(f"the origin answered {found.status}: {_excerpt(found.body)}")
        else:
            source = found.body
        name = serving.origin_name
    if source is None:
        serving.note_absent(d)
        return "absent", None
    try:
        report = await asyncio.to_thread(decode, name, d, source)
    except OriginError as e:
        raise OriginUnavailable(str(e)) from e
    if report is None:
        return "unfinished", source
    await _import(serving, report, replace=False)
    return "origin", source


async def _import(serving: Serving, report: Prepared, *, replace: bool) -> ImportOutcome | None:
    """Import a finished report (``replace``: one the tier holds with other content is
    replaced, as the origin re-indexed it); a failure is logged and counted (the answer
    stands), and the mirror mark learns that the tier misses it."""
    d = report.digest
    try:
        outcome = await import_finished(serving.store, report)
        if outcome is ImportOutcome.CONFLICT and replace:
            outcome = await import_finished(serving.store, report, force=True)
    except (StoreError, ValueError, RedisError) as e:
        serving.metrics.imports.labels("failed").inc()
        log.warning("%s: could not import the origin's report: %s: %s", d, type(e).__name__, e)
        if not isinstance(e, LockError):
            await serving.mirror_lost(f"{d} could not be imported")
        return None
    serving.metrics.imports.labels(str(outcome)).inc()
    serving.absent.pop(d, None)
    if outcome in (ImportOutcome.IMPORTED, ImportOutcome.REPLACED):
        serving.gzip.forget(d)
    if outcome is ImportOutcome.REPLACED:  # a deletion here the origin made too (re-index)
        await _mirrored(serving, 1)
    elif outcome is ImportOutcome.CONFLICT:
        await serving.mirror_lost(f"{d} is held with other content than the origin's")
    return outcome


async def _mirrored(serving: Serving, count: int) -> None:
    if count:
        try:
            await mirror.note_mirrored_async(serving.store, count)
        except RedisError as e:
            log.warning("cannot record %d deletions made at the origin too: %s", count, e)


def _excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "(no body)"


async def delete_one(serving: Serving, request: Request, d: Digest) -> Response:
    needs_api(serving, "DELETE")
    found = await origin_call(serving, "index_report", "DELETE", f"{INDEX_REPORT}/{d}")
    request.scope[SOURCE] = "origin"
    if 200 <= found.status < 300:
        await delete_here(serving, [d])
    return relay(request, found)


async def delete_here(serving: Serving, digests: list[Digest]) -> list[Digest]:
    """Delete what the origin deleted; a manifest being imported is waited for."""
    try:
        deleted = await serving.store.delete_manifests(*digests)
        left = [d for d in digests if d not in set(deleted)]
        if left:
            held = await serving.store.client.exists(
                *[serving.store.keys.manifest(d) for d in left]
            )
            if held:
                for d in left:
                    async with serving.store.manifest_lock(d, timeout=30.0):
                        deleted += await serving.store.delete_manifests(d)
    except (RedisError, LockError) as e:
        raise ApiError(
            503, f"deleted at the origin, but not yet here ({type(e).__name__}: {e}): send again"
        ) from e
    for d in deleted:
        serving.gzip.forget(d)
        serving.absent.pop(d, None)
    await _mirrored(serving, len(deleted))
    return deleted


# -- POST and bulk DELETE -----------------------------------------------------------------------


async def index_report(serving: Serving, request: Request) -> Response:
    method = request.method
    if method not in ("POST", "DELETE"):
        raise ApiError(405, f"method disallowed: {method}")
    needs_api(serving, method)
    body = await read_body(request, serving.config.max_body)
    if method == "DELETE":
        return await delete_bulk(serving, request, body)
    media = media_type(request, REPORT_TYPES)
    forwarded = [
        (k, v)
        for k, v in request.headers.items()
        if k in ("content-type", "if-none-match", "accept")
    ]
    forwarded.append(("accept-encoding", "gzip"))
    found = await origin_call(
        serving,
        "index_report",
        "POST",
        INDEX_REPORT,
        body=body,
        headers=forwarded,
        timeout=serving.config.index_timeout,
    )
    request.scope[SOURCE] = "origin"
    etag = found.header("etag")
    if etag is not None and etag.startswith('"') and etag.endswith('"'):
        serving.state.learn(etag[1:-1])
    if found.status == 201:
        await _import_posted(serving, found.body)
    return relay(request, found, media)


async def _import_posted(serving: Serving, body: bytes) -> None:
    """Import the finished report of a POST's answer."""
    try:
        obj = orjson.loads(body)
        d = Digest(obj["manifest_hash"])
    except (orjson.JSONDecodeError, KeyError, TypeError, DigestError) as e:
        log.warning("the origin's POST answer is not an IndexReport: %s", e)
        return
    try:
        report = await asyncio.to_thread(decode, serving.origin_name, d, body)
    except OriginError as e:
        log.warning("%s", e)
        await serving.mirror_lost(f"{d}: the origin's report cannot be imported")
        return
    if report is not None:
        await _import(serving, report, replace=True)


async def delete_bulk(serving: Serving, request: Request, body: bytes) -> Response:
    media = media_type(request, BULK_TYPES)
    try:
        wanted = orjson.loads(body)
        if wanted is None:
            wanted = []
        if not isinstance(wanted, list):
            raise TypeError(f"expected an array of digests, got {type(wanted).__name__}")
        digests = [Digest(x) for x in wanted]
    except (orjson.JSONDecodeError, TypeError, DigestError) as e:
        raise ApiError(400, f"failed to deserialize bulk delete: {e}") from None
    found = await origin_call(
        serving,
        "index_report",
        "DELETE",
        INDEX_REPORT,
        body=body,
        headers={"Content-Type": "application/json", "Accept-Encoding": "gzip"},
    )
    request.scope[SOURCE] = "origin"
    if found.status == 200 and digests:
        await delete_here(serving, list(dict.fromkeys(digests)))
    if found.status == 200 and found.body.strip() == b"null":
        # claircore's nil slice; Clair's document says an array, and no client tells them apart
        found = Answer(found.status, found.headers, b"[]")
    return relay(request, found, media)


# -- the state ----------------------------------------------------------------------------------


async def index_state(serving: Serving, request: Request) -> Response:
    if request.method != "GET":
        raise ApiError(405, f"method disallowed: {request.method}")
    media = media_type(request, STATE_TYPES)
    needs_api(serving, "the index state")
    state = await serving.state.current()
    etag = f'"{state}"'
    if unmodified(request, etag):
        return Response(status_code=304, headers={"etag": etag})
    request.scope[SOURCE] = "tier"
    return answer(request, 200, orjson.dumps({"state": state}), media=media, headers={"etag": etag})


# -- affected manifests -------------------------------------------------------------------------


async def affected_manifest(serving: Serving, request: Request) -> Response:
    if request.method != "POST":
        raise ApiError(405, f"method disallowed: {request.method}")
    media = media_type(request, AFFECTED_TYPES)
    body = await read_body(request, serving.config.max_body)
    try:
        obj = orjson.loads(body)
        if not isinstance(obj, dict):
            raise TypeError(f"expected an object, got {type(obj).__name__}")
        items = obj.get("vulnerabilities") or []
        if not isinstance(items, list):
            raise TypeError("vulnerabilities: expected an array")
        vulns = [vulnerability_from_obj(v, f"vulnerabilities[{i}]") for i, v in enumerate(items)]
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError, StoreError) as e:
        raise ApiError(400, f"failed to deserialize vulnerabilities: {e}") from None
    if not serving.mirror_dirty:
        before = await serving.mirror_status()
        if before.complete:
            try:
                result = await serving.store.affected_manifests_batch(vulns)
            except (StoreError, ValueError) as e:
                raise ApiError(400, f"failed to deserialize vulnerabilities: {e}") from None
            after = await serving.mirror_status()
            if before.same_mark(after) and not serving.mirror_dirty:
                request.scope[SOURCE] = "tier"
                serving.metrics.answers.labels("affected_manifest", "tier").inc()
                return answer(request, 200, result.to_json(), media=media)
    if serving.api is None:
        raise ApiError(
            503,
            "the tier does not hold every manifest of its origin (not a complete mirror) and"
            " has no indexer API to ask: fill it (redis-store import --from)",
        )
    found = await origin_call(
        serving,
        "affected_manifest",
        "POST",
        AFFECTED + "/",
        body=body,
        headers={"Content-Type": "application/json", "Accept": media, "Accept-Encoding": "gzip"},
    )
    request.scope[SOURCE] = "origin"
    serving.metrics.answers.labels("affected_manifest", "origin").inc()
    return relay(request, found)


# -- everything else ----------------------------------------------------------------------------


async def robots(serving: Serving, request: Request) -> Response:
    return Response(b"User-agent: *\nDisallow: /\n", 200, media_type="text/plain")


async def forward(serving: Serving, request: Request) -> Response:
    """Pass the request to the origin unchanged and stream its answer back."""
    needs_api(serving, f"{request.url.path}")
    assert serving.api is not None
    limit = serving.config.max_body
    declared_length(request, limit)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    has_body = (
        request.method not in ("GET", "HEAD", "DELETE") or "content-length" in request.headers
    )
    body = limited_stream(request, limit) if has_body else None
    headers = [(k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP]
    request.scope[SOURCE] = "origin"
    m = serving.metrics
    start = time.perf_counter()
    context = serving.api.stream(
        request.method, path, body=body, headers=headers, timeout=serving.config.index_timeout
    )
    try:
        upstream = await context.__aenter__()
    except OriginUnavailable as e:
        m.origin.labels(
            "forward", "timeout" if isinstance(e, OriginTimeout) else "unreachable"
        ).inc()
        raise
    m.origin.labels("forward", str(upstream.status)).inc()
    m.origin_latency.labels("forward").observe(time.perf_counter() - start)
    kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
    if "content-length" in upstream.headers:
        kept.append(("content-length", upstream.headers["content-length"]))

    async def chunks() -> Any:
        try:
            async for chunk in upstream.content.iter_chunked(1 << 16):
                yield chunk
        finally:
            await context.__aexit__(None, None, None)

    response = StreamingResponse(chunks(), upstream.status)
    response.raw_headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in kept]
    return response


def errors_to_answers(
    handler: Handler, holder: dict[str, Serving]
) -> Callable[[Request], Awaitable[Response]]:
    """A handler whose failures are Clair's error answers, never a traceback (``holder``
    has the worker's :class:`Serving` once it started)."""

    async def endpoint(request: Request) -> Response:
        serving = holder["serving"]
        try:
            request.scope[ENCODING] = encoding_of(request)
            return await handler(serving, request)
        except _Unacceptable:
            return Response(status_code=415, headers={"accept-encoding": ACCEPTABLE})
        except ApiError as e:
            return error_response(e.status, e.message, e.headers)
        except OriginUnavailable as e:
            return error_response(e.status, str(e))
        except (RedisError, ConnectionError, TimeoutError) as e:
            serving.redis_ok, serving.redis_error = False, str(e)
            return error_response(503, f"Redis cannot be reached: {type(e).__name__}: {e}")
        except ClientDisconnect:
            return Response(status_code=499)
        except StoreError as e:
            return error_response(500, f"{type(e).__name__}: {e}")

    return endpoint


__all__ = [
    "AFFECTED",
    "INDEX_STATE",
    "affected_manifest",
    "errors_to_answers",
    "forward",
    "index_report",
    "index_report_one",
    "index_state",
    "robots",
]
