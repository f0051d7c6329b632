"""What both front ends share about sending a batch: pipelines, EVALSHA and NOSCRIPT."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

import redis.asyncio.cluster
from redis.exceptions import NoScriptError

from redis_store.errors import DurabilityError, InvalidInputError
from redis_store.scripts import NAMES, is_write, source
from redis_store.store.connect import client_from_url, is_cluster_client
from redis_store.store.core import StoreCore
from redis_store.store.protocol import AsyncDriver, Batch, Call, Command, Script

if TYPE_CHECKING:
    from typing import Self


class ClientStore(StoreCore):
    """The core bound to a redis-py client: what both front ends hold."""

    #: The redis-py client class ``from_url`` creates (sync or asyncio).
    client_class: ClassVar[Any]

    def __init__(
        self,
        client: Any,
        namespace: str = "claircore",
        *,
        lock_ttl: float = 30.0,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
    ) -> None:
        StoreCore.__init__(self, namespace, lock_ttl=lock_ttl)
        check_client(client)
        self.client = client
        #: After every batch that writes, WAIT for this many replicas (0: do not wait).
        self.wait_replicas, self.wait_timeout = durability(client, wait_replicas, wait_timeout)
        self.cluster = is_cluster_client(client)
        self._scripts = register_scripts(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "claircore",
        lock_ttl: float = 30.0,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        **kwargs: Any,
    ) -> Self:
        """A store on a new client for a ``redis://``, ``rediss://``, ``unix://``,
        ``redis+sentinel://`` or ``redis+cluster://`` URL (:mod:`redis_store.store.connect`).

        Extra keyword arguments go to the client (e.g. ``ssl_ca_certs``, ``retry``).
        """
        client = client_from_url(url, asyncio=issubclass(cls, AsyncDriver), **kwargs)
        return cls(
            client,
            namespace,
            lock_ttl=lock_ttl,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
        )

    def _script_loader(self) -> Any:
        """A pipeline loading every script: one round trip after a restart or SCRIPT FLUSH."""
        if self.cluster:
            return ClusterScriptLoader(self.client, self._scripts)
        pipe = self.client.pipeline(transaction=False)
        for script in self._scripts.values():
            pipe.script_load(script.script)
        return pipe

    def _pipeline(self, batch: Batch) -> Any:
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command(*command_args(call, self._scripts), **self._route(call))
        return pipe

    def _route(self, call: Call) -> dict[str, Any]:
        """On a cluster, the node that serves a script's slot. Without it redis-py's cluster
        pipeline asks a server for the keys of every EVALSHA (COMMAND GETKEYS, a round trip
        each); a MOVED reply after resharding is still followed."""
        if self.cluster and isinstance(call, Script) and call.keys:
            return {"target_nodes": self.client.get_node_from_key(call.keys[0])}
        return {}

    def _command(self, call: Call) -> tuple[Any, ...]:
        return command_args(call, self._scripts)

    def _durable(self, batch: Batch) -> Batch:
        """The batch as sent: followed by WAIT when it writes and ``wait_replicas`` is set.

        WAIT goes in the same pipeline, so it runs on the connection that made the writes
        and covers exactly them, at no extra round trip.
        """
        if self.wait_replicas and any(
            isinstance(call, Script) and is_write(call.name) for call in batch
        ):
            timeout_ms = max(1, round(self.wait_timeout * 1000))
            return [*batch, Command(("WAIT", self.wait_replicas, timeout_ms))]
        return batch

    def _acknowledged(self, batch: Batch, replies: list[Any]) -> list[Any]:
        """The replies of ``batch``, once the WAIT ``_durable`` added (if any) is checked."""
        if len(replies) == len(batch):
            return replies
        acked = replies.pop()
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < self.wait_replicas:
            raise DurabilityError(
                f"{acked} of {self.wait_replicas} replicas acknowledged the write within "
                f"{self.wait_timeout:g} s (it is applied on the primary)",
                acknowledged=int(acked),
                wanted=self.wait_replicas,
            )
        return replies


class ClusterScriptLoader:
    """Loads every script on every primary: cluster pipelines do not take SCRIPT LOAD, but
    the client's ``script_load`` goes to all primaries. ``execute`` is awaitable on an asyncio
    client, like a pipeline's."""

    def __init__(self, client: Any, scripts: dict[str, Any]) -> None:
        self.client = client
        self.sources = [s.script for s in scripts.values()]

    def execute(self) -> Any:
        if isinstance(self.client, redis.asyncio.cluster.RedisCluster):
            return self._load_async()
        return [self.client.script_load(src) for src in self.sources]

    async def _load_async(self) -> list[Any]:
        return [await self.client.script_load(src) for src in self.sources]


def durability(client: Any, wait_replicas: int, wait_timeout: float) -> tuple[int, float]:
    """Check the ``wait_replicas`` / ``wait_timeout`` store options."""
    if isinstance(wait_replicas, bool) or not isinstance(wait_replicas, int) or wait_replicas < 0:
        raise InvalidInputError(f"wait_replicas must be an integer >= 0, not {wait_replicas!r}")
    if not wait_timeout > 0:  # WAIT's timeout 0 would block forever
        raise InvalidInputError(f"wait_timeout must be positive seconds, not {wait_timeout!r}")
    if wait_replicas and is_cluster_client(client):
        raise InvalidInputError("wait_replicas is not supported on Redis Cluster")
    return wait_replicas, float(wait_timeout)


def check_client(client: Any) -> None:
    """Refuse clients that decode replies: stored values are binary."""
    get_kwargs = getattr(client, "get_connection_kwargs", None)
    kwargs: dict[str, Any] = get_kwargs() if callable(get_kwargs) else {}
    get_encoder = getattr(client, "get_encoder", None)
    decodes = callable(get_encoder) and getattr(get_encoder(), "decode_responses", False)
    if kwargs.get("decode_responses") or decodes is True:
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
