"""Clair's PostgreSQL database as an origin, read-only, through claircore's own schema.

claircore keeps a manifest's finished report in ``indexreport.scan_result`` (JSONB, the
report in its wire format), keyed by ``manifest.id``; ``manifest.hash`` is the digest. Needs
psycopg (the ``postgres`` extra).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from redis_store.errors import InvalidInputError, OriginError
from redis_store.models import Digest
from redis_store.options import seconds
from redis_store.tier.diagnose import postgres_failure

#: The report of one manifest, as text (what Clair's API would serve).
REPORT = (
    "SELECT ir.scan_result::text FROM indexreport ir"
    " JOIN manifest m ON m.id = ir.manifest_id WHERE m.hash = %s"
)
#: Every manifest with a finished, successful report, oldest first.
FINISHED = (
    "SELECT m.hash FROM manifest m JOIN indexreport ir ON ir.manifest_id = m.id"
    " WHERE ir.scan_result->>'success' = 'true' ORDER BY m.id"
)
#: What the tables the origin reads must answer (nothing: LIMIT 0) for it to be Clair's.
CHECK = (
    "SELECT m.hash, ir.scan_result FROM manifest m"
    " JOIN indexreport ir ON ir.manifest_id = m.id LIMIT 0"
)
#: Accepted URL schemes (``clair+`` marks the URL as an origin's on the command line).
SCHEMES = ("clair+postgresql://", "clair+postgres://", "postgresql://", "postgres://")


class ClairDatabaseOrigin:
    """Reports read from a Clair indexer's PostgreSQL database.

    Each thread gets its own read-only connection (``default_transaction_read_only``),
    opened on first use; ``timeout`` bounds connecting and every statement.
    """

    def __init__(self, dsn: str, *, timeout: float = 10.0) -> None:
        if not isinstance(dsn, str) or not dsn.startswith(SCHEMES):
            shown = dsn.split("@")[-1] if isinstance(dsn, str) else type(dsn).__name__
            raise InvalidInputError(f"origin: expected a postgresql:// URL, got {shown!r}")
        timeout = seconds(timeout, "origin timeout")
        try:
            import psycopg
            import psycopg.conninfo
        except ImportError as e:  # pragma: no cover - the extra is part of the test install
            raise InvalidInputError(
                "a PostgreSQL origin needs psycopg: pip install 'redis-store[postgres]'"
            ) from e
        self._psycopg: Any = psycopg
        self.dsn = dsn.removeprefix("clair+")
        self.name = "postgresql://" + self.dsn.split("://", 1)[1].rpartition("@")[2]
        self.timeout = float(timeout)
        self._local = threading.local()
        self._opened: list[Any] = []
        self._guard = threading.Lock()

    def _connect(self) -> Any:
        ms = int(self.timeout * 1000)
        return self._psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=max(1, round(self.timeout)),
            options=f"-c default_transaction_read_only=on -c statement_timeout={ms}",
        )

    def _connection(self) -> Any:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        conn = self._connect()
        self._local.conn = conn
        with self._guard:
            self._opened.append(conn)
        return conn

    def _failed(self, e: Exception, digest: str = "") -> OriginError:
        self._drop()
        params = self._psycopg.conninfo.conninfo_to_dict(self.dsn)
        return postgres_failure(e, self.name, params, self.timeout, digest)

    def check(self) -> None:
        """Connect and look for claircore's tables: an :class:`OriginError` saying what is
        wrong (``misconfigured`` when it is the URL or the database) before any work."""
        try:
            self._connection().execute(CHECK).fetchall()
        except self._psycopg.Error as e:
            raise self._failed(e) from e

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.close()

    def fetch(self, digest: str) -> bytes | None:
        try:
            row = self._connection().execute(REPORT, (digest,)).fetchone()
        except self._psycopg.Error as e:
            raise self._failed(e, digest) from e
        if row is None or row[0] is None:
            return None
        text: str = row[0]
        return text.encode()

    def digests(self) -> Iterator[Digest]:
        """Read on a connection of its own, through a server-side cursor (a large
        database's listing is not held in memory)."""
        try:
            conn = self._connect()
        except self._psycopg.Error as e:
            raise self._failed(e) from e
        try:
            with conn.transaction(), conn.cursor(name="redis_store_digests") as cur:
                cur.itersize = 1000
                cur.execute(FINISHED)
                for (h,) in cur:
                    yield Digest(h)
        except self._psycopg.Error as e:
            raise self._failed(e) from e
        finally:
            conn.close()

    def close(self) -> None:
        with self._guard:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(Exception):  # already broken
                conn.close()


__all__ = ["ClairDatabaseOrigin"]
