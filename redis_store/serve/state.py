"""The origin's index state, held briefly: the ``index_state`` answer and every ETag.

Clair's indexer state (a hash of its scanners' names and versions) changes only when its
scanners do, yet it is the ETag of every indexer answer, and Quay re-indexes any manifest
whose recorded ETag differs from it. So the server holds the state it last heard, for
``ttl`` seconds: ``GET index_state`` past that asks the origin again (one request however
many clients ask at once); every other answer takes the held state as it is and, when it
is old, has it refreshed in the background, so a hit never waits on the origin. A POST's
answer carries the state too, which is taken as a fresh reading. Without an API origin
(a database only) there is no state: answers carry no ETag and nothing is ever a 304.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from redis_store.serve.origin import IndexerAPI, OriginUnavailable

STATE_PATH = "/indexer/api/v1/index_state"


class OriginState:
    """The last state the origin gave, and when."""

    def __init__(self, api: IndexerAPI | None, ttl: float) -> None:
        self.api = api
        self.ttl = ttl
        #: The state (None: never heard, or no API origin).
        self.value: str | None = None
        self.fetched = 0.0
        #: Why the last refresh failed ("" when it did not).
        self.error = ""
        self.refreshes = 0
        self._failed_at = 0.0
        self._refreshing: asyncio.Task[str] | None = None

    @property
    def etag(self) -> str | None:
        """The validator every answer carries (None: no state known)."""
        return None if self.value is None else f'"{self.value}"'

    @property
    def fresh(self) -> bool:
        return self.value is not None and time.monotonic() - self.fetched < self.ttl

    def learn(self, state: str) -> None:
        """A state the origin just gave in another answer (a POST's ETag)."""
        if state:
            self.value, self.fetched, self.error = state, time.monotonic(), ""

    def held(self) -> str | None:
        """The held state, at once; an old one is refreshed in the background (at most
        once a second while the origin fails)."""
        if self.api is not None and not self.fresh and time.monotonic() - self._failed_at > 1.0:
            self._start()
        return self.value

    async def current(self) -> str:
        """A state at most ``ttl`` seconds old, asking the origin if need be;
        :class:`OriginUnavailable` when it cannot be had."""
        if self.fresh:
            assert self.value is not None
            return self.value
        if self.api is None:
            raise OriginUnavailable("no indexer API origin: there is no index state")
        return await asyncio.shield(self._start())

    def _start(self) -> asyncio.Task[str]:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
            self._refreshing.add_done_callback(_quiet)
        return self._refreshing

    async def _refresh(self) -> str:
        assert self.api is not None
        self.refreshes += 1
        try:
            answer = await self.api.request(
                "GET", STATE_PATH, headers={"Accept": "application/json"}
            )
            if answer.status != 200:
                raise OriginUnavailable(f"the origin answered {answer.status} for its state")
            try:
                state = orjson.loads(answer.body)["state"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as e:
                raise OriginUnavailable(f"the origin's state is not {{'state': …}}: {e}") from e
            if not isinstance(state, str) or not state:
                raise OriginUnavailable("the origin's state is empty or not a string")
        except OriginUnavailable as e:
            self.error = str(e)
            self._failed_at = time.monotonic()
            raise
        self.learn(state)
        return state


def _quiet(task: asyncio.Task[str]) -> None:
    """A background refresh that failed is recorded in ``error``, not logged as lost."""
    if not task.cancelled():
        task.exception()


__all__ = ["STATE_PATH", "OriginState"]
