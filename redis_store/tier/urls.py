"""An origin named by its URL, as the command line and ``from_url`` name them."""

from __future__ import annotations

from collections.abc import Callable

from redis_store.errors import InvalidInputError
from redis_store.tier.http import ClairIndexerOrigin
from redis_store.tier.origins import Origin
from redis_store.tier.postgres import SCHEMES, ClairDatabaseOrigin


def origin_from_url(
    url: str,
    *,
    timeout: float = 10.0,
    token: str | Callable[[], str] | None = None,
    ca_file: str | None = None,
) -> Origin:
    """``clair+postgresql://…`` (or ``postgresql://…``): Clair's database;
    ``http(s)://…``: Clair's indexer API (``token`` and ``ca_file`` apply to it)."""
    if url.startswith(SCHEMES):
        return ClairDatabaseOrigin(url, timeout=timeout)
    if url.startswith(("http://", "https://")):
        return ClairIndexerOrigin(url, timeout=timeout, token=token, ca_file=ca_file)
    shown = url.split("://")[0] + "://…" if "://" in url else url
    raise InvalidInputError(
        f"origin: {shown!r} is neither a clair+postgresql:// nor an http(s):// URL"
    )


__all__ = ["origin_from_url"]
