"""How the multi-key methods run on each deployment, behind one small protocol.

On one server (standalone or Sentinel) a write is one Lua script over all its keys
(:mod:`.single`); on a Redis Cluster a script may touch only one slot, so the
same methods run as ordered, idempotent per-slot steps (:mod:`.cluster`). The store
chooses one when it is built; the core (:mod:`redis_store.store.core`) validates, encodes and
decodes, and hands the Redis work to it. Both receive the key layout, never the core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis_store.cache.entries import Fence
from redis_store.store.calls import Batch, Op

#: A package artifact as the scripts take it: source value, package value, artifact tail
#: (JSON ``[package_db, repository_hint]``), filepath.
PackageValues = tuple[bytes, bytes, bytes, bytes]
#: What ``manifests_of`` answers: members per bucket, the manifest IDs among them (first
#: appearance), and their digests (None for a manifest deleted meanwhile).
BucketMembers = tuple[list[list[bytes]], list[bytes], list[bytes | None]]


#: An entity as stored: its ID and its value.
Stored = tuple[bytes, bytes]


@dataclass(slots=True)
class ImportPlan:
    """What an import learns before it writes (``import_plan``)."""

    #: The scanner registry's epoch, and the scanners' IDs (registered if they were not).
    epoch: str
    scanner_ids: list[bytes]
    #: The manifest counter: a new manifest's ID will be above it.
    manifest_counter: int
    #: kind -> identity hash -> (ID, stored value), for the entities the store holds.
    found: dict[str, dict[bytes, Stored]]
    #: kind -> IDs reserved for the entities it does not hold.
    reserved: dict[str, list[bytes]]
    #: The manifest's plan (``manifest_plan``'s answer; empty for a new manifest).
    manifest: list[Any]
    #: The stored report, encoded (None: none).
    report: bytes | None


@dataclass(slots=True)
class ImportWrite:
    """Everything an import writes, with IDs (``import_report.lua``)."""

    digest: str
    #: The manifest's generation as planned (empty: a manifest that does not exist yet).
    planned: bytes | str
    #: The manifest's reverse-index bucket (for a new one: where the next ID falls).
    bucket: int
    #: The manifest lock's token this store holds ('' none: then nobody may hold it).
    token: str
    #: The scanner IDs' epoch.
    epoch: str
    blob: bytes
    layers: list[str]
    #: The manifest's index records ("pid:did:rid" -> package name), and those it had.
    records: dict[str, str]
    old_records: dict[str, str]
    #: Every scanner's ID: marked on the manifest and on each layer.
    scanner_ids: list[bytes]
    #: kind -> (ID, value, how) of each entity the import names: how is ``=`` for one
    #: found stored, ``+`` for one given an ID reserved for it.
    entities: dict[str, list[tuple[bytes, bytes, str]]]
    #: layer -> artifacts (package, distribution, repository), in append order.
    artifacts: dict[str, tuple[list[bytes], list[bytes], list[bytes]]]
    #: Whether the import saw no report stored (a report stored since means: plan again).
    expect_no_report: bool
    #: Whether the plan read the manifest under the lock the import holds (then it has
    #: not changed since, and need not be read again).
    fresh_plan: bool = False
    #: Whether the write releases the manifest's lock (the import took it for itself).
    release_lock: bool = False


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

    def import_plan(
        self, digest: str, scanners: list[bytes], missing: dict[str, list[bytes]], token: str
    ) -> Op[ImportPlan | None]:
        """Register the scanners, look up the entities ``missing`` names (kind -> identity
        hashes) and reserve IDs for those the store does not hold; read the manifest. None,
        with nothing written, when another than ``token`` ('' none) holds its lock."""
        ...

    def import_write(self, write: ImportWrite) -> Op[list[Any]]:
        """Write an import whole: ``[b"OK", manifest ID]``, ``[b"RETRY", why, counter]`` or
        ``[b"LOCKED"]``."""
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


__all__ = [
    "MAX_RETRIES",
    "BucketMembers",
    "ImportPlan",
    "ImportWrite",
    "PackageValues",
    "Steps",
    "Stored",
]
