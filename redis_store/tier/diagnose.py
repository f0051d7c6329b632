"""What a failure to reach or use an origin means, in an operator's words, as for Redis
(:mod:`redis_store.diagnose`): one line naming the origin (never a password), and whether
its URL or setup is wrong (``misconfigured``: running again will not help; the command line
exits 2) or it is out of reach or failing for now (exit 1).

The verdicts follow what the server answered, not a library's wording: PostgreSQL's SQLSTATE
(``42P01``: no such table, so not Clair's indexer database), HTTP status codes, TLS
verification errors. PostgreSQL refuses a connection before psycopg can see a SQLSTATE, so
:func:`pg_startup` asks the server itself: a StartupMessage, whose ErrorResponse carries it
(``28000``: no such role, ``3D000``: no such database), or an authentication request.
"""

from __future__ import annotations

import socket
import ssl
import struct
import urllib.error
from dataclasses import dataclass
from typing import Any

from redis_store.errors import OriginError
from redis_store.probe import PG_SSL_REQUEST, probe

#: SQLSTATEs that mean the URL or the database is wrong, and what to say about them.
PG_MISCONFIGURED = {
    "28000": "the server refused the user",
    "28P01": "password authentication failed",
    "3D000": "no such database",
    "42P01": "not Clair's indexer database: it has no claircore tables",
    "42501": "the user may not read Clair's tables",
    "42703": "not Clair's indexer database: a claircore table lacks a column",
}
#: The tables Clair's indexer keeps its reports in.
CLAIR_TABLES = "manifest, indexreport"


@dataclass(frozen=True)
class Answer:
    """What a PostgreSQL server answered a StartupMessage: an error (its SQLSTATE and
    message), a request for a password, or acceptance."""

    sqlstate: str = ""
    message: str = ""
    wants_password: bool = False


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    if host.startswith("/"):  # a Unix socket directory, as libpq names it
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(f"{host}/.s.PGSQL.{port}")
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((host, port), timeout=timeout)


def speaks_postgresql(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether the server answers PostgreSQL's SSLRequest (one byte, ``S`` or ``N``)."""
    with _connect(host, port, timeout) as sock:
        sock.sendall(PG_SSL_REQUEST)
        try:
            return sock.recv(1) in (b"S", b"N")
        except OSError:
            return False


def pg_startup(host: str, port: int, user: str, database: str, timeout: float) -> Answer | None:
    """Send a PostgreSQL StartupMessage (protocol 3.0) and read the answer; None when the
    server closes or answers something else (it does not speak PostgreSQL)."""
    params = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
    startup = struct.pack("!ii", 8 + len(params), 196608) + params
    with _connect(host, port, timeout) as sock:
        sock.sendall(startup)
        data = b""
        while True:
            while len(data) < 5:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
            kind, size = data[:1], struct.unpack("!i", data[1:5])[0]
            while len(data) < 1 + size:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
            body, data = data[5 : 1 + size], data[1 + size :]
            if kind == b"E":
                fields = dict(
                    (f[:1].decode(), f[1:].decode(errors="replace")) for f in body.split(b"\0") if f
                )
                return Answer(fields.get("C", ""), fields.get("M", ""))
            if kind == b"R":
                (method,) = struct.unpack("!i", body[:4])
                if method != 0:
                    return Answer(wants_password=True)
                continue  # accepted: the role and database are checked next
            if kind in (b"S", b"K", b"N"):  # parameters, key data, notices
                continue
            if kind == b"Z":
                return Answer()
            return None


def postgres_failure(
    error: Exception, origin: str, params: dict[str, Any], timeout: float, digest: str = ""
) -> OriginError:
    """The OriginError for a psycopg error met on Clair's database (``params``: the DSN's
    connection parameters, as psycopg's ``conninfo_to_dict`` gives them)."""
    where = f"{origin}: {digest}" if digest else origin
    state = getattr(error, "sqlstate", None) or ""
    first = _first_line(error)
    if state:
        what = PG_MISCONFIGURED.get(state)
        if what is not None:
            return _error(f"{where}: {what} ({state}: {first})", origin, digest, True)
        return _error(f"{where}: {type(error).__name__} ({state}): {first}", origin, digest, False)
    # no SQLSTATE: the connection itself failed; ask the server what it says
    host = str(params.get("host") or "/var/run/postgresql").split(",")[0]
    port = int(str(params.get("port") or 5432).split(",")[0])
    user = str(params.get("user") or "")
    database = str(params.get("dbname") or user)
    try:
        answer = (
            pg_startup(host, port, user, database, timeout)
            if speaks_postgresql(host, port, min(timeout, 2.0))
            else None
        )
    except OSError as e:
        return _error(f"cannot reach Clair's database at {origin}: {_reason(e)}", origin, digest)
    if answer is None:
        what = None if host.startswith("/") else probe(host, port)
        it = f": it is {what}" if what and what != "a PostgreSQL server" else ""
        return _error(
            f"{origin}: the server there does not speak the PostgreSQL protocol{it}",
            origin,
            digest,
            True,
        )
    if answer.sqlstate:
        what = PG_MISCONFIGURED.get(answer.sqlstate)
        text = f"{answer.sqlstate}: {answer.message}"
        if what is not None:
            return _error(f"{origin}: {what} ({text})", origin, digest, True)
        return _error(f"{origin}: the server refused the connection ({text})", origin, digest)
    if answer.wants_password:
        given = "refused the URL's password" if params.get("password") else "asks for a password"
        return _error(
            f"{origin}: the server {given} (clair+postgresql://USER:PASSWORD@HOST/DB)",
            origin,
            digest,
            True,
        )
    return _error(f"{where}: {type(error).__name__}: {first}", origin, digest)


def http_status(
    status: int, reason: str, origin: str, digest: str = "", *, probe: bool = False
) -> OriginError:
    """The OriginError for an HTTP answer other than 200 (and 404, for a report) from
    Clair's indexer API (``probe``: the check of the API itself, where a 404 means the URL
    is not Clair's indexer)."""
    where = f"{origin}: {digest}" if digest else origin
    code = f"HTTP {status} {reason}"
    if status in (401, 403):
        return _error(
            f"{where}: the indexer refused the request ({code}): check --token"
            " ($CLAIR_TOKEN), a JWT signed with Clair's pre-shared key",
            origin,
            digest,
            True,
        )
    if status == 404 and probe:
        return _error(
            f"{origin}: not Clair's indexer API ({code} for /indexer/api/v1/index_state):"
            " give the URL Clair's indexer serves its API at",
            origin,
            digest,
            True,
        )
    return _error(f"{where}: {code}", origin, digest, 400 <= status < 500)


def http_failure(error: Exception, origin: str, digest: str = "") -> OriginError:
    """The OriginError for a request to Clair's indexer API that got no answer."""
    where = f"{origin}: {digest}" if digest else origin
    reason: Any = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ssl.SSLCertVerificationError):
        return _error(
            f"{where}: TLS: the server's certificate was not trusted ({reason.verify_message}):"
            " --ca-file names the CA that signed it",
            origin,
            digest,
            True,
        )
    if isinstance(reason, ssl.SSLError):
        return _error(
            f"{where}: TLS handshake failed ({reason.reason or reason}): does the port speak"
            " TLS (https://) or not (http://)?",
            origin,
            digest,
            True,
        )
    if isinstance(reason, socket.gaierror):
        return _error(f"{where}: no such host ({reason.strerror})", origin, digest, True)
    if isinstance(reason, OSError):
        return _error(f"cannot reach Clair at {where}: {_reason(reason)}", origin, digest)
    return _error(f"{where}: {type(reason).__name__}: {reason}", origin, digest)


def _error(message: str, origin: str, digest: str, misconfigured: bool = False) -> OriginError:
    return OriginError(message, origin=origin, digest=digest, misconfigured=misconfigured)


def _reason(e: OSError) -> str:
    if isinstance(e, TimeoutError | socket.timeout):
        return "timed out"
    return e.strerror or type(e).__name__


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


__all__ = ["Answer", "http_failure", "http_status", "pg_startup", "postgres_failure"]
