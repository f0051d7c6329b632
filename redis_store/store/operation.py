"""The ``operation`` descriptor: one core generator, a method on both front ends.

A method of :class:`~redis_store.store.core.StoreCore` decorated with :class:`operation` is a
plain blocking method on a :class:`SyncDriver` (``RedisStore``) and a coroutine method on an
:class:`AsyncDriver` (``AsyncRedisStore``), typed for both, so no method is written twice.
A store with an ``observer`` (metrics, tracing) gets its methods bound through it, once per
store; without one, the plain method, at no cost per call.

A read the local cache answers can skip the generator altogether: an operation made with
:meth:`operation.answered_by` first asks a plain function (the *shortcut*) that returns the
kept answer of inputs it has seen valid before, or :data:`MISS`, and runs the operation only
then. A shortcut never raises and never decides anything the operation would not: on any
doubt it answers MISS. Stores with an observer run the operation every time (it answers from
the cache too), so every call is counted as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from redis_store.cache.entries import MISS
from redis_store.store.calls import Op

if TYPE_CHECKING:
    from typing import Self

P = ParamSpec("P")
R = TypeVar("R")
Q = ParamSpec("Q")
T = TypeVar("T")


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

    def __init__(
        self,
        fn: Callable[Concatenate[Any, P], Op[R]],
        shortcut: Callable[..., Any] | None = None,
    ) -> None:
        self.fn = fn
        self.name = fn.__name__
        #: Answers from the local cache without running the operation, or MISS.
        self.shortcut = shortcut
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @staticmethod
    def answered_by(
        shortcut: Callable[..., Any],
    ) -> Callable[[Callable[Concatenate[Any, Q], Op[T]]], operation[Q, T]]:
        """``@operation``, with ``shortcut(store, *args, **kwargs)`` asked first: the
        answer, or MISS to run the operation."""

        def make(fn: Callable[Concatenate[Any, Q], Op[T]]) -> operation[Q, T]:
            return operation(fn, shortcut)

        return make

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
            shortcut: Callable[..., Any] | None = self.shortcut
            if shortcut is None:

                async def bound(*args: Any, **kwargs: Any) -> Any:
                    return await run_async(fn(obj, *args, **kwargs))

            else:
                hit: Callable[..., Any] = shortcut

                async def bound(*args: Any, **kwargs: Any) -> Any:
                    answer = hit(obj, *args, **kwargs)
                    if answer is MISS:
                        return await run_async(fn(obj, *args, **kwargs))
                    return answer

        elif isinstance(obj, SyncDriver):
            run = obj._run
            shortcut = self.shortcut
            if shortcut is None:

                def bound(*args: Any, **kwargs: Any) -> Any:
                    return run(fn(obj, *args, **kwargs))

            else:
                hit_sync: Callable[..., Any] = shortcut

                def bound(*args: Any, **kwargs: Any) -> Any:
                    answer = hit_sync(obj, *args, **kwargs)
                    if answer is MISS:
                        return run(fn(obj, *args, **kwargs))
                    return answer

        else:
            raise TypeError(f"{type(obj).__name__} is neither a sync nor an async store")
        functools.update_wrapper(bound, fn)
        obj.__dict__[self.name] = bound  # cache: later lookups skip the descriptor
        return bound


__all__ = ["AsyncDriver", "SyncDriver", "operation"]
