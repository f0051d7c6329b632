"""The core bound to a redis-py client: what both front ends share about sending.

A batch goes out as one command or one pipeline (EVALSHA for scripts, WAIT after writes
with ``wait_replicas``). :meth:`ClientStore._exchange` is how a batch is sent, written once
as a generator of wire steps that the front ends run blocking or awaited: send, and if the
server lost its scripts (restart, ``SCRIPT FLUSH``, failover), load them all and resend what
failed (a NOSCRIPT call did not run).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

import redis.asyncio.cluster
from redis.exceptions import NoScriptError, ResponseError

from redis_store.cache import CacheConfig, CacheStats, Entries, LocalCacheState
from redis_store.cache.tracking import Tracking, TrackingUnavailable, node_finder
from redis_store.errors import DurabilityError, InvalidInputError
from redis_store.keys import KeyLayout
from redis_store.observe import observer_for
from redis_store.options import seconds
from redis_store.scripts import NAMES, explain_error, is_write, source
from redis_store.store.calls import Batch, Call, Command, ScriptCall
from redis_store.store.connect import client_from_url, is_cluster_client
from redis_store.store.core import StoreCore
from redis_store.store.operation import AsyncDriver
from redis_store.store.steps import Steps
from redis_store.store.steps.cluster import ClusterSteps
from redis_store.store.steps.single import PLANS, SingleServerSteps
from redis_store.tier import Origin, ReadThrough, origin_from_url

if TYPE_CHECKING:
    from typing import Self


@dataclass(slots=True)
class Send:
    """A wire step: send these calls in one round trip, reply with their replies."""

    calls: Batch


#: What marks a connection's next command as a read the server tracks (OPTIN).
CACHING_YES: Final = ("CLIENT", "CACHING", "YES")
CACHING: Final = Command(CACHING_YES)


@dataclass(slots=True)
class Tracked:
    """Where ``_track`` put its calls in a batch: the tracking set-ups (position, node),
    the reads marked for tracking (position of their CACHING YES, node, the read), and the
    batch's own calls."""

    setup: list[tuple[int, Any]]
    reads: list[tuple[int, Any, Call]]
    own: list[int]


class LoadScripts:
    """A wire step: load every script on the server (on every primary of a cluster)."""


LOAD_SCRIPTS: Final = LoadScripts()
#: Times a batch is resent after NOSCRIPT: the scripts can be lost again between the load and
#: the resend (another SCRIPT FLUSH, a failover), rarely twice in a row.
SCRIPT_RELOADS: Final = 5
#: How a front end sends one batch: it sends each Send and replies with its replies, loads
#: the scripts for a LoadScripts; the generator returns the batch's replies.
Exchange = Generator[Send | LoadScripts, list[Any] | None, list[Any]]


def read_through(origin: str | Origin | ReadThrough | None) -> ReadThrough | None:
    """``origin=`` as the store keeps it: a URL (``origin_from_url``), an origin (read
    through with the defaults) or a :class:`ReadThrough` saying how."""
    if origin is None or isinstance(origin, ReadThrough):
        return origin
    if isinstance(origin, str):
        return ReadThrough(origin_from_url(origin))
    return ReadThrough(origin)


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
        local_cache: bool | CacheConfig = True,
        metrics: Any = None,
        tracing: Any = None,
        origin: str | Origin | ReadThrough | None = None,
    ) -> None:
        keys = KeyLayout(namespace)
        lock_ttl = seconds(lock_ttl, "lock_ttl")
        check_client(client)
        #: Whether the client talks to a Redis Cluster: the multi-key methods then run as
        #: per-slot steps, and scripts are sent to their slot's node.
        self.cluster = is_cluster_client(client)
        self._cache_config, self.tracking, self._cache_off = open_cache(client, local_cache)
        steps: Steps
        if self.cluster:
            steps = ClusterSteps(keys, lock_ttl)
        else:  # plans are remembered unless the local cache is off
            steps = SingleServerSteps(keys, plans=0 if self._cache_config is None else PLANS)
        cache = None if self.tracking is None else self.tracking.entries
        tier = read_through(origin)
        #: Whether close() closes the origin too (made here from a URL).
        self._owns_origin = isinstance(origin, str)
        StoreCore.__init__(self, keys, steps, lock_ttl=lock_ttl, cache=cache, tier=tier)
        self.client = client
        #: After every batch that writes, WAIT for this many replicas (0: do not wait).
        self.wait_replicas, self.wait_timeout = durability(client, wait_replicas, wait_timeout)
        #: The registered scripts by name (redis-py objects that know their SHA).
        self.scripts = register_scripts(client)
        #: The tracking set-up sent with reads the cache may keep (one server).
        self._tracking_command: Command | None = None
        #: Where calls are reported (``metrics=``: a prometheus_client registry,
        #: ``tracing=``: OpenTelemetry); None: nowhere, at no cost (redis_store.observe).
        self.observer = observer_for(self, metrics, tracing)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "claircore",
        lock_ttl: float = 30.0,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        local_cache: bool | CacheConfig = True,
        metrics: Any = None,
        tracing: Any = None,
        origin: str | Origin | ReadThrough | None = None,
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
            local_cache=local_cache,
            metrics=metrics,
            tracing=tracing,
            origin=origin,
        )

    def _origin(self) -> Origin:
        """The origin a :class:`~redis_store.store.calls.Fetch` asks."""
        if self.tier is None:
            raise AssertionError("a Fetch from a store without an origin")
        return self.tier.origin

    def _close_origin(self) -> None:
        if self.tier is not None and self._owns_origin:
            self.tier.origin.close()

    # -- the local cache -----------------------------------------------------------------------
    @property
    def local_cache(self) -> LocalCacheState:
        """Whether reads are answered from process memory now, and if not, why."""
        enabled = self._cache_config is not None
        config = self._cache_config or CacheConfig()
        tracking = self.tracking
        if tracking is None:
            return LocalCacheState(enabled, "off", self._cache_off, config=config)
        nodes = tuple(tracking.nodes_listening())
        return LocalCacheState(enabled, tracking.state, tracking.reason, nodes, config)

    def cache_stats(self) -> CacheStats:
        """Hits, misses, invalidations, evictions, entries and bytes of the local cache."""
        if self.cache is None:
            return CacheStats()
        with self.cache.lock:
            return CacheStats(**vars(self.cache.stats))

    def _close_cache(self) -> None:
        if self.tracking is not None:
            self.tracking.close()

    # -- sending -----------------------------------------------------------------------------
    def _exchange(self, batch: Batch) -> Exchange:
        """The replies of ``batch``: sent once, and what NOSCRIPT refused once more after
        the scripts are loaded. Error replies of scripts name the script's file and line."""
        replies = yield from self._round_trip(batch)
        for reply in replies:
            if isinstance(reply, ResponseError):
                replies = yield from self._mend(batch, replies)
                break
        cache = self.cache
        if cache is not None:
            # a process reads its own writes: what they changed is dropped before they return
            written: list[str] = []
            for call in batch:
                if isinstance(call, ScriptCall) and is_write(call.name):
                    written += call.keys
            if written:
                cache.invalidate(written)
        return replies

    def _mend(self, batch: Batch, replies: list[Any]) -> Exchange:
        """Replies with errors: what NOSCRIPT refused sent again once the scripts are loaded
        (lost in a restart, SCRIPT FLUSH, failover, maybe again between a load and the
        resend; a refused call did not run), and script errors located."""
        for _ in range(SCRIPT_RELOADS):
            missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if not missing:
                break
            yield LOAD_SCRIPTS
            again = yield from self._round_trip([batch[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for i, (call, reply) in enumerate(zip(batch, replies, strict=True)):
            if isinstance(call, ScriptCall) and isinstance(reply, ResponseError):
                replies[i] = located(call.name, reply)
        return replies

    def _round_trip(self, batch: Batch) -> Exchange:
        """One round trip: the batch as sent (tracking for reads the cache may keep, WAIT
        after writes), its replies checked."""
        wire = self._durable(batch) if self.wait_replicas else batch
        tracked = None
        if self.tracking is not None:
            for call in wire:
                if call.fence is not None:
                    wire, tracked = self._track(wire)
                    break
        replies = yield Send(wire)
        assert replies is not None
        if tracked is not None:
            replies = self._tracked(tracked, replies)
        return self._acknowledged(batch, replies)

    def _track(self, wire: Batch) -> tuple[Batch, Tracked | None]:
        """The batch as sent when it holds reads the cache may keep: per node they go to,
        ``CLIENT TRACKING ON REDIRECT <listener> OPTIN`` first, then ``CLIENT CACHING YES``
        right before each of them. The server then tells this store's listener when what
        those reads (and nothing else the connection runs) read changes. Returns the calls
        and where the added ones are (None: nothing added, no listener yet, so the reads go
        untracked and their answers are not kept)."""
        tracking = self.tracking
        assert tracking is not None
        if not self.cluster:  # one node: one set-up, first
            listener = tracking.redirect(None)
            if listener is None:
                return wire, None
            out: Batch = [self._tracking_on(listener)]
            tracked = Tracked([(0, None)], [], [])
            for call in wire:
                if call.fence is not None:
                    tracked.reads.append((len(out), None, call))
                    out.append(CACHING)
                tracked.own.append(len(out))
                out.append(call)
            return out, tracked
        redirects: dict[str | None, tuple[Any, int] | None] = {}
        out = []
        tracked = Tracked([], [], [])
        for call in wire:
            if call.fence is not None:
                node = self._node_of(call)
                name = None if node is None else node.name
                if name not in redirects:
                    listener = tracking.redirect(name)
                    redirects[name] = None if listener is None else (node, listener)
                    if listener is not None:
                        command = ("CLIENT", "TRACKING", "ON", "REDIRECT", listener, "OPTIN")
                        tracked.setup.append((len(out), node))
                        out.append(Command(command, target=node))
                if redirects[name] is not None:
                    tracked.reads.append((len(out), node, call))
                    out.append(Command(CACHING_YES, target=node))
            tracked.own.append(len(out))
            out.append(call)
        if not tracked.setup:
            return wire, None
        return out, tracked

    def _tracking_on(self, listener: int) -> Command:
        """``CLIENT TRACKING ON REDIRECT <listener> OPTIN`` (one server), made once per
        listener."""
        made = self._tracking_command
        if made is None or made.args[4] != listener:
            command = ("CLIENT", "TRACKING", "ON", "REDIRECT", listener, "OPTIN")
            made = self._tracking_command = Command(command)
        return made

    def _tracked(self, tracked: Tracked, replies: list[Any]) -> list[Any]:
        """The batch's own replies; each read the server confirmed it tracks is marked
        so on its fence (its answer may be kept)."""
        tracking = self.tracking
        assert tracking is not None
        refused: set[int] = set()
        for at, node in tracked.setup:
            reply = replies[at]
            if isinstance(reply, Exception):
                refused.add(id(node))
                tracking.lost(f"the server refused to track reads: {reply}")
        for at, node, call in tracked.reads:
            reply = replies[at]
            if isinstance(reply, Exception):
                tracking.lost(f"the server refused to track reads: {reply}")
                continue
            if id(node) in refused:
                continue
            if self.cluster and self._node_of(call) != node:
                # the slot map changed under the read: trust nothing read so far
                tracking.lost("a key moved to another cluster node")
                continue
            assert call.fence is not None
            call.fence.tracked = True
        return [replies[i] for i in tracked.own]

    def _node_of(self, call: Call) -> Any:
        """The cluster node serving a call's key."""
        key = call.keys[0] if isinstance(call, ScriptCall) else call.args[1]
        try:
            return self.client.get_node_from_key(key)
        except Exception:  # the slot map is not loaded yet (asyncio): sent untracked
            return None

    def _pipeline(self, calls: Batch) -> Any:
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*self._command(call), **self._route(call))
        return pipe

    def _command(self, call: Call) -> tuple[Any, ...]:
        """The Redis command of a call: scripts go by SHA (EVALSHA), loaded once."""
        if isinstance(call, ScriptCall):
            sha = self.scripts[call.name].sha
            return ("EVALSHA", sha, len(call.keys), *call.keys, *call.args)
        return call.args

    def _route(self, call: Call) -> dict[str, Any]:
        """On a cluster, the node that serves a script's slot. Without it redis-py's cluster
        pipeline asks a server for the keys of every EVALSHA (COMMAND GETKEYS, a round trip
        each); a MOVED reply after resharding is still followed."""
        if self.cluster and isinstance(call, ScriptCall) and call.keys:
            return {"target_nodes": self.client.get_node_from_key(call.keys[0])}
        if isinstance(call, Command) and call.target is not None:
            return {"target_nodes": call.target}
        return {}

    def _script_loader(self) -> Any:
        """What loads every script in one round trip: a pipeline, or on a cluster a loader
        that reaches every primary (``execute()`` awaitable on an asyncio client)."""
        if self.cluster:
            return ClusterScriptLoader(self.client, self.scripts)
        pipe = self.client.pipeline(transaction=False)
        for script in self.scripts.values():
            pipe.script_load(script.script)
        return pipe

    def _durable(self, batch: Batch) -> Batch:
        """The batch as sent: followed by WAIT when it writes and ``wait_replicas`` is set.

        WAIT goes in the same pipeline, so it runs on the connection that made the writes
        and covers exactly them, at no extra round trip.
        """
        if self.wait_replicas and any(
            isinstance(call, ScriptCall) and is_write(call.name) for call in batch
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


def open_cache(
    client: Any, local_cache: bool | CacheConfig
) -> tuple[CacheConfig | None, Tracking | None, str]:
    """The local cache of a store on ``client``: its limits, its tracking (None when there
    is none), and why it is off."""
    if local_cache is False:
        return None, None, "turned off (local_cache=False)"
    if isinstance(local_cache, CacheConfig):
        config = local_cache
    elif local_cache is True:
        config = CacheConfig()
    else:
        raise InvalidInputError(
            f"local_cache must be True, False or a CacheConfig, not {local_cache!r}"
        )
    try:
        nodes, family = node_finder(client)
    except TrackingUnavailable as e:
        return config, None, str(e)
    except Exception as e:  # a client shape this store cannot listen beside: no cache
        return config, None, f"cannot find the client's nodes: {type(e).__name__}: {e}"
    entries = Entries(config.max_entries, config.max_bytes, config.max_age)
    tracking = Tracking(entries, nodes, cluster=family == "cluster", sentinel=family == "sentinel")
    return config, tracking, ""


def located(name: str, error: ResponseError) -> ResponseError:
    """A script's error reply with the script's own file and line in its message."""
    message = str(error)
    explained = explain_error(name, message)
    if explained == message:
        return error
    return type(error)(explained)


#: More replicas than WAIT could count (a Redis integer) cannot be waited for.
MOST_REPLICAS = 2**31 - 1


def durability(client: Any, wait_replicas: int, wait_timeout: float) -> tuple[int, float]:
    """Check the ``wait_replicas`` / ``wait_timeout`` store options."""
    if (
        isinstance(wait_replicas, bool)
        or not isinstance(wait_replicas, int)
        or not 0 <= wait_replicas <= MOST_REPLICAS
    ):
        raise InvalidInputError(
            f"wait_replicas must be an integer from 0 to {MOST_REPLICAS}, not {wait_replicas!r}"
        )
    wait_timeout = seconds(wait_timeout, "wait_timeout")  # 0 would block forever
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


__all__ = ["LOAD_SCRIPTS", "ClientStore", "Exchange", "LoadScripts", "Send"]
