"""Redis ACL rules for a store user and an ops user, restricted to one namespace.

The store sends ``EVALSHA`` (every write is a script), ``SCRIPT LOAD`` (after a restart or
failover empties the script cache), a few plain reads and, with ``wait_replicas``, ``WAIT``
(:data:`CLIENT_COMMANDS`; a test keeps it equal to what ``redis_store/store`` sends). Redis
checks every ``redis.call`` a script makes against the caller's ACL too, so the user also
needs the commands the scripts run (:data:`SCRIPT_COMMANDS`, kept equal to what
``redis_store/scripts/*.lua`` call by a test), and key access to the namespace: every key is
``<namespace>:{...`` (``ns:{g}:seq``, ``ns:{m:sha256:...}``), so ``~<namespace>:{*`` covers
the standalone and the Redis Cluster layouts alike, and no other namespace's keys.

The ops functions (:mod:`redis_store.ops`: fsck, repair, gc, expire, stats, inspection) read
and fix keys directly and need :data:`OPS_COMMANDS` on top. ``SCAN`` and ``INFO`` cannot be
restricted to a key pattern: an ops user can list every key name on the server (``SCAN``
returns names, not values) and read server statistics.

>>> setuser_command("indexer", "secret", "claircore")  # doctest: +ELLIPSIS
['ACL', 'SETUSER', 'indexer', 'reset', 'on', '>secret', '~claircore:{*', 'resetchannels', ...]
"""

from __future__ import annotations

from typing import Final

#: What the store sends itself: scripts, their reload, WAIT (``wait_replicas``), the plain
#: reads (scanner IDs, scanned markers, reports) that need no script, and what the local
#: cache needs: its listeners' RESP3 handshake and ID, and tracking of the reads it keeps.
CLIENT_COMMANDS: Final = (
    "evalsha",
    "script|load",
    "wait",
    "hmget",
    "sismember",
    "smismember",
    "get",
    "hello",
    "client|id",
    "client|tracking",
    "client|caching",
)
#: What the Lua scripts call (``redis.call``), checked against the caller's ACL.
SCRIPT_COMMANDS: Final = (
    "del",
    "exists",
    "get",
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hlen",
    "hmget",
    "hset",
    "hsetnx",
    "lrange",
    "pexpire",
    "rpush",
    "sadd",
    "scard",
    "set",
    "smembers",
    "srem",
    "time",
)
#: The store user: every Store method, locks and AffectedManifests.
STORE_COMMANDS: Final = CLIENT_COMMANDS + SCRIPT_COMMANDS
#: Added on a Redis Cluster (measured): redis-py's cluster client reads the slot map
#: (``CLUSTER SLOTS``, again after a MOVED reply) and the command table (``COMMAND``).
CLUSTER_COMMANDS: Final = ("cluster|slots", "command")
#: Added for the ops user (measured: each is needed by some ops function): SCAN-based reads
#: of the namespace, report sizes, ``store_stats`` memory estimates (``MEMORY USAGE``; without
#: it they read as unknown) and the command line's server memory figure (``INFO``). Repair and
#: gc write through the store's scripts and the script commands.
OPS_COMMANDS: Final = (
    "scan",
    "hscan",
    "strlen",
    "memory|usage",
    "info",
)


def rules(namespace: str, *, ops: bool = False, cluster: bool = False) -> list[str]:
    """The ACL rules (``ACL SETUSER`` arguments after the password) for ``namespace``.

    No channels, no other keys, no command outside the lists: ``-@all`` first. On a Redis
    Cluster (``cluster=True``) set the user on every node.
    """
    if not namespace or any(c in namespace for c in " *?[]\\"):
        raise ValueError(f"namespace {namespace!r} cannot be used in a key pattern")
    commands = (
        STORE_COMMANDS + (OPS_COMMANDS if ops else ()) + (CLUSTER_COMMANDS if cluster else ())
    )
    # the namespace's keys and no other namespace's (KeyLayout.match_pattern): not ~ns:*,
    # which would also reach a namespace "ns:other"
    keys = f"~{namespace}:{{*"
    return [keys, "resetchannels", "-@all", *(f"+{c}" for c in commands)]


def setuser_command(
    user: str, password: str, namespace: str, *, ops: bool = False, cluster: bool = False
) -> list[str]:
    """``ACL SETUSER`` for a user of ``namespace`` (``reset`` first: exactly these rights).

    Send it as is (``client.execute_command(*setuser_command(...))``), or join it with
    spaces for ``redis-cli`` or an ``aclfile`` line (``user <name> ...`` there).
    """
    head = ["ACL", "SETUSER", user, "reset", "on", f">{password}"]
    return [*head, *rules(namespace, ops=ops, cluster=cluster)]


__all__ = [
    "CLIENT_COMMANDS",
    "CLUSTER_COMMANDS",
    "OPS_COMMANDS",
    "SCRIPT_COMMANDS",
    "STORE_COMMANDS",
    "rules",
    "setuser_command",
]
