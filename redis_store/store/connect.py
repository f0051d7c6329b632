"""Redis URLs to redis-py clients: standalone, TLS, Unix socket, Sentinel and Cluster.

One function, :func:`client_from_url`, builds the sync or asyncio client for every URL form
the store accepts, so ``RedisStore.from_url`` and ``AsyncRedisStore.from_url`` (and the
command line) understand the same URLs:

``redis://[[user]:password@]host[:port][/db][?option=value...]``
    A standalone server (port 6379, db 0 by default).
``rediss://...``
    The same over TLS. ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
    ``ssl_cert_reqs`` (``required``, ``optional``, ``none``), ``ssl_check_hostname`` ... may
    be given as query parameters or as keyword arguments.
``unix://[[user]:password@]/path/to/redis.sock[?db=N]``
    A server on a Unix socket.
``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?...]``
    The primary of Sentinel service ``service``, found through the listed sentinels (port
    26379 by default). ``user:password`` authenticate to the data nodes; the sentinels take
    ``sentinel_username`` / ``sentinel_password`` (query parameters or keyword arguments).
    The client re-asks the sentinels for the primary on every new connection and retries
    failed calls for :data:`FAILOVER_BUDGET` seconds (:func:`failover_retry`), so a
    promotion is ridden out; ``retry=`` replaces that policy.
``rediss+sentinel://...``
    The same with TLS to the data nodes. The sentinels use TLS too unless
    ``sentinel_ssl=false`` (with ``redis+sentinel://``, ``sentinel_ssl=true`` turns TLS on
    for the sentinels only). The ``ssl_*`` options apply to both.
``redis+cluster://[[user]:password@]host[:port][,host[:port]...][?...]``, ``rediss+cluster://``
    A Redis Cluster, discovered from the listed startup nodes (port 6379 by default).

Every other query parameter is parsed as redis-py parses it (``socket_timeout``,
``socket_connect_timeout``, ``health_check_interval``, ``protocol`` ...) and extra keyword
arguments go to the client (keyword arguments win over the URL for the Sentinel and Cluster
forms; for the others redis-py lets the URL win). Replies are never decoded
(``decode_responses=False``): stored values are binary. A malformed URL raises
:class:`~redis_store.errors.InvalidInputError`.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, unquote, urlencode

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.cluster
import redis.retry
import redis.sentinel
from redis.backoff import AbstractBackoff, NoBackoff
from redis.connection import parse_url as _redis_parse_url
from redis.exceptions import ConnectionError, TimeoutError

from redis_store.errors import InvalidInputError
from redis_store.store.sentinels import AsyncCheckedSentinel, CheckedSentinel

Family = Literal["standalone", "sentinel", "cluster"]

# redis-py's untyped entry points, typed once here.
redis_parse_url: Callable[[str], dict[str, Any]] = _redis_parse_url
Sentinel: Callable[..., Any] = CheckedSentinel
AsyncSentinel: Callable[..., Any] = AsyncCheckedSentinel
ClusterNode: Callable[..., Any] = redis.cluster.ClusterNode

#: scheme -> (family, TLS to the data nodes)
SCHEMES: Final[Mapping[str, tuple[Family, bool]]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "unix": ("standalone", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
DEFAULT_PORTS: Final[Mapping[Family, int]] = {
    "standalone": 6379,
    "sentinel": 26379,
    "cluster": 6379,
}
#: Seconds a Sentinel client keeps retrying a call while no primary answers: longer than a
#: promotion takes (``down-after-milliseconds`` + election + ``REPLICAOF NO ONE``, a few
#: seconds with typical settings).
FAILOVER_BUDGET: Final = 20.0
#: Query parameters of the Sentinel form that configure the sentinels, not the data nodes.
SENTINEL_OPTIONS: Final = ("sentinel_username", "sentinel_password", "sentinel_ssl")
#: Timeouts of the connections to the sentinels, whatever the data nodes' are (a dead
#: sentinel must not stall discovery: the next one is asked); ``sentinel_kwargs=`` overrides.
SENTINEL_TIMEOUT: Final = 1.0


@dataclass
class ParsedUrl:
    """A store URL taken apart: what :func:`client_from_url` builds a client from."""

    family: Family
    tls: bool
    #: (host, port) of the sentinels or cluster startup nodes; empty for standalone.
    hosts: list[tuple[str, int]] = field(default_factory=list)
    #: The Sentinel service name.
    service: str = ""
    #: Data-node connection options (credentials, db, ``ssl_*``, timeouts ...).
    options: dict[str, Any] = field(default_factory=dict)
    #: Sentinel-only options: ``sentinel_username``, ``sentinel_password``, ``sentinel_ssl``.
    sentinel: dict[str, Any] = field(default_factory=dict)


def _bad(url: str, why: str) -> InvalidInputError:
    shown = url.split("@", 1)[-1] if "@" in url else url  # never echo a password
    return InvalidInputError(f"bad Redis URL ({why}): {shown}")


def _port(url: str, text: str, default: int) -> int:
    if text == "":
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise _bad(url, f"port {text!r} is not a number from 1 to 65535")
    return int(text)


def _host_port(url: str, item: str, default: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    if item.startswith("["):
        end = item.find("]")
        if end < 0 or item[end + 1 : end + 2] not in ("", ":"):
            raise _bad(url, f"bad IPv6 address {item!r}")
        return item[1:end], _port(url, item[end + 2 :], default)
    host, _, port = item.partition(":")
    if not host or ":" in port:
        raise _bad(url, f"bad host {item!r}")
    return host, _port(url, port, default)


def parse(url: str) -> ParsedUrl:
    """Take a store URL apart, checking it; raises ``InvalidInputError`` when malformed."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise _bad(url, f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    family, tls = SCHEMES[scheme.lower()]
    if family == "standalone":
        return _parse_standalone(url, tls)
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if not hostlist:
        raise _bad(url, "no host")
    default = DEFAULT_PORTS[family]
    hosts = [_host_port(url, item, default) for item in hostlist.split(",")]
    parts = [unquote(p) for p in path.split("/")] if path else []
    db = ""
    service = ""
    if family == "sentinel":
        if not parts or not parts[0]:
            raise _bad(url, "no Sentinel service name: redis+sentinel://host:port/<service>")
        service, db = parts[0], "/".join(parts[1:])
    elif any(parts):
        raise _bad(url, "a cluster URL has no path (Redis Cluster has only db 0)")
    if db and not db.isdigit():
        raise _bad(url, f"db {db!r} is not a number")
    pairs = parse_qsl(query, keep_blank_values=True)
    sentinel = {k: v for k, v in pairs if k in SENTINEL_OPTIONS}
    if family == "cluster" and sentinel:
        raise _bad(url, f"{', '.join(sentinel)} only apply to Sentinel URLs")
    flags: dict[str, Any] = dict(sentinel)
    if "sentinel_ssl" in flags:
        flags["sentinel_ssl"] = flag(flags["sentinel_ssl"])
    # Everything else is parsed exactly as redis-py parses a redis:// URL.
    query = urlencode([(k, v) for k, v in pairs if k not in SENTINEL_OPTIONS])
    host, port = hosts[0]
    plain = f"redis://{userinfo}{at}{'[' + host + ']' if ':' in host else host}:{port}"
    options = _redis_options(url, f"{plain}/{db}?{query}")
    for key in ("host", "port", "connection_class"):
        options.pop(key, None)
    if family == "cluster" and options.pop("db", 0) != 0:
        raise _bad(url, "Redis Cluster has only db 0")
    return ParsedUrl(family, tls, hosts, service, options, flags)


def _parse_standalone(url: str, tls: bool) -> ParsedUrl:
    options = _redis_options(url, url)
    if not url.lower().startswith("unix://"):
        path = url.split("://", 1)[1].partition("?")[0].partition("/")[2]
        if path and not path.strip("/").isdigit():
            raise _bad(url, f"db {path!r} is not a number")
    options.pop("connection_class", None)
    return ParsedUrl("standalone", tls, options=options)


def flag(value: object) -> bool:
    """A boolean option, from a keyword argument or a URL's query (as redis-py reads them)."""
    if isinstance(value, str):
        return value.strip().upper() not in ("", "0", "F", "FALSE", "N", "NO", "OFF")
    return bool(value)


def _redis_options(url: str, redis_url: str) -> dict[str, Any]:
    try:
        options: dict[str, Any] = redis_parse_url(redis_url)
    except ValueError as e:  # a bad port or a bad query value
        raise _bad(url, str(e)) from None
    if flag(options.get("decode_responses", "")):
        raise _bad(url, "decode_responses must be off: stored values are binary")
    options.pop("decode_responses", None)
    return options


def client_from_url(url: str, *, asyncio: bool = False, **kwargs: Any) -> Any:
    """A redis-py client for a store URL (see the module docstring for the forms).

    ``asyncio=True`` gives the ``redis.asyncio`` flavour of the same client. Keyword
    arguments go to the client (to the data-node connections for Sentinel, with
    ``sentinel_kwargs=`` for the sentinel connections).
    """
    if kwargs.pop("decode_responses", False):
        raise InvalidInputError("decode_responses must be off: stored values are binary")
    parsed = parse(url)
    if parsed.family == "standalone":
        cls = redis.asyncio.Redis if asyncio else redis.Redis
        return cls.from_url(url, decode_responses=False, **kwargs)
    if parsed.family == "sentinel":
        return _sentinel_client(parsed, asyncio, kwargs)
    return _cluster_client(parsed, asyncio, kwargs)


def _sentinel_client(parsed: ParsedUrl, asyncio: bool, kwargs: dict[str, Any]) -> Any:
    options = {**parsed.options, **kwargs}
    sentinel = {**parsed.sentinel}
    for key in SENTINEL_OPTIONS:  # also accepted as keyword arguments
        if key in options:
            sentinel[key] = options.pop(key)
    sentinel_ssl = flag(sentinel.get("sentinel_ssl", parsed.tls))
    extra_sentinel_kwargs: dict[str, Any] = options.pop("sentinel_kwargs", None) or {}
    sentinel_kwargs: dict[str, Any] = {
        "socket_connect_timeout": SENTINEL_TIMEOUT,
        "socket_timeout": SENTINEL_TIMEOUT,
        # discovery asks the next sentinel instead of retrying a dead one
        "retry": (redis.asyncio.retry.Retry if asyncio else redis.retry.Retry)(NoBackoff(), 0),
    }
    if sentinel_ssl:
        sentinel_kwargs["ssl"] = True
        sentinel_kwargs.update({k: v for k, v in options.items() if k.startswith("ssl_")})
    if "sentinel_username" in sentinel:
        sentinel_kwargs["username"] = sentinel["sentinel_username"]
    if "sentinel_password" in sentinel:
        sentinel_kwargs["password"] = sentinel["sentinel_password"]
    sentinel_kwargs.update(extra_sentinel_kwargs)
    options.setdefault("retry", failover_retry(asyncio=asyncio))
    plain: type[Any]
    tls: type[Any]
    if asyncio:
        plain, tls = AsyncRediscoveringConnection, AsyncRediscoveringSSLConnection
    else:
        plain, tls = RediscoveringConnection, RediscoveringSSLConnection
    options.setdefault("connection_class", tls if parsed.tls else plain)
    options["decode_responses"] = False
    if asyncio:
        asentinel = AsyncSentinel(parsed.hosts, sentinel_kwargs=sentinel_kwargs, **options)
        return asentinel.master_for(parsed.service, redis_class=redis.asyncio.Redis)
    sentinel_client = Sentinel(parsed.hosts, sentinel_kwargs=sentinel_kwargs, **options)
    return sentinel_client.master_for(parsed.service, redis_class=redis.Redis)


class RediscoveringConnection(redis.sentinel.SentinelManagedConnection):
    """A Sentinel-managed connection whose every reconnect asks the sentinels first.

    redis-py re-asks the sentinels when the pool hands out a closed connection, but a call
    retried by ``Retry`` reconnects the same connection to its cached address
    (``send_packed_command`` -> ``connect_check_health``), so it would knock on the dead
    primary until the budget runs out. Those reconnects go through ``connect`` instead.
    """

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if retry_socket_connect and self._sock is None and self.connection_pool.is_master:
            self.connect()  # type: ignore[no-untyped-call]
        else:
            super().connect_check_health(check_health, retry_socket_connect)


class RediscoveringSSLConnection(
    RediscoveringConnection, redis.sentinel.SentinelManagedSSLConnection
):
    """:class:`RediscoveringConnection` over TLS."""


class AsyncRediscoveringConnection(redis.asyncio.sentinel.SentinelManagedConnection):
    """:class:`RediscoveringConnection` for ``redis.asyncio``."""

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if retry_socket_connect and not self.is_connected and self.connection_pool.is_master:
            await self.connect()  # type: ignore[no-untyped-call]
        else:
            await super().connect_check_health(check_health, retry_socket_connect)


class AsyncRediscoveringSSLConnection(
    AsyncRediscoveringConnection, redis.asyncio.sentinel.SentinelManagedSSLConnection
):
    """:class:`AsyncRediscoveringConnection` over TLS."""


def _cluster_client(parsed: ParsedUrl, asyncio: bool, kwargs: dict[str, Any]) -> Any:
    options = {**parsed.options, **kwargs, "decode_responses": False}
    if parsed.tls:
        options["ssl"] = True
    if asyncio:
        anodes = [redis.asyncio.cluster.ClusterNode(h, p) for h, p in parsed.hosts]
        return redis.asyncio.cluster.RedisCluster(startup_nodes=anodes, **options)
    nodes = [ClusterNode(h, p) for h, p in parsed.hosts]
    return redis.cluster.RedisCluster(startup_nodes=nodes, **options)


def is_cluster_client(client: object) -> bool:
    """Whether ``client`` talks to a Redis Cluster (no WAIT, per-slot scripts)."""
    return isinstance(client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)


class FailoverBackoff(AbstractBackoff):
    """Exponential backoff with jitter that gives up after a total time budget.

    redis-py's ``Retry`` counts attempts; a failover is bounded in time, not attempts (a
    refused connection fails in microseconds, a dead host in ``socket_connect_timeout``).
    ``Retry`` resets its backoff when a call starts and asks it for a pause after each
    failure, so the budget runs from the start of the call's latest attempt chain; past it,
    the failure is raised as is.
    """

    def __init__(
        self, budget: float = FAILOVER_BUDGET, base: float = 0.05, cap: float = 0.5
    ) -> None:
        self.budget, self.base, self.cap = budget, base, cap
        self._start = time.monotonic()

    def reset(self) -> None:
        self._start = time.monotonic()

    def compute(self, failures: int) -> float:
        if time.monotonic() - self._start >= self.budget:
            error = sys.exc_info()[1]  # Retry calls this while handling the failure
            if error is not None:
                raise error
            raise ConnectionError(f"no Redis primary answered for {self.budget:g} s")
        pause: float = min(self.cap, self.base * 2 ** min(failures, 32))
        return pause / 2 + random.uniform(0, pause / 2)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FailoverBackoff) and (
            (self.budget, self.base, self.cap) == (other.budget, other.base, other.cap)
        )

    def __hash__(self) -> int:
        return hash((FailoverBackoff, self.budget, self.base, self.cap))


def failover_retry(budget: float = FAILOVER_BUDGET, *, asyncio: bool = False) -> Any:
    """A redis-py ``Retry`` that rides out a primary failover for ``budget`` seconds.

    It retries connection errors and timeouts (a Sentinel client turns a READONLY reply from
    a demoted primary into a connection error and re-discovers the primary). Sentinel URLs
    use it by default; pass ``retry=failover_retry()`` (``asyncio=True`` for the asyncio
    store) to ``from_url`` to give any other client the same policy. Re-sending a store call
    is safe: every script is idempotent or checks the manifest's generation.
    """
    if budget <= 0:
        raise InvalidInputError("the failover budget must be positive")
    backoff = FailoverBackoff(budget)
    # Attempts are bounded by time; the count only stops a server that accepts connections
    # and then drops every call (the pause is at least 1/4 of the cap after a few failures).
    retries = int(budget / (backoff.cap / 4)) + 8
    errors = (ConnectionError, TimeoutError)
    if asyncio:
        return redis.asyncio.retry.Retry(backoff, retries, errors)
    return redis.retry.Retry(backoff, retries, errors)


__all__ = [
    "FAILOVER_BUDGET",
    "SCHEMES",
    "FailoverBackoff",
    "ParsedUrl",
    "client_from_url",
    "failover_retry",
    "is_cluster_client",
    "parse",
]
