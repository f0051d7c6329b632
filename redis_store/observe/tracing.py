"""OpenTelemetry spans of a store: one span per method call.

A store built with ``tracing=True`` (the global tracer provider) or ``tracing=provider``
starts a span ``redis_store.<method>`` around each call, current while the call runs (so
spans of an instrumented redis-py nest under it), with the namespace, the sizes of what the
call took and gave (digests, layers, packages, records, vulnerabilities, manifests) and its
round trips as attributes; a call that raises records the exception and an error status.
Without OpenTelemetry installed, ``tracing=`` does nothing. Spans are opt-in rather than
taken from the global provider by default: a call the local cache answers takes a few
microseconds, and even a non-recording span would add to that.
"""

from __future__ import annotations

import logging
from collections.abc import Sized
from contextlib import AbstractContextManager, suppress
from typing import TYPE_CHECKING, Any, Final

from redis_store.errors import InvalidInputError
from redis_store.version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from redis_store.observe import Call

log = logging.getLogger("redis_store.observe")

#: The instrumentation scope spans are reported under.
SCOPE: Final = "redis_store"
SPAN_PREFIX: Final = "redis_store."

#: Attribute names, under the ``redis_store.`` prefix.
NAMESPACE: Final = "redis_store.namespace"
ROUND_TRIPS: Final = "redis_store.round_trips"


class Tracing:
    """A tracer, and how a store's calls become its spans."""

    def __init__(self, tracer: Tracer) -> None:
        from opentelemetry import trace

        self.tracer = tracer
        self._trace = trace

    def start(self, method: str, namespace: str) -> Span:
        attributes = {"db.system.name": "redis", NAMESPACE: namespace}
        return self.tracer.start_span(SPAN_PREFIX + method, attributes=attributes)

    def current(self, span: Span) -> AbstractContextManager[Any]:
        """The span made current for the call (ended by :meth:`end`, not on exit)."""
        return self._trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        )

    def end(
        self,
        span: Span,
        method: str,
        call: Call,
        args: tuple[Any, ...],
        result: Any,
        error: BaseException | None,
    ) -> None:
        attributes: dict[str, Any] = {ROUND_TRIPS: call.round_trips}
        if call.retries:
            attributes["redis_store.retries"] = call.retries
        if call.lock_waits:
            attributes["redis_store.lock_waits"] = call.lock_waits
            attributes["redis_store.lock_wait_seconds"] = call.waited
        with suppress(Exception):  # odd arguments the call itself refused: no sizes
            attributes.update(sizes(method, args, result))
        span.set_attributes(attributes)
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


def _count(value: Any) -> int | None:
    """How many items an argument holds, if it says so without being consumed."""
    return len(value) if isinstance(value, Sized) and not isinstance(value, str | bytes) else None


def _digest(value: Any) -> str:
    """A manifest or layer argument's digest (a ``Layer`` or a string)."""
    return str(getattr(value, "hash", value))


#: Per method: the attribute of its first argument's size and of its result's size.
_ARGUMENT_SIZES: Final = {
    "register_scanners": "scanners",
    "index_packages": "packages",
    "index_distributions": "distributions",
    "index_repositories": "repositories",
    "index_files": "files",
    "affected_manifests_batch": "vulnerabilities",
}
_RESULT_SIZES: Final = {
    "packages_by_layer": "packages",
    "distributions_by_layer": "distributions",
    "repositories_by_layer": "repositories",
    "files_by_layer": "files",
    "affected_manifests": "manifests",
}
_LAYER_ARGUMENT: Final = {
    "set_layer_scanned": 0,
    "layer_scanned": 0,
    "index_packages": 1,
    "index_distributions": 1,
    "index_repositories": 1,
    "index_files": 1,
    "packages_by_layer": 0,
    "distributions_by_layer": 0,
    "repositories_by_layer": 0,
    "files_by_layer": 0,
}
_REPORT_ARGUMENT: Final = ("set_index_report", "set_index_finished", "index_manifest")
_MANIFEST_ARGUMENT: Final = (
    "manifest_scanned",
    "index_report",
    "index_report_json",
    "manifest_lock",
)


def sizes(method: str, args: tuple[Any, ...], result: Any) -> dict[str, Any]:
    """The span attributes saying what a call took and gave: digests and sizes."""
    out: dict[str, Any] = {}
    p = "redis_store."
    if method in _ARGUMENT_SIZES and args and (n := _count(args[0])) is not None:
        out[p + _ARGUMENT_SIZES[method]] = n
    if method in _RESULT_SIZES and result is not None:
        out[p + _RESULT_SIZES[method]] = len(result)
    if method in _LAYER_ARGUMENT and len(args) > _LAYER_ARGUMENT[method]:
        out[p + "layer"] = _digest(args[_LAYER_ARGUMENT[method]])
    if method in _MANIFEST_ARGUMENT and args:
        out[p + "manifest"] = _digest(args[0])
    if method in ("index_report", "index_report_json"):
        out[p + "found"] = result is not None
    if method == "persist_manifest" and args:
        out[p + "manifest"] = _digest(args[0])
        out[p + "layers"] = len(args[0].layers or ())
    if method in _REPORT_ARGUMENT and args:
        report = args[0]
        out[p + "manifest"] = str(report.hash)
        out[p + "packages"] = len(report.packages or {})
        if method == "index_manifest":
            environments = (report.environments or {}).values()
            out[p + "records"] = sum(len(e or ()) for e in environments)
    if method == "delete_manifests":
        asked = args[0] if len(args) == 1 and not isinstance(args[0], str) else args
        if (n := _count(asked)) is not None:
            out[p + "digests"] = n
        if result is not None:
            out[p + "deleted"] = len(result)
    if method == "affected_manifests":
        out[p + "vulnerabilities"] = 1
    if method == "affected_manifests_batch" and result is not None:
        out[p + "manifests"] = len(result.vulnerable_manifests)
    return out


def tracing_for(tracing: Any) -> Tracing | None:
    """The tracing of a store built with ``tracing=``: None or False (none), True (the
    global tracer provider), a ``TracerProvider`` or a ``Tracer``. None, with a log line,
    when OpenTelemetry is not installed."""
    if tracing is None or tracing is False:
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        log.info("tracing= given, but OpenTelemetry is not installed: no spans")
        return None
    if tracing is True:
        return Tracing(trace.get_tracer(SCOPE, __version__))
    if isinstance(tracing, trace.TracerProvider):
        return Tracing(tracing.get_tracer(SCOPE, __version__))
    if isinstance(tracing, trace.Tracer):
        return Tracing(tracing)
    raise InvalidInputError(
        f"tracing must be True, False, a TracerProvider or a Tracer, not {tracing!r}"
    )


__all__ = ["SCOPE", "SPAN_PREFIX", "Tracing", "sizes", "tracing_for"]
