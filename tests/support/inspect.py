"""Read the store's keys directly, to check invariants the API does not show."""

from __future__ import annotations

from typing import Any

from redis_store.keys import KeyLayout


def all_keys(client: Any, namespace: str = "test") -> set[str]:
    pattern = KeyLayout(namespace).match_pattern()
    return {k.decode() for k in client.scan_iter(match=pattern, count=1000)}


def reverse_index(client: Any, namespace: str = "test") -> dict[str, set[str]]:
    """name -> digests of the manifests the reverse index lists for that package name."""
    k = KeyLayout(namespace)
    digests = {mid.decode(): d.decode() for mid, d in client.hgetall(k.manifests).items()}
    out: dict[str, set[str]] = {}
    for key in all_keys(client, namespace):
        if not key.startswith(f"{namespace}:{{n:") or "}:" in key:
            continue
        name = key[len(namespace) + 4 : -1]
        for rec, buckets in client.hgetall(key).items():
            for b in buckets.decode().split(","):
                for mid in client.smembers(k.bucket(name, rec.decode(), int(b))):
                    out.setdefault(name, set()).add(digests[mid.decode()])
    return out


def snapshot(client: Any, namespace: str = "test") -> dict[str, Any]:
    """Every key of the namespace with its value, to prove nothing was written.

    Values are compared logically (a hash as a dict, a set as a set): a hash table's
    iteration order can change on reads, while it rehashes, with no write at all.
    """
    read = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"set": client.smembers,
        b"list": lambda k: client.lrange(k, 0, -1),
    }
    out: dict[str, Any] = {}
    for key in sorted(all_keys(client, namespace)):
        kind = client.type(key)
        out[key] = (kind, read[kind if isinstance(kind, bytes) else kind.encode()](key))
    return out
