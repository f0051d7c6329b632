"""What a store operation yields: calls of Redis commands and scripts, in batches.

Every store method is written once, in :mod:`redis_store.store.core`, as a generator that
yields *batches* of calls and receives their replies. One batch is one round trip (a single
command, or a pipeline). A :class:`Pause` asks the front end to sleep between attempts (a
lock wait), so the core never does I/O or sleeps itself. The front ends
(:mod:`redis_store.store.sync`, :mod:`redis_store.store.aio`) differ only in how they send a
batch and how they sleep.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from redis_store.cache.entries import Fence

R = TypeVar("R")

Arg = str | bytes | int


# Calls are not frozen: a frozen dataclass costs three times as much to make, and a read
# makes several. Nothing changes a call once it is made.
@dataclass(slots=True)
class ScriptCall:
    """A call of one of the package's Lua scripts (sent as EVALSHA)."""

    name: str
    keys: Sequence[str]
    args: Sequence[Arg] = ()
    #: Set on a read whose answer the local cache may keep: the transport then sends it
    #: tracked (``CLIENT TRACKING ... REDIRECT``) and confirms that on the fence.
    fence: Fence | None = None


@dataclass(slots=True)
class Command:
    """A plain Redis command."""

    args: tuple[Arg, ...]
    #: As on :class:`ScriptCall`.
    fence: Fence | None = None
    #: On a Redis Cluster, the node to send it to (for commands without a key).
    target: Any = None


@dataclass(frozen=True, slots=True)
class Pause:
    """Not a call: the front end sleeps this long, then resumes the operation with no
    replies (waiting for a lock between attempts, without the core doing I/O)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Fetch:
    """Not a call: the front end asks the store's origin for a manifest's report (blocking,
    or in a worker thread on asyncio) and resumes the operation with ``[json or None]``, or
    throws the origin's error into it (the cache tier's read-through, :mod:`redis_store.tier`)."""

    digest: str


Call = ScriptCall | Command
#: Calls sent together in one round trip; their replies come back in the same order, an
#: error reply as the exception object in its place.
Batch = list[Call]
#: A store operation: yields batches (or pauses), receives replies, returns its result.
Op = Generator[Batch | Pause | Fetch, list[Any], R]


__all__ = ["Arg", "Batch", "Call", "Command", "Fetch", "Op", "Pause", "ScriptCall"]
