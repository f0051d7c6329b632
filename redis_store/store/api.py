"""The Store protocols: what code written against redis-store may rely on, for type hints.

``Store`` is claircore's indexer ``Store`` as :class:`~redis_store.RedisStore` offers it;
``AsyncStore`` the same awaited, as :class:`~redis_store.AsyncRedisStore` offers it. Annotate
with them (``def index(store: Store) -> None``) to accept either this package's stores or a
test double with the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from redis_store.matchers import Matcher
from redis_store.models import (
    AffectedManifests,
    Digest,
    Distribution,
    File,
    IndexReport,
    Layer,
    Manifest,
    Package,
    Repository,
    Scanner,
    Vulnerability,
)

LayerRef = Layer | Digest | str


class Store(Protocol):
    """claircore's indexer Store, blocking (:class:`~redis_store.RedisStore`)."""

    def register_scanners(self, scanners: Iterable[Scanner]) -> None: ...
    def persist_manifest(self, manifest: Manifest) -> None: ...
    def delete_manifests(self, *digests: Digest | str) -> list[Digest]: ...
    def set_layer_scanned(self, layer: LayerRef, scanner: Scanner) -> None: ...
    def layer_scanned(self, layer: LayerRef, scanner: Scanner) -> bool: ...
    def set_index_report(self, report: IndexReport) -> None: ...
    def set_index_finished(self, report: IndexReport, scanners: Iterable[Scanner]) -> None: ...
    def manifest_scanned(self, manifest: Digest | str, scanners: Iterable[Scanner]) -> bool: ...
    def index_packages(
        self, packages: Iterable[Package], layer: LayerRef, scanner: Scanner
    ) -> None: ...
    def index_distributions(
        self, distributions: Iterable[Distribution], layer: LayerRef, scanner: Scanner
    ) -> None: ...
    def index_repositories(
        self, repositories: Iterable[Repository], layer: LayerRef, scanner: Scanner
    ) -> None: ...
    def index_files(self, files: Iterable[File], layer: LayerRef, scanner: Scanner) -> None: ...
    def packages_by_layer(self, layer: LayerRef, scanners: Iterable[Scanner]) -> list[Package]: ...
    def distributions_by_layer(
        self, layer: LayerRef, scanners: Iterable[Scanner]
    ) -> list[Distribution]: ...
    def repositories_by_layer(
        self, layer: LayerRef, scanners: Iterable[Scanner]
    ) -> list[Repository]: ...
    def files_by_layer(self, layer: LayerRef, scanners: Iterable[Scanner]) -> list[File]: ...
    def index_manifest(self, report: IndexReport) -> None: ...
    def index_report(self, manifest: Digest | str) -> IndexReport | None: ...
    def affected_manifests(
        self,
        vulnerability: Vulnerability,
        *,
        matchers: Sequence[Matcher] | None = None,
        strict: bool = False,
    ) -> list[Digest]: ...
    def affected_manifests_batch(
        self,
        vulnerabilities: Iterable[Vulnerability],
        *,
        matchers: Sequence[Matcher] | None = None,
        strict: bool = False,
    ) -> AffectedManifests: ...
    def manifest_lock(
        self, manifest: Digest | str, *, blocking: bool = True, timeout: float | None = None
    ) -> AbstractContextManager[Any]: ...
    def close(self) -> None: ...


class AsyncStore(Protocol):
    """claircore's indexer Store, awaited (:class:`~redis_store.AsyncRedisStore`)."""

    async def register_scanners(self, scanners: Iterable[Scanner]) -> None: ...
    async def persist_manifest(self, manifest: Manifest) -> None: ...
    async def delete_manifests(self, *digests: Digest | str) -> list[Digest]: ...
    async def set_layer_scanned(self, layer: LayerRef, scanner: Scanner) -> None: ...
    async def layer_scanned(self, layer: LayerRef, scanner: Scanner) -> bool: ...
    async def set_index_report(self, report: IndexReport) -> None: ...
    async def set_index_finished(
        self, report: IndexReport, scanners: Iterable[Scanner]
    ) -> None: ...
    async def manifest_scanned(
        self, manifest: Digest | str, scanners: Iterable[Scanner]
    ) -> bool: ...
    async def index_packages(
        self, packages: Iterable[Package], layer: LayerRef, scanner: Scanner
    ) -> None: ...
    async def index_distributions(
        self, distributions: Iterable[Distribution], layer: LayerRef, scanner: Scanner
    ) -> None: ...
    async def index_repositories(
        self, repositories: Iterable[Repository], layer: LayerRef, scanner: Scanner
    ) -> None: ...
    async def index_files(
        self, files: Iterable[File], layer: LayerRef, scanner: Scanner
    ) -> None: ...
    async def packages_by_layer(
        self, layer: LayerRef, scanners: Iterable[Scanner]
    ) -> list[Package]: ...
    async def distributions_by_layer(
        self, layer: LayerRef, scanners: Iterable[Scanner]
    ) -> list[Distribution]: ...
    async def repositories_by_layer(
        self, layer: LayerRef, scanners: Iterable[Scanner]
    ) -> list[Repository]: ...
    async def files_by_layer(self, layer: LayerRef, scanners: Iterable[Scanner]) -> list[File]: ...
    async def index_manifest(self, report: IndexReport) -> None: ...
    async def index_report(self, manifest: Digest | str) -> IndexReport | None: ...
    async def affected_manifests(
        self,
        vulnerability: Vulnerability,
        *,
        matchers: Sequence[Matcher] | None = None,
        strict: bool = False,
    ) -> list[Digest]: ...
    async def affected_manifests_batch(
        self,
        vulnerabilities: Iterable[Vulnerability],
        *,
        matchers: Sequence[Matcher] | None = None,
        strict: bool = False,
    ) -> AffectedManifests: ...
    def manifest_lock(
        self, manifest: Digest | str, *, blocking: bool = True, timeout: float | None = None
    ) -> AbstractAsyncContextManager[Any]: ...
    async def close(self) -> None: ...


__all__ = ["AsyncStore", "LayerRef", "Store"]

if TYPE_CHECKING:  # mypy checks that the package's stores satisfy their protocols
    from redis_store.store.aio import AsyncRedisStore
    from redis_store.store.sync import RedisStore

    def _conforms(store: RedisStore, astore: AsyncRedisStore) -> tuple[Store, AsyncStore]:
        return store, astore
