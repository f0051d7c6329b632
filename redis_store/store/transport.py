"""What both front ends share about sending a batch: pipelines, EVALSHA and NOSCRIPT."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any, ClassVar

from redis.exceptions import NoScriptError

from redis_store.errors import InvalidInputError
from redis_store.scripts import NAMES, source
from redis_store.store.core import StoreCore
from redis_store.store.protocol import Batch, Call, Script

if TYPE_CHECKING:
    from typing import Self


class ClientStore(StoreCore):
    """The core bound to a redis-py client: what both front ends hold."""

    #: The redis-py client class ``from_url`` creates (sync or asyncio).
    client_class: ClassVar[Any]

    def __init__(
        self, client: Any, namespace: str = "claircore", *, lock_ttl: float = 30.0
    ) -> None:
        StoreCore.__init__(self, namespace, lock_ttl=lock_ttl)
        check_client(client)
        self.client = client
        self._scripts = register_scripts(client)

    @classmethod
    def from_url(
        cls, url: str, *, namespace: str = "claircore", lock_ttl: float = 30.0, **kwargs: Any
    ) -> Self:
        """A store on a new client for ``redis://``, ``rediss://`` or ``unix://`` URLs.

        Extra keyword arguments go to the client (e.g. ``ssl_ca_certs``, ``username``).
        """
        client = cls.client_class.from_url(url, decode_responses=False, **kwargs)
        return cls(client, namespace, lock_ttl=lock_ttl)

    def _script_loader(self) -> Any:
        """A pipeline loading every script: one round trip after a restart or SCRIPT FLUSH."""
        pipe = self.client.pipeline(transaction=False)
        for script in self._scripts.values():
            pipe.script_load(script.script)
        return pipe

    def _pipeline(self, batch: Batch) -> Any:
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command(*command_args(call, self._scripts))
        return pipe

    def _command(self, call: Call) -> tuple[Any, ...]:
        return command_args(call, self._scripts)


def check_client(client: Any) -> None:
    """Refuse clients that decode replies: stored values are binary."""
    get_kwargs = getattr(client, "get_connection_kwargs", None)
    kwargs: dict[str, Any] = get_kwargs() if callable(get_kwargs) else {}
    if kwargs.get("decode_responses"):
        raise InvalidInputError(
            "the Redis client must be created with decode_responses=False: reports are binary"
        )


def register_scripts(client: Any) -> dict[str, Any]:
    """One ``register_script`` object per script: each is loaded once, by SHA."""
    return {name: client.register_script(source(name).source) for name in NAMES}


def command_args(call: Call, scripts: dict[str, Any]) -> tuple[Any, ...]:
    """The Redis command of a call: scripts go by SHA (EVALSHA), loaded once."""
    if isinstance(call, Script):
        return ("EVALSHA", scripts[call.name].sha, len(call.keys), *call.keys, *call.args)
    return call.args


def missing_scripts(batch: Batch, replies: list[Any]) -> list[int]:
    """Positions whose script was not in the server's cache (restart, SCRIPT FLUSH)."""
    return [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]


def merge(replies: list[Any], positions: list[int], again: list[Any]) -> list[Any]:
    for i, reply in zip(positions, again, strict=True):
        replies[i] = reply
    return replies


def new_token() -> str:
    return secrets.token_hex(16)


class Backoff:
    """Waiting for a lock: a deadline and growing pauses between attempts."""

    def __init__(self, blocking: bool, timeout: float | None) -> None:
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must not be negative")
        self.blocking = blocking
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.pause = 0.005

    def next_pause(self) -> float | None:
        """Seconds to sleep before the next attempt, or None to give up."""
        if not self.blocking:
            return None
        pause, self.pause = self.pause, min(self.pause * 2, 0.25)
        if self.deadline is None:
            return pause
        left = self.deadline - time.monotonic()
        return None if left <= 0 else min(pause, left)
