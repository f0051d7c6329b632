"""matcher-vectors.json (claircore's own answers) as the project's models."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from redis_store import (
    ArchOp,
    Distribution,
    IndexRecord,
    Package,
    PackageKind,
    Range,
    Repository,
    Version,
    Vulnerability,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "docs" / "matcher-vectors.json"


@cache
def load() -> dict[str, Any]:
    if not VECTORS.exists():
        return {}
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def need() -> dict[str, Any]:
    data = load()
    if not data:
        pytest.skip("matcher-vectors.json not found beside the checkout (../shared/docs)")
    return data


def version(kind: str, v: list[int] | None) -> Version:
    """norm_kind with a NULL norm_version reads back as the kind with zeros (claircore)."""
    if not kind:
        return Version()
    return Version(kind, tuple(v) if v is not None else (0,) * 10)


def package(d: dict[str, Any]) -> Package:
    return Package(
        name=d["name"],
        version=d["version"],
        kind=PackageKind.from_text(d.get("kind", "")),
        arch=d.get("arch", ""),
        module=d.get("module", ""),
        normalized_version=version(d.get("norm_kind", ""), d.get("norm_version")),
    )


def distribution(d: dict[str, Any] | None) -> Distribution | None:
    return None if d is None else Distribution(**d)


def repository(d: dict[str, Any] | None) -> Repository | None:
    return None if d is None else Repository(**d)


def record(d: dict[str, Any]) -> IndexRecord:
    """A record as AffectedManifests hands it to matchers (never-null dist and repo)."""
    return IndexRecord(
        package=package(d["package"]),
        distribution=distribution(d.get("distribution")) or Distribution(),
        repository=repository(d.get("repository")) or Repository(),
    )


def vulnerability(d: dict[str, Any]) -> Vulnerability:
    r = d.get("range")
    return Vulnerability(
        id=d.get("id", ""),
        name=d.get("name", ""),
        package=package(d["package"]),
        distribution=distribution(d.get("distribution")),
        repository=repository(d.get("repository")),
        fixed_in_version=d.get("fixed_in_version", ""),
        range=None
        if r is None
        else Range(version(r["lower_kind"], r["lower"]), version(r["upper_kind"], r["upper"])),
        arch_op=ArchOp.from_text(d.get("arch_op", "")),
        invert=bool(d.get("invert", False)),
    )


def cases(section: str) -> list[Any]:
    """pytest params for a section, ids "<matcher>/<case>"; empty without the file."""
    data = load()
    out = []
    if section in ("vulnerable",):
        for matcher, items in data.get(section, {}).items():
            for i, c in enumerate(items):
                out.append(pytest.param(matcher, c, id=f"{matcher}/{i}-{c['name']}"))
    elif section == "affected_manifests":
        out = [pytest.param(c, id=c["name"]) for c in data.get(section, [])]
    elif section == "filter":
        for matcher, spec in data.get("filter", {}).items():
            for name, want in spec["cases"].items():
                out.append(pytest.param(matcher, name, want, id=f"{matcher}/{name}"))
    if not out:
        width = {"vulnerable": 2, "affected_manifests": 1, "filter": 3}[section]
        out = [
            pytest.param(
                *([None] * width),
                id="no-vectors",
                marks=pytest.mark.skip(reason="matcher-vectors.json not found"),
            )
        ]
    return out
