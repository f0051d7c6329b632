"""What a failure to talk to Redis means, in an operator's words: one line, no password.

redis-py reports a misconfiguration the way it meets it: ``DB index is out of range``, a
cluster client's ``Please provide at least one reachable node: Cluster mode is not
enabled``, a Sentinel client's ``No master found`` followed by the repr of its connection
pool, ``Protocol error, got "<"`` from an HTTP server, ``Connection closed by server`` from a
PostgreSQL one, an authentication failure as a connection error. :func:`diagnose` turns
those into a sentence naming the address and what to change, and says whether the URL or
the server's setup is wrong (:attr:`Diagnosis.misconfigured`: running again will not help)
or the server could not be reached (it may come back). When the server closed the
connection or answered something that is not Redis, it looks at what is listening there
(:func:`probe`: one PING; for a silent server, PostgreSQL's SSLRequest).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from redis.sentinel import MasterNotFoundError

from redis_store.errors import InvalidInputError, SentinelSetupError
from redis_store.probe import probe
from redis_store.store.connect import parse


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong, for an operator."""

    #: One line, naming the address (never the password) and, where known, the fix.
    message: str
    #: The URL or the server's setup is wrong (retrying will not help), rather than the
    #: server being out of reach.
    misconfigured: bool


def redact(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{hosts}{slash}{path}"


def _addresses(url: str) -> list[tuple[str, int]]:
    """The (host, port) pairs a URL names (none for a Unix socket or a bad URL)."""
    try:
        parsed = parse(url)
    except InvalidInputError:
        return []
    if parsed.hosts:
        return parsed.hosts
    host, port = parsed.options.get("host"), parsed.options.get("port", 6379)
    return [] if host is None else [(str(host), int(port))]


def _where(url: str) -> str:
    hosts = _addresses(url)
    return ",".join(f"{h}:{p}" for h, p in hosts) or redact(url)


def _messages(error: BaseException) -> str:
    """The error's message and those of its causes, in one string to search."""
    out: list[str] = []
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        out.append(f"{type(e).__name__}: {e}")
        e = e.__cause__ or e.__context__
    return " | ".join(out)


def _not_redis(url: str) -> Diagnosis | None:
    """The server at the URL's address(es) is not Redis: say what it is."""
    for host, port in _addresses(url):
        what = probe(host, port)
        if what is not None and what != "redis":
            return Diagnosis(
                f"{host}:{port} does not speak the Redis protocol: it is {what}; check the"
                " URL's host and port",
                True,
            )
    return None


_AUTH_REFUSED = (
    "WRONGPASS",
    "invalid username-password pair",
    "invalid password",
    "AuthenticationError",
)
_AUTH_MISSING = (
    "NOAUTH",
    "Authentication required",
    "HELLO must be called with the client already authenticated",
)


def diagnose(error: BaseException, url: str) -> Diagnosis | None:
    """The operator's reading of ``error``, raised while using a store on ``url``; None
    when it is not about reaching or configuring Redis."""
    text = _messages(error)
    where = _where(url)
    shown = redact(url)
    if isinstance(error, InvalidInputError) and "Redis URL" in str(error):
        return Diagnosis(str(error), True)
    setup = _in_chain(error, SentinelSetupError)
    if setup is not None:  # the sentinels said why; a port that is not Redis says what it is
        return _not_redis(url) or Diagnosis(str(setup), True)
    if _in_chain(error, MasterNotFoundError) is not None:
        return _no_primary(url, where)
    if "AUTH <password> called without any password configured" in text:
        return Diagnosis(
            f"{where}: the URL gives a password, but the server has none set (requirepass)", True
        )
    if any(s in text for s in _AUTH_MISSING):
        return Diagnosis(
            f"{where}: the server requires authentication and the URL gives no password"
            " (redis://[user]:password@host:port/db)",
            True,
        )
    if any(s in text for s in _AUTH_REFUSED):
        return Diagnosis(
            f"{where}: authentication failed: the server refused the URL's user or password",
            True,
        )
    if "NOPERM" in text or "NoPermissionError" in text:
        return Diagnosis(
            f"{where}: the user may not run a command the store needs: {error}"
            " (redis_store.acl lists them)",
            True,
        )
    if "DB index is out of range" in text:
        db = _db(url)
        return Diagnosis(
            f"{shown}: the server has no database {db} (a Redis server has 16 by default,"
            " 0 to 15: `databases` in its configuration)",
            True,
        )
    if "Cluster mode is not enabled" in text:
        host = where.split(",")[0]
        return Diagnosis(
            f"{where}: a redis+cluster:// URL, but the server is not in cluster mode"
            f" (cluster-enabled no): use redis://{host}/0 for a standalone server",
            True,
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return Diagnosis(f"{where}: TLS: the server's certificate was not trusted: {error}", True)
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return Diagnosis(
            f"{where}: TLS handshake failed: the port does not speak TLS (rediss:// speaks"
            " TLS, redis:// does not)",
            True,
        )
    if "Protocol error" in text or "InvalidResponse" in text or "closed by server" in text:
        found = _not_redis(url)
        if found is not None:
            return found
    if "Timeout" in text or "closed" in text or "reset" in text:
        found = _plain_for_tls(url)
        if found is not None:
            return found
    if any(
        s in text
        for s in ("ConnectionError", "TimeoutError", "Connection refused", "Timeout", "closed")
    ):
        return Diagnosis(f"cannot reach Redis at {where}: {_first_line(error)}", False)
    if "RedisClusterException" in text:
        return Diagnosis(f"{where}: {_first_line(error)}", False)
    return None


def _in_chain(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``error`` or the first of its causes that is a ``kind``."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        if isinstance(e, kind):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _no_primary(url: str, where: str) -> Diagnosis:
    """A Sentinel client found no primary, and the sentinels did not say the setup is wrong
    (that raises SentinelSetupError): some are out of reach, or the primary they name is
    down. Either may pass."""
    found = _not_redis(url)
    if found is not None:
        return found
    why = "; ".join(f"{h}:{p}: {r}" for h, p in _addresses(url) if (r := _unreachable(h, p)))
    if why:
        return Diagnosis(f"cannot reach a sentinel at {where}: {why}", False)
    service = _service(url)
    return Diagnosis(
        f"{where}: the sentinels know no primary of {service!r} that is up (down, or being"
        " failed over)",
        False,
    )


def _service(url: str) -> str:
    try:
        return parse(url).service
    except InvalidInputError:
        return "?"


def _unreachable(host: str, port: int, timeout: float = 1.0) -> str:
    """Why ``host:port`` takes no connection ("" when it does)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except OSError as e:
        return e.strerror or type(e).__name__


def _plain_for_tls(url: str) -> Diagnosis | None:
    """A TLS URL whose port speaks plain Redis (the TLS handshake goes unanswered)."""
    if not url.lower().startswith("rediss"):
        return None
    for host, port in _addresses(url):
        if probe(host, port) == "redis":
            return Diagnosis(
                f"{host}:{port} speaks plain Redis, not TLS: use redis:// rather than rediss://"
                " (or the server's TLS port)",
                True,
            )
    return None


def _db(url: str) -> str:
    try:
        return str(parse(url).options.get("db", 0))
    except InvalidInputError:
        return "?"


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


__all__ = ["Diagnosis", "diagnose", "probe", "redact"]
