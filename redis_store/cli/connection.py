"""The one way a command opens its store from ``--url`` and ``--namespace``.

Every command goes through :func:`open_store`, so a malformed URL gets the same clean error
everywhere and a password never reaches the terminal. The store is checked with one round
trip before the command starts: a misconfiguration (a database that does not exist, a
cluster URL for a standalone server, a port that is not Redis, a refused password) is one
line and exit status 2 before anything is done (:mod:`redis_store.diagnose`).
"""

from __future__ import annotations

import argparse
import os

from redis_store.cli.errors import CommandError, Misconfigured
from redis_store.diagnose import diagnose, redact
from redis_store.store import RedisStore

#: Where the ops commands look for Redis without --url or $REDIS_URL.
DEFAULT_URL = "redis://localhost:6379/0"
#: What a store without a URL is shown as (the demo's default).
IN_PROCESS = "fakeredis (in-process)"


def store_url(args: argparse.Namespace) -> str | None:
    """The URL a command works on: --url; without it $REDIS_URL, else :data:`DEFAULT_URL`,
    or for a command whose default is in-process (``args.in_process``: the demo), None."""
    url: str | None = args.url or os.environ.get("REDIS_URL") or None
    if url is None and not args.in_process:
        return DEFAULT_URL
    return url


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
        store = RedisStore.from_url(url, namespace=namespace)
    except ValueError as e:  # a malformed URL (ours or redis-py's verdict)
        raise Misconfigured(f"bad --url {redact(url)!r}: {e}") from None
    except Exception as e:  # a cluster client asks its nodes for the slot map right away
        raise explained(e, url) from None
    try:  # a command every ACL user of the store may send (PING is not among them)
        store.client.exists(store.keys.scanners)
    except Exception as e:
        store.close()
        raise explained(e, url) from None
    return store


def explained(error: BaseException, url: str) -> BaseException:
    """The command-line error for a failure to reach or use Redis at ``url``: exit 2 for a
    misconfiguration, 1 for a server out of reach; the error itself when it is neither."""
    found = diagnose(error, url)
    if found is None:
        return error
    return (Misconfigured if found.misconfigured else CommandError)(found.message)


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
