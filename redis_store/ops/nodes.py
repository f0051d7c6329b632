"""The servers behind a client: one Redis server, or each primary of a Redis Cluster.

Most of what the ops read goes by key and needs no more than the client: a cluster client
routes each command (and each command of a pipeline) to the key's primary, ``SCAN`` visits
every primary, and ``TIME`` may come from any node. Server-wide numbers are different: a
cluster client sends ``INFO`` to one node of its choosing. These helpers ask every primary
(replicas hold copies) and say which one answered.
"""

from __future__ import annotations

from typing import Any

from redis_store.store.connect import is_cluster_client


def primaries(client: Any) -> list[tuple[str, Any]]:
    """``(host:port, client of that node alone)`` for every primary; for a single server,
    the client itself. Takes a blocking client (redis-py, fakeredis)."""
    if is_cluster_client(client):
        return [(n.name, client.get_redis_connection(n)) for n in client.get_primaries()]
    kwargs = client.get_connection_kwargs()
    where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
    return [(str(where), client)]


def used_memory(client: Any) -> dict[str, int]:
    """``INFO memory`` ``used_memory`` of every primary, by ``host:port``."""
    return {name: int(node.info("memory")["used_memory"]) for name, node in primaries(client)}


def memory_floor(client: Any) -> int:
    """``used_memory_startup`` summed over the primaries: what the servers use holding no
    data at all, below which no budget can be met."""
    return sum(int(node.info("memory")["used_memory_startup"]) for _, node in primaries(client))


__all__ = ["memory_floor", "primaries", "used_memory"]
