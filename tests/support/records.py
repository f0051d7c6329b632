"""Put arbitrary index records into a store through its public API."""

from __future__ import annotations

from typing import Any

from redis_store import (
    Digest,
    Distribution,
    Environment,
    IndexReport,
    Layer,
    Manifest,
    Package,
    Repository,
    VersionedScanner,
)
from tests.support import gen

SCANNER = VersionedScanner("records", "1", "package")


def index_manifest(
    store: Any,
    rows: list[tuple[Package, Distribution | None, Repository | None]],
    digest: str | None = None,
) -> str:
    """A new manifest (one layer) whose index records are exactly ``rows``."""
    m = Digest(digest) if digest else gen.random_digest()
    layer = gen.random_digest()
    store.register_scanners([SCANNER])
    store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=layer)]))
    packages, dists, repos = {}, {}, {}
    envs: dict[str, list[Environment]] = {}
    for i, (pkg, dist, repo) in enumerate(rows):
        p = Package(
            name=pkg.name,
            version=pkg.version,
            kind=pkg.kind,
            module=pkg.module,
            arch=pkg.arch,
            normalized_version=pkg.normalized_version,
            package_db=f"db-{i}",
        )
        store.index_packages([p], layer, SCANNER)
        (stored,) = [
            x for x in store.packages_by_layer(layer, [SCANNER]) if x.package_db == p.package_db
        ]
        stored.source = None  # only the row itself goes into the index
        env = Environment(package_db=p.package_db, introduced_in=layer)
        if dist is not None:
            store.index_distributions([dist], layer, SCANNER)
            d = next(
                x for x in store.distributions_by_layer(layer, [SCANNER]) if _same(x, dist, "id")
            )
            dists[d.id] = d
            env.distribution_id = d.id
        if repo is not None:
            store.index_repositories([repo], layer, SCANNER)
            r = next(
                x
                for x in store.repositories_by_layer(layer, [SCANNER])
                if (x.name, x.key, x.uri) == (repo.name, repo.key, repo.uri)
            )
            repos[r.id] = r
            env.repository_ids = [r.id]
        packages[stored.id] = stored
        envs.setdefault(stored.id, []).append(env)
    store.index_manifest(
        IndexReport(
            hash=m, packages=packages, distributions=dists, repositories=repos, environments=envs
        )
    )
    return m


def _same(a: Any, b: Any, *skip: str) -> bool:
    fields = [f for f in a.__dataclass_fields__ if f not in skip]
    return all(getattr(a, f) == getattr(b, f) for f in fields)
