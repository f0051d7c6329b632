"""Batches sent straight on a connection of the client's pool, for the blocking front end.

redis-py's ``execute_command`` and pipelines cost tens of microseconds of Python per round
trip before a byte is sent: a pool checkout that polls the socket, per-argument encoding in
Python, the pipeline's command stack, observability hooks. The store sends every batch
itself instead, when the client is a plain ``redis.Redis`` (standalone, TLS, Unix socket or
Sentinel-managed; RESP2, UTF-8, no client-side cache of redis-py's own): it keeps the
connections it took from the client's pool (one per thread using the store at once), packs
the whole batch with hiredis in one go, and reads the replies with the connection's own
reader. What redis-py does around a call is kept: the connection's ``Retry`` (reconnecting,
and on Sentinel re-discovering the primary, between attempts), its health check, its
response callbacks, and a connection whose state is unknown (an error mid-reply, an
interrupt) is disconnected before it is used again. ``client.close()`` still closes them
(they stay checked out of the pool, which closes its connections in use too); a store
dropped without ``close()`` gives them back to the pool when it is collected, so stores made
and dropped on one long-lived client never exhaust its pool.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Sequence
from typing import Any, Final

import hiredis
import redis
from redis.exceptions import ResponseError

#: Every DirectWire of the process: a forked child must not write on its parent's sockets.
_WIRES: Final[weakref.WeakSet[DirectWire]] = weakref.WeakSet()


def _after_fork() -> None:
    for wire in list(_WIRES):
        wire.forget_connections()


os.register_at_fork(after_in_child=_after_fork)


def _give_back(pool: Any, held: list[Any]) -> None:
    """Return a collected wire's connections to the pool they came from."""
    for conn in held:
        # a pool closed or reset meanwhile has nothing to take back
        with contextlib.suppress(Exception):
            pool.release(conn)
    held.clear()


class DirectWire:
    """Sends packed batches on connections held from a client's pool."""

    def __init__(self, client: redis.Redis) -> None:
        self.pool = client.connection_pool
        self.callbacks: dict[str, Any] = dict(client.response_callbacks)
        self._idle: list[Any] = []
        _WIRES.add(self)
        weakref.finalize(self, _give_back, self.pool, self._idle)

    @staticmethod
    def usable(client: Any) -> bool:
        """Whether batches on ``client`` may be sent directly: a plain blocking client
        whose connections speak RESP2 and encode as redis-py's defaults do."""
        if not isinstance(client, redis.Redis) or type(client).__module__.startswith("fakeredis"):
            return False
        if getattr(client, "connection", None) is not None:  # single_connection_client
            return False
        pool = getattr(client, "connection_pool", None)
        if pool is None or getattr(pool, "cache", None) is not None:
            return False
        kwargs = getattr(pool, "connection_kwargs", {})
        return (
            kwargs.get("protocol") in (None, 2, "2")
            and kwargs.get("encoding", "utf-8") == "utf-8"
            and kwargs.get("encoding_errors", "strict") == "strict"
            and not kwargs.get("decode_responses", False)
        )

    def forget_connections(self) -> None:
        """Drop the held connections without touching their sockets (after a fork)."""
        self._idle.clear()

    def send(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies of ``commands``, sent in one write; an error reply is the exception
        in its place."""
        packed = b"".join([hiredis.pack_command(c) for c in commands])
        idle = self._idle
        try:
            conn = idle.pop()
        except IndexError:
            conn = self.pool.get_connection()
        try:
            replies: list[Any] = conn.retry.call_with_retry(
                lambda: self._exchange(conn, packed, commands), lambda _error: conn.disconnect()
            )
        except BaseException:
            # the connection may hold part of a reply: it is not used again as it is
            conn.disconnect()
            self._idle.append(conn)
            raise
        self._idle.append(conn)
        return replies

    def _exchange(self, conn: Any, packed: bytes, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        conn.send_packed_command((packed,))
        callbacks = self.callbacks
        read = conn.read_response
        out: list[Any] = []
        for command in commands:
            try:
                reply = read()
            except ResponseError as e:
                out.append(e)
                continue
            callback = callbacks.get(command[0])
            out.append(reply if callback is None else callback(reply))
        return out


__all__ = ["DirectWire"]
