"""Metrics and tracing around the store's methods, written once for both front ends.

A store built with ``metrics=`` or ``tracing=`` gets an :class:`Observer`. The ``operation``
descriptor (:mod:`redis_store.store.operation`) binds each method through it, so the same
code times a blocking call and an awaited one; a store without either binds the plain
method and pays nothing per call. Round trips, lock waits and retries are counted from what
the method's operation yields and receives (a batch is one round trip, a pause one wait for
a lock, a ``RETRY`` reply one write re-planned after a concurrent writer), so the store's
core and transport need no hooks of their own.

Nothing here imports ``prometheus_client`` or OpenTelemetry until a store asks for them
(:mod:`.metrics`, :mod:`.tracing`): both are optional extras.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any, Final, TypeVar

from redis_store.observe.metrics import MethodInstruments, StoreMetrics, metrics_for
from redis_store.observe.tracing import Tracing, tracing_for

R = TypeVar("R")

#: Scripts that answer ``RETRY`` when the manifest changed since its plan was read (another
#: writer got there first); each such reply is one retry of the method.
RETRYING: Final = frozenset(
    {"index_manifest", "delete_manifest", "cluster/switch_records", "cluster/delete_manifest_keys"}
)

#: An operation as the front ends run it (batches or pauses out, replies in).
Steps = Generator[Any, Any, R]


class Call:
    """One method call being observed: what its operation sent and waited for."""

    __slots__ = ("lock_waits", "retries", "round_trips", "waited")

    def __init__(self) -> None:
        self.round_trips = 0
        self.retries = 0
        self.lock_waits = 0
        self.waited = 0.0

    def steps(self, op: Steps[R]) -> Steps[R]:
        """``op``, passed through step by step, counting round trips, waits and retries."""
        try:
            step = next(op)
            while True:
                if isinstance(step, list):  # a batch: one round trip
                    self.round_trips += 1
                    replies = yield step
                    for call, reply in zip(step, replies, strict=False):
                        if getattr(call, "name", None) in RETRYING and reply == b"RETRY":
                            self.retries += 1
                elif hasattr(step, "seconds"):  # a Pause between two attempts to take a held lock
                    self.lock_waits += 1
                    self.waited += step.seconds
                    replies = yield step
                else:  # a Fetch from the origin, whose failure is thrown in
                    try:
                        replies = yield step
                    except Exception as e:
                        step = op.throw(e)
                        continue
                step = op.send(replies)
        except StopIteration as stop:
            result: R = stop.value
            return result
        finally:
            op.close()


class Observer:
    """What a store reports its calls to: Prometheus metrics, OpenTelemetry spans, or both."""

    def __init__(self, namespace: str, metrics: StoreMetrics | None, tracing: Tracing | None):
        self.namespace = namespace
        self.metrics = metrics
        self.tracing = tracing

    def bind(
        self,
        name: str,
        fn: Callable[..., Steps[Any]],
        obj: object,
        run: Callable[[Steps[Any]], Any],
        *,
        asynchronous: bool,
    ) -> Callable[..., Any]:
        """The method ``name`` of ``obj``: ``run(fn(obj, ...))`` observed, blocking or
        awaited like ``run``."""
        instruments = None if self.metrics is None else self.metrics.method(name)
        tracing = self.tracing
        finish = self._finish

        if asynchronous:

            async def bound_async(*args: Any, **kwargs: Any) -> Any:
                call = Call()
                start = time.perf_counter()
                span = None if tracing is None else tracing.start(name, self.namespace)
                try:
                    op = call.steps(fn(obj, *args, **kwargs))
                    if span is None:
                        result = await run(op)
                    else:
                        with tracing.current(span):  # type: ignore[union-attr]
                            result = await run(op)
                except BaseException as e:
                    finish(name, instruments, span, call, start, args, None, e)
                    raise
                finish(name, instruments, span, call, start, args, result, None)
                return result

            return bound_async

        def bound(*args: Any, **kwargs: Any) -> Any:
            call = Call()
            start = time.perf_counter()
            span = None if tracing is None else tracing.start(name, self.namespace)
            try:
                op = call.steps(fn(obj, *args, **kwargs))
                if span is None:
                    result = run(op)
                else:
                    with tracing.current(span):  # type: ignore[union-attr]
                        result = run(op)
            except BaseException as e:
                finish(name, instruments, span, call, start, args, None, e)
                raise
            finish(name, instruments, span, call, start, args, result, None)
            return result

        return bound

    def watch(self, name: str, op: Steps[R], *args: Any) -> Steps[R]:
        """``op`` run outside a method (a manifest lock being acquired), observed under
        ``name`` with arguments ``args``: its round trips and waits, its span."""
        call = Call()
        start = time.perf_counter()
        span = None if self.tracing is None else self.tracing.start(name, self.namespace)
        instruments = None if self.metrics is None else self.metrics.method(name)
        try:
            result = yield from call.steps(op)
        except BaseException as e:
            self._finish(name, instruments, span, call, start, args, None, e)
            raise
        self._finish(name, instruments, span, call, start, args, result, None)
        return result

    def _finish(
        self,
        name: str,
        instruments: MethodInstruments | None,
        span: Any,
        call: Call,
        start: float,
        args: tuple[Any, ...],
        result: Any,
        error: BaseException | None,
    ) -> None:
        seconds = time.perf_counter() - start
        if instruments is not None:
            instruments.record(call, seconds, error)
        if span is not None and self.tracing is not None:
            self.tracing.end(span, name, call, args, result, error)


def observer_for(store: Any, metrics: Any = None, tracing: Any = None) -> Observer | None:
    """The observer of ``store``, built with ``metrics=`` and ``tracing=`` (None: neither,
    and nothing is imported)."""
    if metrics in (None, False) and tracing in (None, False):
        return None
    store_metrics = metrics_for(metrics)
    store_tracing = tracing_for(tracing)
    if store_metrics is None and store_tracing is None:
        return None
    if store_metrics is not None:
        store_metrics.attach(store)
    return Observer(store.namespace, store_metrics, store_tracing)


def watch(store: object, name: str, op: Steps[R], *args: Any) -> Steps[R]:
    """``op`` observed by the store's observer, if it has one (else ``op`` itself)."""
    observer: Observer | None = getattr(store, "observer", None)
    return op if observer is None else observer.watch(name, op, *args)


__all__ = ["RETRYING", "Call", "Observer", "observer_for", "watch"]
