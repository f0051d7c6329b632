"""Server-assisted invalidation: one listener connection per Redis node.

Each listener is a dedicated RESP3 connection; its client ID is what the store's reads
redirect their invalidations to: every read the cache may keep is sent right after
``CLIENT TRACKING ON REDIRECT <id>`` on the same connection (the transport adds it), so the
server remembers that connection read those keys and tells the listener when any of them
changes (default tracking mode; Redis 7.0 tracks a script's declared ``KEYS``).

Invalidations are applied as soon as they arrive: by a background thread that waits on the
listener sockets, and by every cache look-up, which first drains whatever the sockets already
hold (a non-blocking poll), so an answer is never given after its invalidation reached this
process. Everything is dropped when a listener connection breaks or is replaced, on a null
invalidation (``FLUSHDB``/``FLUSHALL``), when the Sentinel primary moves, and when a cluster
key moved to another node; the tracking is then re-established on new connections.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final, Literal

import hiredis
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.connection
import redis.sentinel

from redis_store.cache.entries import Entries

log = logging.getLogger("redis_store.cache")

Sentinel: Callable[..., Any] = redis.sentinel.Sentinel

State = Literal["starting", "live", "reconnecting", "off", "closed"]

#: How often the listener thread re-asks the sentinels where the primary is, and waits at
#: most between two looks at its sockets.
DISCOVERY_INTERVAL: Final = 1.0
#: Longest pause between two attempts to reconnect a broken listener.
RECONNECT_PAUSE: Final = 1.0

#: Connection options a listener does not take from the store's client (it reads pushes
#: forever, so no read timeout; it needs RESP3; pools and callbacks are the client's own).
_NOT_COPIED: Final = frozenset(
    {"connection_pool", "redis_connect_func", "retry", "socket_timeout", "protocol", "db"}
)


class TrackingUnavailable(Exception):
    """The server cannot track for this store (no CLIENT TRACKING, or not permitted)."""


@dataclass
class Node:
    """Where a listener connects: an address and the options of the store's connections."""

    name: str
    connection_class: type[Any]
    options: dict[str, Any]

    def connect(self) -> Listener:
        options = {**self.options, "protocol": 3, "socket_timeout": None}
        conn = self.connection_class(**_accepted(self.connection_class, options))
        return Listener(self.name, conn)


class Listener:
    """One dedicated RESP3 connection whose client ID the store's reads redirect to."""

    def __init__(self, name: str, conn: Any) -> None:
        self.name = name
        try:
            conn.connect()
            conn.send_command("CLIENT", "ID")
            self.client_id = int(conn.read_response())
        except redis.exceptions.ResponseError as e:
            conn.disconnect()
            raise TrackingUnavailable(f"{name}: {e}") from None
        sock = conn._sock
        if sock is None:
            raise ConnectionError(f"{name}: no socket")
        # From here on the socket is read directly: nothing but pushes arrives on it.
        self._conn: Any = conn
        self.sock: socket.socket = sock
        self.sock.setblocking(False)
        self._reader: Any = hiredis.Reader()

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> bool:
        """Whether decrypted bytes wait in the TLS layer (select cannot see those)."""
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def read(self) -> list[Any]:
        """Every complete message that has arrived; raises ConnectionError once the
        connection is closed."""
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            except OSError as e:
                raise ConnectionError(f"{self.name}: {e}") from None
            if not data:
                raise ConnectionError(f"{self.name}: the server closed the connection")
            self._reader.feed(data)
            if len(data) < 65536 and not self.pending():
                break
        out = []
        while (message := self._reader.gets()) is not False:
            out.append(message)
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection is best effort
            self._conn.disconnect()


@dataclass
class Tracking:
    """The listeners of one store's cache, and the thread that keeps them."""

    entries: Entries
    #: Where to listen: ``nodes(None)`` for a single server (standalone, or the current
    #: Sentinel primary), ``nodes(name)`` for a cluster node.
    nodes: Callable[[str | None], Node]
    cluster: bool = False
    sentinel: bool = False
    state: State = "starting"
    reason: str = "connecting the invalidation listener"
    _listeners: dict[str | None, Listener] = field(default_factory=dict)
    _wanted: set[str | None] = field(default_factory=set)

    def __post_init__(self) -> None:
        #: The cache's own lock: a look-up drains the sockets and answers under one lock, and
        #: the listener thread applies what it read under it too.
        self._lock = self.entries.lock
        #: The listener sockets, registered for a non-blocking readiness check (None: no
        #: listener), by file descriptor; and those whose TLS layer may hold bytes.
        self._poller: Any = None
        self._by_fd: dict[int, Listener] = {}
        self._tls: list[Listener] = []
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._primary: str | None = None
        self._thread: threading.Thread | None = None
        self.entries.poll = self.poll
        # sockets close when the store is dropped unclosed; the thread holds no reference
        weakref.finalize(self, _close_all, self._listeners, self._wake_r, self._wake_w)

    def _start(self) -> None:
        """Start listening: on the first read the cache could keep, so that a store that
        only writes never opens a listener."""
        with self._lock:
            if self._thread is not None or self.state in ("off", "closed"):
                return
            if not self.cluster:
                self._wanted.add(None)
            self._thread = threading.Thread(
                target=_listen,
                args=(weakref.ref(self), self._wake_r),
                daemon=True,
                name="redis-store invalidations",
            )
            self._thread.start()

    # -- what the transport asks -------------------------------------------------------------
    def redirect(self, node: str | None) -> int | None:
        """The listener client ID that reads on ``node`` redirect to, or None while there is
        none (the read is then sent untracked and its answer not kept)."""
        listener = self._listeners.get(node)
        if listener is not None and self.state == "live":
            return listener.client_id
        if self._thread is None:
            self._start()
        if self.cluster and node not in self._wanted and self.state != "off":
            with self._lock:
                self._wanted.add(node)
            self._wake()
        return None

    def lost(self, reason: str) -> None:
        """Tracking can no longer be trusted (a redirect refused, a key moved): drop
        everything and re-establish it on new listener connections."""
        with self._lock:
            if self.state in ("off", "closed"):
                return
            log.info("local cache dropped: %s", reason)
            for listener in self._listeners.values():
                listener.close()
            self._listeners.clear()
            self._listeners_changed()
            self.state, self.reason = "reconnecting", reason
            self.entries.clear(live=False)
        self._wake()

    # -- reading invalidations ---------------------------------------------------------------
    def poll(self) -> None:
        """Apply every invalidation that has already arrived (non-blocking on the sockets).

        Called under the cache's lock, which the listener thread holds while it applies what
        it read off a socket: an invalidation read but not applied yet is waited for, not
        missed. The readiness check is one ``epoll`` call over the registered sockets."""
        with self._lock:
            poller = self._poller
            if poller is None:
                return
            try:
                events = poller.poll(0)
            except (OSError, ValueError):  # a socket closed under us: the thread reconnects
                ready = list(self._listeners.values())
            else:
                if not events and not self._tls:
                    return
                by_fd = self._by_fd
                ready = [by_fd[fd] for fd, _ in events if fd in by_fd]
            ready += [x for x in self._tls if x not in ready and x.pending()]
            for listener in ready:
                self._drain(listener)

    def _listeners_changed(self) -> None:
        """Register the current listener sockets for :meth:`poll` (under the lock)."""
        old, self._poller = self._poller, None
        if old is not None:
            old.close()
        self._by_fd = {}
        self._tls = []
        listeners = list(self._listeners.values())
        if not listeners:
            return
        poller: Any = select.epoll() if hasattr(select, "epoll") else _Poll()
        for listener in listeners:
            fd = listener.fileno()
            poller.register(fd, select.POLLIN)
            self._by_fd[fd] = listener
            if isinstance(listener.sock, ssl.SSLSocket):
                self._tls.append(listener)
        self._poller = poller

    def _drain(self, listener: Listener) -> None:
        if self._listeners.get(_key_of(self._listeners, listener)) is not listener:
            return  # replaced meanwhile
        try:
            messages = listener.read()
        except ConnectionError as e:
            self.lost(f"invalidation connection lost ({e})")
            return
        for message in messages:
            self._apply(message)

    def _apply(self, message: Any) -> None:
        if not isinstance(message, list) or len(message) != 2 or message[0] != b"invalidate":
            return
        keys = message[1]
        if keys is None:  # FLUSHDB / FLUSHALL: every key changed
            self.entries.clear(live=True)
        else:
            self.entries.invalidate([k.decode("utf-8", "surrogateescape") for k in keys])

    # -- the listener thread -------------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _step(self) -> tuple[list[Any], float]:
        """One turn of the listener thread: connect what is missing, look at the Sentinel
        primary when due, apply what arrived; what to wait on next, and how long."""
        if self._connect_wanted():
            self._pause = 0.05
        elif self.state == "reconnecting":
            pause, self._pause = self._pause, min(self._pause * 2, RECONNECT_PAUSE)
            return [], pause
        if self.sentinel and time.monotonic() >= self._next_discovery:
            self._next_discovery = time.monotonic() + DISCOVERY_INTERVAL
            self._check_primary()
        self.poll()
        return list(self._listeners.values()), DISCOVERY_INTERVAL

    _pause = 0.05
    _next_discovery = 0.0

    def _connect_wanted(self) -> bool:
        """Connect the listeners still missing; whether all are connected now."""
        with self._lock:
            missing = [n for n in self._wanted if n not in self._listeners]
        if not missing:
            return True
        for name in missing:
            try:
                node = self.nodes(name)
                listener = node.connect()
            except TrackingUnavailable as e:
                with self._lock:
                    self.state, self.reason = "off", str(e)
                    self.entries.clear(live=False)
                return False
            except Exception as e:  # the server is down or unreachable: try again later
                with self._lock:
                    if self.state != "closed":
                        self.state, self.reason = "reconnecting", f"{type(e).__name__}: {e}"
                return False
            with self._lock:
                if self.state == "closed":
                    listener.close()
                    return False
                self._listeners[name] = listener
                self._listeners_changed()
                if name is None and self.sentinel:
                    self._primary = node.name
        with self._lock:
            if all(n in self._listeners for n in self._wanted) and self.state != "live":
                # a new epoch: nothing read before these listeners existed is kept
                self.entries.clear(live=True)
                self.state, self.reason = "live", ""
        return True

    def _check_primary(self) -> None:
        try:
            where = self.nodes(None).name
        except Exception:  # the sentinels are unreachable: keep what we have
            return
        if self._primary is not None and where != self._primary:
            self.lost(f"the Sentinel primary moved from {self._primary} to {where}")

    def close(self) -> None:
        with self._lock:
            self.state, self.reason = "closed", "the store is closed"
            for listener in self._listeners.values():
                listener.close()
            self._listeners.clear()
            self._listeners_changed()
            self.entries.clear(live=False)
        self._stop.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        self._wake_r.close()
        self._wake_w.close()

    def nodes_listening(self) -> list[str]:
        return sorted(listener.name for listener in self._listeners.values())


class _Poll:
    """``select.poll`` with ``close`` (where there is no ``epoll``)."""

    def __init__(self) -> None:
        self._poll = select.poll()

    def register(self, fd: int, events: int) -> None:
        self._poll.register(fd, events)

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        return self._poll.poll(timeout)

    def close(self) -> None:
        pass


def _listen(ref: weakref.ref[Tracking], wake: socket.socket) -> None:
    """The listener thread: waits on the listener sockets and applies what arrives. It holds
    its Tracking only while working, so a store dropped without close() is collected (and
    the thread ends within a second)."""
    while True:
        tracking = ref()
        if tracking is None or tracking._stop.is_set() or tracking.state in ("off", "closed"):
            return
        try:
            waiting, timeout = tracking._step()
        except Exception:  # never let the thread die: the next turn reconnects
            log.exception("invalidation listener")
            waiting, timeout = [], RECONNECT_PAUSE
        del tracking
        with contextlib.suppress(OSError, ValueError):
            select.select([wake, *waiting], [], [], timeout)
        with contextlib.suppress(OSError):
            while wake.recv(4096):
                pass


def _close_all(listeners: dict[str | None, Listener], *sockets: socket.socket) -> None:
    for listener in list(listeners.values()):
        listener.close()
    for sock in sockets:
        sock.close()


def _key_of(listeners: dict[str | None, Listener], listener: Listener) -> str | None:
    for key, value in listeners.items():
        if value is listener:
            return key
    return "?"


@cache
def _parameters(cls: type) -> frozenset[str] | None:
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind is p.VAR_KEYWORD:
                continue
            names.add(p.name)
    return frozenset(names) - {"self"}


def _accepted(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The options a (sync) connection class takes."""
    names = _parameters(cls) or frozenset()
    return {k: v for k, v in options.items() if k in names}


_SYNC_CLASSES: Final[dict[str, type[Any]]] = {
    "Connection": redis.connection.Connection,
    "SSLConnection": redis.connection.SSLConnection,
    "UnixDomainSocketConnection": redis.connection.UnixDomainSocketConnection,
}


def _sync_class(connection_class: type, options: dict[str, Any]) -> type[Any]:
    """The blocking connection class for a client's (maybe asyncio, maybe Sentinel-managed)
    connection class: a listener is always a plain blocking connection."""
    for klass in connection_class.__mro__:
        if klass.__name__ in _SYNC_CLASSES:
            return _SYNC_CLASSES[klass.__name__]
    if "path" in options:
        return redis.connection.UnixDomainSocketConnection
    if any(k.startswith("ssl") for k in options) or "SSL" in connection_class.__name__:
        return redis.connection.SSLConnection
    return redis.connection.Connection


def _options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in _NOT_COPIED}


def node_finder(client: Any) -> tuple[Callable[[str | None], Node], str]:
    """How to reach the nodes ``client`` talks to, and the deployment family
    (``standalone``, ``sentinel``, ``cluster``); raises TrackingUnavailable for a client
    that has no server (fakeredis)."""
    if type(client).__module__.startswith("fakeredis"):
        raise TrackingUnavailable("fakeredis has no client tracking")
    if isinstance(client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster):
        return _cluster_nodes(client), "cluster"
    pool = client.connection_pool
    if isinstance(
        pool, redis.sentinel.SentinelConnectionPool | redis.asyncio.sentinel.SentinelConnectionPool
    ):
        return _sentinel_nodes(pool), "sentinel"
    kwargs = _options(pool.connection_kwargs)
    klass = _sync_class(pool.connection_class, kwargs)
    if klass is redis.connection.UnixDomainSocketConnection:
        name = str(kwargs.get("path"))
    else:
        name = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    standalone = Node(name, klass, kwargs)
    return (lambda _name: standalone), "standalone"


def _sentinel_nodes(pool: Any) -> Callable[[str | None], Node]:
    manager = pool.sentinel_manager
    kwargs = _options(pool.connection_kwargs)
    klass = _sync_class(pool.connection_class, kwargs)
    discover: Callable[[str], tuple[str, int]]
    if isinstance(manager, redis.sentinel.Sentinel):
        discover = manager.discover_master
    else:  # asyncio: ask the same sentinels with blocking clients, from the listener thread
        sentinels = []
        for s in manager.sentinels:
            options = s.connection_pool.connection_kwargs
            sentinels.append((options["host"], options["port"]))
        first = manager.sentinels[0].connection_pool
        credentials = {
            k: v
            for k, v in first.connection_kwargs.items()
            if k in ("username", "password") or k.startswith("ssl_")
        }
        if "SSL" in first.connection_class.__name__:
            credentials["ssl"] = True
        sync = Sentinel(
            sentinels,
            sentinel_kwargs={**credentials, "socket_timeout": 1.0, "socket_connect_timeout": 1.0},
        )
        discover = sync.discover_master

    def node(_name: str | None) -> Node:
        host, port = discover(pool.service_name)
        return Node(f"{host}:{port}", klass, {**kwargs, "host": host, "port": port})

    return node


def _cluster_nodes(client: Any) -> Callable[[str | None], Node]:
    def node(name: str | None) -> Node:
        if name is None:
            raise ValueError("a cluster listener needs a node name")
        found = client.get_node(node_name=name)
        if found is None:
            raise ConnectionError(f"{name} is no longer a node of the cluster")
        if isinstance(client, redis.cluster.RedisCluster):
            pool = client.get_redis_connection(found).connection_pool
            kwargs, klass = pool.connection_kwargs, pool.connection_class
        else:
            kwargs, klass = found.connection_kwargs, found.connection_class
        options = {**_options(kwargs), "host": found.host, "port": found.port}
        return Node(name, _sync_class(klass, options), options)

    return node


__all__ = ["Listener", "Node", "Tracking", "TrackingUnavailable", "node_finder"]
