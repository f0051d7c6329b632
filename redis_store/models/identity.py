"""claircore's natural keys: what makes two entities the same (and get the same ID)."""

from __future__ import annotations

from redis_store.models.entities import Distribution, Package, Repository


def package_identity(p: Package) -> tuple[str, str, str, str, str]:
    """(name, version, kind, module, arch); the normalized version is not part of it."""
    return (p.name, p.version, str(p.kind), p.module, p.arch)


def distribution_identity(d: Distribution) -> tuple[str, str, str, str, str, str, str, str]:
    """All eight fields, the CPE in its bound form."""
    return (
        d.did,
        d.name,
        d.version,
        d.version_code_name,
        d.version_id,
        d.arch,
        d.cpe,
        d.pretty_name,
    )


def repository_identity(r: Repository) -> tuple[str, str, str]:
    """(name, key, uri); the CPE is not part of it (first writer wins)."""
    return (r.name, r.key, r.uri)
