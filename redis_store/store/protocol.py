"""The sans-I/O protocol between the store core and its sync and asyncio front ends.

Every store method is written once, in :mod:`redis_store.store.core`, as a generator that
yields *batches* of Redis calls and receives their replies. One batch is one round trip
(a single command, or a pipeline). The front ends differ only in how they send a batch:
:class:`SyncDriver` blocks, :class:`AsyncDriver` awaits. The :class:`operation` descriptor
turns a core generator into a plain method on the sync store and a coroutine method on the
async store, so no method is written twice.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from typing import Self

P = ParamSpec("P")
R = TypeVar("R")

Arg = str | bytes | int


@dataclass(frozen=True, slots=True)
class Script:
    """A call of one of the package's Lua scripts (sent as EVALSHA)."""

    name: str
    keys: Sequence[str]
    args: Sequence[Arg] = ()


@dataclass(frozen=True, slots=True)
class Command:
    """A plain Redis command."""

    args: tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Pause:
    """Not a call: the driver sleeps this long, then resumes the operation with no replies
    (waiting for a lock between attempts, without the core doing I/O)."""

    seconds: float


Call = Script | Command
#: Calls sent together in one round trip; their replies come back in the same order, an
#: error reply as the exception object in its place.
Batch = list[Call]
Op = Generator[Batch | Pause, list[Any], R]


class SyncDriver:
    """Runs operations by sending each batch and blocking for the replies."""

    def _send(self, batch: Batch) -> list[Any]:
        raise NotImplementedError

    def _run(self, op: Op[R]) -> R:
        try:
            batch = next(op)
            while True:
                if isinstance(batch, Pause):
                    time.sleep(batch.seconds)
                    batch = op.send([])
                else:
                    batch = op.send(self._send(batch))
        except StopIteration as stop:
            result: R = stop.value
            return result


class AsyncDriver:
    """Runs operations by sending each batch and awaiting the replies."""

    async def _send(self, batch: Batch) -> list[Any]:
        raise NotImplementedError

    async def _run(self, op: Op[R]) -> R:
        try:
            batch = next(op)
            while True:
                if isinstance(batch, Pause):
                    await asyncio.sleep(batch.seconds)
                    batch = op.send([])
                else:
                    batch = op.send(await self._send(batch))
        except StopIteration as stop:
            result: R = stop.value
            return result


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
        if isinstance(obj, AsyncDriver):
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


__all__ = [
    "AsyncDriver",
    "Batch",
    "Call",
    "Command",
    "Op",
    "Pause",
    "Script",
    "SyncDriver",
    "operation",
]
