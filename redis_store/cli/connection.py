"""The one way a command opens its store from ``--url`` and ``--namespace``.

Every command goes through :func:`open_store`, so a malformed URL gets the same clean error
everywhere and a password never reaches the terminal.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit, urlunsplit

from redis_store.cli.errors import CommandError
from redis_store.store import RedisStore

#: Where the ops commands look for Redis without --url or $REDIS_URL.
DEFAULT_URL = "redis://localhost:6379/0"
#: What a store without a URL is shown as (the demo's default).
IN_PROCESS = "fakeredis (in-process)"


def redact(url: str) -> str:
    """The URL without its password, fit for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def store_url(args: argparse.Namespace) -> str | None:
    """The URL a command works on: --url; without it $REDIS_URL, else :data:`DEFAULT_URL`,
    except for a command whose default is in-process (``args.in_process``: the demo): None."""
    url: str | None = args.url
    if args.in_process:
        return url
    return url or os.environ.get("REDIS_URL") or DEFAULT_URL


def store_label(args: argparse.Namespace) -> str:
    """How to name the command's store in its output: the URL, password redacted."""
    url = store_url(args)
    return IN_PROCESS if url is None else redact(url)


def connect(url: str | None, namespace: str) -> RedisStore:
    """A store on ``url`` (None: a private in-process fakeredis), in ``namespace``.

    A module-level function so that tests can replace it and hand commands a store on an
    in-process fakeredis of their own, which no URL can reach.
    """
    if url is None:
        return _in_process(namespace)
    try:
        return RedisStore.from_url(url, namespace=namespace)
    except ValueError as e:  # redis-py's verdict on a malformed URL
        raise CommandError(f"bad --url {redact(url)!r}: {e}") from None


def open_store(args: argparse.Namespace) -> RedisStore:
    """The store ``args`` name (--url, see :func:`store_url`; --namespace)."""
    return connect(store_url(args), args.namespace)


def _in_process(namespace: str) -> RedisStore:
    try:
        import fakeredis
        import lupa  # noqa: F401 - fakeredis runs the store's Lua scripts with it
    except ImportError:
        raise CommandError(
            "the in-process store needs fakeredis with Lua support: "
            "pip install 'redis-store[fake]', or pass --url redis://HOST:PORT/DB"
        ) from None
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return RedisStore(client, namespace=namespace)
