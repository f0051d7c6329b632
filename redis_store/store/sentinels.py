"""What the sentinels answer when none names a primary, asked directly.

A Sentinel client that finds no primary retries for the failover budget: a promotion takes
seconds, and riding it out is the point. Some setups can never work, though: a Redis server
given as a sentinel, a service no sentinel monitors, credentials the sentinels refuse.
Retrying those only delays the same failure by the budget. When discovery fails, each
sentinel is asked two questions whose answers are part of Redis' protocol, not of any
client library's wording: ``INFO server`` (its ``redis_mode`` field says whether the server
is a sentinel) and ``SENTINEL GET-MASTER-ADDR-BY-NAME`` (nil when the service is not
monitored). When every sentinel answers that the setup is wrong, discovery raises
:class:`~redis_store.errors.SentinelSetupError`, which is not a connection error and so is
not retried; any other answer (no answer, a primary known but down) is left to the retry.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio.sentinel
import redis.sentinel
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    InvalidResponse,
    NoPermissionError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store.errors import SentinelSetupError

GET_PRIMARY = "SENTINEL GET-MASTER-ADDR-BY-NAME"


def _where(sentinel: Any) -> str:
    kwargs = sentinel.connection_pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def verdict(where: str, service: str, info: object, primary: object) -> str | None:
    """Why the sentinel at ``where`` can never name ``service``'s primary, from its replies
    to ``INFO server`` and ``SENTINEL GET-MASTER-ADDR-BY-NAME`` (each a reply or the error
    it raised); None when nothing is certain (no answer, or a primary known but down)."""
    for reply in (info, primary):
        if isinstance(reply, AuthenticationError | AuthorizationError):
            return (
                f"{where}: the sentinel refused authentication: sentinels take"
                " sentinel_username / sentinel_password (query parameters)"
            )
        if isinstance(reply, NoPermissionError):
            return f"{where}: the sentinel's user may not run SENTINEL commands"
        if isinstance(reply, InvalidResponse):
            return f"{where} does not speak the Redis protocol: check the URL's host and port"
    if isinstance(info, dict):
        mode = info.get("redis_mode")
        if mode is not None and mode != "sentinel":
            return (
                f"{where}: a redis+sentinel:// URL, but that is a Redis server (redis_mode"
                f" {mode}), not a sentinel: give the sentinels' addresses (port 26379 by"
                " default), or use redis:// for this server"
            )
        if mode == "sentinel" and primary is None:
            return (
                f"{where}: the sentinel monitors no primary named {service!r}: check the"
                " service name in the URL's path (SENTINEL MASTERS lists them)"
            )
    return None


def _replies(sentinel: Any, service: str) -> tuple[object, object]:
    """The sentinel's replies to the two questions (an error reply as the error)."""
    try:
        info: object = sentinel.info("server")
    except Exception as e:
        info = e
    if _unanswered(info):
        return info, info
    try:
        primary: object = sentinel.execute_command(GET_PRIMARY, service)
    except Exception as e:
        primary = e
    return info, primary


async def _areplies(sentinel: Any, service: str) -> tuple[object, object]:
    """:func:`_replies` for ``redis.asyncio``."""
    try:
        info: object = await sentinel.info("server")
    except Exception as e:
        info = e
    if _unanswered(info):
        return info, info
    try:
        primary: object = await sentinel.execute_command(GET_PRIMARY, service)
    except Exception as e:
        primary = e
    return info, primary


def _unanswered(reply: object) -> bool:
    """No answer at all: the connection failed (credentials refused are an answer)."""
    return isinstance(reply, RedisConnectionError | RedisTimeoutError | OSError) and not (
        isinstance(reply, AuthenticationError)
    )


def _settled(verdicts: list[str | None]) -> str | None:
    """The setup is wrong when every sentinel says why; one line, each reason once."""
    if not verdicts or any(v is None for v in verdicts):
        return None
    return "; ".join(dict.fromkeys(v for v in verdicts if v is not None))


def check(sentinels: list[Any], service: str) -> None:
    """Raise :class:`SentinelSetupError` when every sentinel says the setup is wrong."""
    found = [verdict(_where(s), service, *_replies(s, service)) for s in sentinels]
    reason = _settled(found)
    if reason is not None:
        raise SentinelSetupError(reason)


async def acheck(sentinels: list[Any], service: str) -> None:
    """:func:`check` for ``redis.asyncio`` sentinels."""
    found = [verdict(_where(s), service, *(await _areplies(s, service))) for s in sentinels]
    reason = _settled(found)
    if reason is not None:
        raise SentinelSetupError(reason)


class CheckedSentinel(redis.sentinel.Sentinel):
    """redis-py's Sentinel whose failed discovery asks the sentinels why (:func:`check`).

    Older redis-py releases let an error reply of a sentinel escape discovery as it is;
    newer ones fold it into ``MasterNotFoundError``: both are checked the same way."""

    def discover_master(self, service_name: str) -> Any:
        try:
            return super().discover_master(service_name)
        except (redis.sentinel.MasterNotFoundError, ResponseError) as e:
            try:
                check(self.sentinels, service_name)
            except SentinelSetupError as setup:
                raise setup from e
            raise


class AsyncCheckedSentinel(redis.asyncio.sentinel.Sentinel):
    """:class:`CheckedSentinel` for ``redis.asyncio``."""

    async def discover_master(self, service_name: str) -> Any:
        try:
            return await super().discover_master(service_name)
        except (redis.asyncio.sentinel.MasterNotFoundError, ResponseError) as e:
            try:
                await acheck(self.sentinels, service_name)
            except SentinelSetupError as setup:
                raise setup from e
            raise


__all__ = ["AsyncCheckedSentinel", "CheckedSentinel", "acheck", "check", "verdict"]
