"""The store's own consistency check (redis_store.ops.check), as strings for assertions."""

from __future__ import annotations

from typing import Any

from redis_store import RedisStore
from redis_store.ops import check


def violations(client: Any, namespace: str = "test") -> list[str]:
    return [f"{v.kind} {v.key}: {v.detail}" for v in check(RedisStore(client, namespace))]
