"""The ``operation`` descriptor: one core generator, a method on both front ends.

A method of :class:`~redis_store.store.core.StoreCore` decorated with :class:`operation` is a
plain blocking method on a :class:`SyncDriver` (``RedisStore``) and a coroutine method on an
:class:`AsyncDriver` (``AsyncRedisStore``), typed for both, so no method is written twice.
A store with an ``observer`` (metrics, tracing) gets its methods bound through it, once per
store; without one, the plain method, at no cost per call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from redis_store.store.calls import Op

if TYPE_CHECKING:
    from typing import Self

P = ParamSpec("P")
R = TypeVar("R")


class SyncDriver:
    """A front end that runs an operation to its end, blocking on every round trip."""

    def _run(self, op: Op[R]) -> R:
        raise NotImplementedError


class AsyncDriver:
    """A front end that runs an operation to its end, awaiting every round trip."""

    async def _run(self, op: Op[R]) -> R:
        raise NotImplementedError


class operation(Generic[P, R]):
    """Make a core generator a method: blocking on sync stores, a coroutine on async ones."""

    def __init__(self, fn: Callable[Concatenate[Any, P], Op[R]]) -> None:
        self.fn = fn
        self.name = fn.__name__
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...

    @overload
    def __get__(self, obj: SyncDriver, owner: type) -> Callable[P, R]: ...

    @overload
    def __get__(self, obj: AsyncDriver, owner: type) -> Callable[P, Coroutine[Any, Any, R]]: ...

    def __get__(self, obj: object, owner: type) -> Any:
        if obj is None:
            return self
        fn = self.fn
        bound: Any
        observer = getattr(obj, "observer", None)  # metrics, tracing (redis_store.observe)
        if observer is not None and isinstance(obj, AsyncDriver | SyncDriver):
            asynchronous = isinstance(obj, AsyncDriver)
            bound = observer.bind(self.name, fn, obj, obj._run, asynchronous=asynchronous)
        elif isinstance(obj, AsyncDriver):
            run_async = obj._run

            async def bound(*args: Any, **kwargs: Any) -> Any:
                return await run_async(fn(obj, *args, **kwargs))

        elif isinstance(obj, SyncDriver):
            run = obj._run

            def bound(*args: Any, **kwargs: Any) -> Any:
                return run(fn(obj, *args, **kwargs))

        else:
            raise TypeError(f"{type(obj).__name__} is neither a sync nor an async store")
        functools.update_wrapper(bound, fn)
        obj.__dict__[self.name] = bound  # cache: later lookups skip the descriptor
        return bound


__all__ = ["AsyncDriver", "SyncDriver", "operation"]
