"""How the multi-key methods run on each deployment, behind one small protocol.

On one server (standalone or Sentinel) a write is one Lua script over all its keys
(:mod:`.single`); on a Redis Cluster a script may touch only one slot, so the
same methods run as ordered, idempotent per-slot steps (:mod:`.cluster`). The store
chooses one when it is built; the core (:mod:`redis_store.store.core`) validates, encodes and
decodes, and hands the Redis work to it. Both receive the key layout, never the core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from redis_store.cache.entries import Fence
from redis_store.store.calls import Batch, Op

#: A package artifact as the scripts take it: source value, package value, artifact tail
#: (JSON ``[package_db, repository_hint]``), filepath.
PackageValues = tuple[bytes, bytes, bytes, bytes]
#: What ``manifests_of`` answers: members per bucket, the manifest IDs among them (first
#: appearance), and their digests (None for a manifest deleted meanwhile).
BucketMembers = tuple[list[list[bytes]], list[bytes], list[bytes | None]]


class Steps(Protocol):
    """The Redis work of the methods whose keys span slots."""

    #: Whether one script may name keys of several slots (one server): a write taking
    #: scanner IDs then checks the registry's epoch in the same script.
    scripts_span_slots: bool

    def forget(self) -> None:
        """Drop what was remembered from the server (it lost its data)."""
        ...

    def persist_manifest(self, digest: str, layers: list[str]) -> Op[None]:
        """Create the manifest if needed and link its (distinct) layers."""
        ...

    def index_packages(
        self, layer: str, scanner_id: bytes, epoch: str, packages: list[PackageValues]
    ) -> Op[None]:
        """Upsert packages and append their artifacts to the layer (``epoch``: that of the
        scanner ID, checked where the script can, or '')."""
        ...

    def index_entities(
        self, kind: str, layer: str, scanner_id: bytes, epoch: str, values: list[bytes]
    ) -> Op[None]:
        """Upsert distributions, repositories or files and append their artifacts."""
        ...

    def by_layer(
        self, kind: str, layer: str, scanner_ids: list[bytes], fence: Fence | None, extra: Batch
    ) -> Op[tuple[list[bytes], dict[bytes, bytes], list[Any]]]:
        """The layer's artifacts of those scanners, the values of the entities they name, and
        the replies of ``extra`` (sent with the first read). The read of the artifact list
        carries ``fence``: the cache may keep the answer."""
        ...

    def index_manifest(self, digest: str, rows: dict[str, str], lock_token: str | None) -> Op[None]:
        """Replace the manifest's index records (``"pid:did:rid"`` -> package name);
        ``lock_token`` is the manifest lock this store holds, if any."""
        ...

    def delete_manifests(
        self, digests: Sequence[str], lock_tokens: Mapping[str, str]
    ) -> Op[list[str]]:
        """Delete the manifests not locked by another owner; returns those deleted."""
        ...

    def affected_candidates(self, names: list[str]) -> Op[list[Any]]:
        """Every record of the package names with the entities they reference
        (the reply of ``affected_candidates.lua``)."""
        ...

    def manifests_of(self, buckets: list[str]) -> Op[BucketMembers]:
        """The live manifests in reverse-index buckets."""
        ...


#: How often a write that raced with another writer of the same manifest is retried.
MAX_RETRIES = 32


__all__ = ["MAX_RETRIES", "BucketMembers", "PackageValues", "Steps"]
