"""Generators mirroring claircore's test helpers (test/package.go and friends)."""

from __future__ import annotations

import hashlib
import os

from redis_store import (
    Digest,
    Distribution,
    Package,
    PackageKind,
    Repository,
    VersionedScanner,
)


def random_digest() -> Digest:
    return Digest("sha256:" + hashlib.sha256(os.urandom(32)).hexdigest())


def digest_of(text: str) -> Digest:
    return Digest("sha256:" + hashlib.sha256(text.encode()).hexdigest())


def unique_packages(n: int) -> list[Package]:
    """n packages with their sources, all distinct."""
    return _packages(n, n)


def duplicate_packages(n: int) -> list[Package]:
    """n artifacts of n/2 distinct packages (package_db and hint differ)."""
    return _packages(n, n // 2)


def _packages(n: int, distinct: int) -> list[Package]:
    out = []
    for i in range(n):
        ii = i % distinct
        out.append(
            Package(
                id=str(ii),
                name=f"package-{ii}",
                version=f"version-{ii}",
                arch=f"arch-{ii}",
                kind=PackageKind.BINARY,
                package_db=f"package-db-{i}",
                repository_hint=f"repository-hint-{i}",
                module=f"module:{ii}",
                source=Package(
                    id=str(n + i),
                    name=f"source-package-{ii}",
                    version=f"source-version-{ii}",
                    arch=f"source-arch-{ii}",
                    kind=PackageKind.SOURCE,
                    module=f"source-module:{ii}",
                ),
            )
        )
    return out


def unique_distributions(n: int) -> list[Distribution]:
    return [
        Distribution(
            id=str(i),
            name=f"distribution-{i}",
            version=f"version-{i}",
            version_code_name=f"version-code-name-{i}",
            did=f"did-{i}",
            version_id=f"version-id-{i}",
            arch=f"arch-{i}",
            cpe=f"cpe:2.3:o:projectquay:clair.test:{i}:*:*:*:*:*:*:*",
            pretty_name=f"pretty-name-{i}",
        )
        for i in range(n)
    ]


def unique_repositories(n: int) -> list[Repository]:
    return [
        Repository(id=str(i), name=f"repository-{i}", key=f"key-{i}", uri=f"uri-{i}")
        for i in range(n)
    ]


def scanners(n: int, kind: str = "package") -> list[VersionedScanner]:
    return [VersionedScanner(f"test-scanner-{i}", f"version-{i}", kind) for i in range(n)]
