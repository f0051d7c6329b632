"""A finished IndexReport taken apart into what importing it writes. Pure: no I/O.

claircore's controller indexes a report layer by layer and scanner by scanner, then rebuilds
the report from what the store returns (Coalesce) and keeps that. An import writes the
same end state in one step, so this module computes it in one pass over the report, the
way :mod:`redis_store.controller` would have made the store compute it:

* :func:`take_apart` finds the layers, the scanners (each package's detector, the default
  package scanner for a package without one, and the distribution and repository
  scanners), every entity's stored value in the order the controller would first write it
  (first writer wins), each layer's artifacts in the order they would be appended, and
  where each environment of the coalesced report comes from;
* :func:`render`, once each entity's ID (and, for an entity stored already, its stored
  value) is known, gives the artifact strings, the reverse-index records and the finished
  report as the store keeps it.

Entities are named by the 16-byte hash of their identity (:mod:`redis_store.codec.storage`)
until they have IDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from redis_store.codec import storage
from redis_store.codec.wire import distribution_to_obj, repository_to_obj
from redis_store.models import (
    Digest,
    IndexReport,
    Package,
    VersionedScanner,
    distribution_identity,
    package_identity,
    repository_identity,
)

#: Scanners used for content whose report does not name one (no package detector), and for
#: the distributions and repositories: the scanners claircore's controller would run.
DEFAULT_PACKAGE_SCANNER: Final = VersionedScanner("package-scanner", "1", "package")
DISTRIBUTION_SCANNER: Final = VersionedScanner("os-release", "1", "distribution")
REPOSITORY_SCANNER: Final = VersionedScanner("repository-scanner", "1", "repository")

#: The kinds of entity an import writes (files are never in a report).
PKG: Final = "pkg"
DIST: Final = "dist"
REPO: Final = "repo"

ZERO_HASH: Final = storage.ZERO_PACKAGE_VALUE[: storage.HASH_BYTES]

_DEFAULT_PACKAGE_SCANNER: Final = ("package-scanner", "1", "package")
_DISTRIBUTION_SCANNER: Final = ("os-release", "1", "distribution")
_REPOSITORY_SCANNER: Final = ("repository-scanner", "1", "repository")


@dataclass(slots=True)
class PackageArtifact:
    """A package found in a layer by one scanner (an artifact before its IDs are known)."""

    package: bytes  # identity hash
    scanner: int  # index into Finished.scanners
    source: bytes  # identity hash of the source (the zero package's without one)
    tail: bytes  # JSON [package_db, repository_hint]: the rest of the artifact's identity
    filepath: bytes
    package_db: str


@dataclass(slots=True)
class LayerFindings:
    """What the scanners found in one layer, each artifact once, in append order."""

    packages: list[PackageArtifact] = field(default_factory=list)
    distributions: list[bytes] = field(default_factory=list)
    repositories: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class Placement:
    """One environment of the coalesced report: which stored package, found how, where."""

    package: bytes
    source: bytes
    scanner: int
    package_db: str
    introduced_in: str
    distribution: bytes | None
    repositories: list[bytes] | None


@dataclass(slots=True)
class Finished:
    """A finished report taken apart (see the module docstring)."""

    digest: Digest
    state: str
    err: str
    scanners: list[VersionedScanner]
    #: Registry keys of ``scanners`` (JSON ``["name", "version", "kind"]``), same order.
    scanner_identities: list[bytes]
    layers: dict[str, LayerFindings]
    #: kind -> identity hash -> stored value, in first-write order (first writer wins).
    values: dict[str, dict[bytes, bytes]]
    placements: list[Placement]
    #: Indexes in ``scanners`` of the distribution and repository scanners.
    distribution_scanner: int
    repository_scanner: int


#: Entity values by identity and extra fields: base-layer packages recur in every report.
_VALUES: dict[tuple[Any, ...], bytes] = {}
_VALUES_MAX: Final = 65536


def _value(key: tuple[Any, ...], make: Any) -> bytes:
    v = _VALUES.get(key)
    if v is None:
        if len(_VALUES) >= _VALUES_MAX:
            _VALUES.clear()
        v = _VALUES[key] = make()
    return v


def _package_value(p: Package) -> bytes:
    nv = p.normalized_version
    key = (p.name, p.version, p.kind._value_, p.module, p.arch, nv.kind, nv.v)
    v = _VALUES.get(key)
    if v is None:
        if len(_VALUES) >= _VALUES_MAX:
            _VALUES.clear()
        v = _VALUES[key] = storage.package_value(p)
    return v


#: Artifact tails (JSON [package_db, repository_hint]): a few per report.
_TAILS: dict[tuple[str, str], bytes] = {}


def _tail(package_db: str, hint: str) -> bytes:
    key = (package_db, hint)
    t = _TAILS.get(key)
    if t is None:
        if len(_TAILS) >= _VALUES_MAX:
            _TAILS.clear()
        t = _TAILS[key] = orjson.dumps([package_db, hint])
    return t


def take_apart(report: IndexReport) -> Finished:
    """What importing ``report`` writes, before IDs. The report must have passed
    :func:`redis_store.store.validate.importable`."""
    assert report.hash is not None
    packages = report.packages or {}
    envs_of = report.environments or {}
    dists = report.distributions or {}
    repos = report.repositories or {}
    # A source that is also a package of the report was one object in the scanner's output;
    # JSON drops the source's normalized version, so the package's is stored (as the
    # controller's plan does).
    listed = {package_identity(p): p for p in packages.values()}

    scanners: dict[tuple[str, str, str], int] = {}
    found: dict[Digest, dict[int, list[tuple[Package, str, Package | None]]]] = {}
    layer_dists: dict[Digest, dict[bytes, None]] = {}
    layer_repos: dict[Digest, dict[bytes, None]] = {}
    dist_values: dict[str, bytes] = {}
    repo_values: dict[str, bytes] = {}
    placements_src: list[tuple[Package, Any, int, bytes | None, list[bytes] | None]] = []

    for pkg in packages.values():
        for env in envs_of.get(pkg.id) or ():
            layer = env.introduced_in
            if layer is None:
                continue
            det = pkg.detector
            scanner = (det.name, det.version, det.kind) if det else _DEFAULT_PACKAGE_SCANNER
            index = scanners.get(scanner)
            if index is None:
                index = scanners[scanner] = len(scanners)
            src = pkg.source
            if src is not None:
                same = listed.get(package_identity(src))
                if same is not None and same.normalized_version != src.normalized_version:
                    src = Package(
                        name=src.name,
                        version=src.version,
                        kind=src.kind,
                        module=src.module,
                        arch=src.arch,
                        normalized_version=same.normalized_version,
                    )
            found.setdefault(layer, {}).setdefault(index, []).append((pkg, env.package_db, src))
            dist_hash = None
            d = dists.get(env.distribution_id)
            if d is not None:
                value = dist_values.get(env.distribution_id)
                if value is None:
                    value = dist_values[env.distribution_id] = _value(
                        ("d", *distribution_identity(d)), lambda d=d: storage.distribution_value(d)
                    )
                dist_hash = value[: storage.HASH_BYTES]
                layer_dists.setdefault(layer, {})[dist_hash] = None
            repo_hashes: list[bytes] | None = None
            if env.repository_ids is not None:
                repo_hashes = []
                for rid in env.repository_ids:
                    r = repos.get(rid)
                    if r is None:
                        continue
                    value = repo_values.get(rid)
                    if value is None:
                        value = repo_values[rid] = _value(
                            ("r", *repository_identity(r), r.cpe),
                            lambda r=r: storage.repository_value(r),
                        )
                    h = value[: storage.HASH_BYTES]
                    repo_hashes.append(h)
                    layer_repos.setdefault(layer, {})[h] = None
            placements_src.append((pkg, env, index, dist_hash, repo_hashes))
    dist_index = scanners.setdefault(_DISTRIBUTION_SCANNER, len(scanners))
    repo_index = scanners.setdefault(_REPOSITORY_SCANNER, len(scanners))

    # Values in the order the controller writes them: layer by layer, scanner by scanner,
    # each package's source before the package; then the layer's distributions and
    # repositories (their scanners come last).
    pkg_values: dict[bytes, bytes] = {}
    dist_by_hash = {v[: storage.HASH_BYTES]: v for v in dist_values.values()}
    repo_by_hash = {v[: storage.HASH_BYTES]: v for v in repo_values.values()}
    d_values: dict[bytes, bytes] = {}
    r_values: dict[bytes, bytes] = {}
    layers: dict[str, LayerFindings] = {}
    package_hash: dict[int, bytes] = {}  # id(Package) -> its hash, for the placements
    source_hash: dict[int, bytes] = {}
    for layer, by_scanner in found.items():
        work = layers[layer] = LayerFindings()
        seen: set[tuple[bytes, int, bytes, bytes]] = set()
        for index in sorted(by_scanner):
            for pkg, package_db, src in by_scanner[index]:
                s_value = storage.ZERO_PACKAGE_VALUE if src is None else _package_value(src)
                s_hash = s_value[: storage.HASH_BYTES]
                pkg_values.setdefault(s_hash, s_value)
                p_value = _package_value(pkg)
                p_hash = p_value[: storage.HASH_BYTES]
                pkg_values.setdefault(p_hash, p_value)
                package_hash[id(pkg)] = p_hash
                source_hash[id(pkg)] = s_hash
                tail = _tail(package_db, pkg.repository_hint)
                key = (p_hash, index, s_hash, tail)
                if key not in seen:
                    seen.add(key)
                    work.packages.append(
                        PackageArtifact(
                            p_hash, index, s_hash, tail, pkg.filepath.encode(), package_db
                        )
                    )
        for h in layer_dists.get(layer, ()):
            d_values.setdefault(h, dist_by_hash[h])
            work.distributions.append(h)
        for h in layer_repos.get(layer, ()):
            r_values.setdefault(h, repo_by_hash[h])
            work.repositories.append(h)

    placements = [
        Placement(
            package_hash[id(pkg)],
            source_hash[id(pkg)],
            index,
            env.package_db,
            env.introduced_in,
            dist_hash,
            repo_hashes,
        )
        for pkg, env, index, dist_hash, repo_hashes in placements_src
    ]
    return Finished(
        digest=report.hash,
        state=report.state or "IndexFinished",
        err=report.err,
        scanners=[VersionedScanner(*s) for s in scanners],
        scanner_identities=[orjson.dumps(list(s)) for s in scanners],
        layers=layers,
        values={PKG: pkg_values, DIST: d_values, REPO: r_values},
        placements=placements,
        distribution_scanner=dist_index,
        repository_scanner=repo_index,
    )


#: An entity as the store holds it: its ID and its stored value (which may be another
#: writer's: first writer wins).
Stored = tuple[bytes, bytes]


@dataclass(slots=True)
class Rendered:
    """What the import script writes, with IDs."""

    #: layer -> (package artifacts, distribution artifacts, repository artifacts)
    artifacts: dict[str, tuple[list[bytes], list[bytes], list[bytes]]]
    #: reverse-index record "pid:did:rid" -> package name
    records: dict[str, str]
    #: the finished report as stored (encoded, compressed)
    blob: bytes
    #: the finished report's JSON
    json: bytes


def render(
    f: Finished, stored: dict[str, dict[bytes, Stored]], scanner_ids: list[bytes]
) -> Rendered:
    """The import's writes, given each entity's ID and stored value (``stored``: kind ->
    identity hash -> (ID, value)) and the scanners' IDs (in ``f.scanners`` order)."""
    pkgs, dists, repos = stored[PKG], stored[DIST], stored[REPO]
    artifacts: dict[str, tuple[list[bytes], list[bytes], list[bytes]]] = {}
    winners: dict[tuple[str, bytes, str], PackageArtifact] = {}
    for layer, work in f.layers.items():
        p_out = []
        for a in work.packages:
            p_out.append(
                b"%s,%s,%s,%s\n%s"
                % (
                    pkgs[a.package][0],
                    scanner_ids[a.scanner],
                    pkgs[a.source][0],
                    a.tail,
                    a.filepath,
                )
            )
            # Coalesce keys a layer's packages by (identity, package_db): the last artifact
            # of the layer wins
            winners[(layer, a.package, a.package_db)] = a
        dist_scanner = scanner_ids[f.distribution_scanner]
        repo_scanner = scanner_ids[f.repository_scanner]
        d_out = [b"%s,%s" % (dists[h][0], dist_scanner) for h in work.distributions]
        r_out = [b"%s,%s" % (repos[h][0], repo_scanner) for h in work.repositories]
        artifacts[layer] = (p_out, d_out, r_out)

    packages: dict[str, Any] = {}
    names: dict[str, str] = {}
    out_dists: dict[str, Any] = {}
    out_repos: dict[str, Any] = {}
    envs: dict[str, list[Any]] = {}
    records: dict[str, str] = {}
    for pl in f.placements:
        a = winners[(pl.introduced_in, pl.package, pl.package_db)]
        pid_b, p_value = pkgs[pl.package]
        pid = pid_b.decode()
        if pid not in packages:
            sid_b, s_value = pkgs[a.source]
            scanner = f.scanners[a.scanner]
            key = (pid_b, sid_b, scanner)
            obj = _PACKAGES.get(key)
            if obj is None or (obj[0] is not p_value and obj[0] != p_value):
                if len(_PACKAGES) >= _VALUES_MAX:
                    _PACKAGES.clear()
                obj = _PACKAGES[key] = (
                    p_value,
                    _package_obj(pid, p_value, sid_b.decode(), s_value, scanner),
                )
            packages[pid] = obj[1]
            names[pid] = obj[1]["name"]
        dist_id = ""
        if pl.distribution is not None:
            did_b, d_value = dists[pl.distribution]
            dist_id = did_b.decode()
            if dist_id not in out_dists:
                out_dists[dist_id] = distribution_to_obj(
                    storage.decode_distribution(dist_id, d_value)
                )
        repo_ids: list[str] | None = None
        if pl.repositories is not None:
            repo_ids = []
            for h in pl.repositories:
                rid_b, r_value = repos[h]
                rid = rid_b.decode()
                if rid not in out_repos:
                    out_repos[rid] = repository_to_obj(storage.decode_repository(rid, r_value))
                repo_ids.append(rid)
        envs.setdefault(pid, []).append(
            {
                "package_db": pl.package_db,
                "introduced_in": pl.introduced_in,
                "distribution_id": dist_id,
                "repository_ids": repo_ids,
            }
        )
    # claircore's IndexRecords: per package (in the order first placed), per environment,
    # one record per repository (or one without); each names the package and its source
    for pid, pkg_envs in envs.items():
        source = packages[pid]["source"]
        sid = source["id"]
        name, source_name = names[pid], source["name"]
        for env in pkg_envs:
            did = env["distribution_id"] or "0"
            for rid in env["repository_ids"] or ("0",):
                records[f"{sid}:{did}:{rid}"] = source_name
                records[f"{pid}:{did}:{rid}"] = name
    report = {
        "manifest_hash": f.digest,
        "state": f.state,
        "packages": {k: packages[k] for k in sorted(packages)},
        "distributions": {k: out_dists[k] for k in sorted(out_dists)},
        "repository": {k: out_repos[k] for k in sorted(out_repos)},
        "environments": {k: envs[k] for k in sorted(envs)},
        "success": True,
        "err": f.err,
    }
    data = orjson.dumps(report)
    return Rendered(artifacts, records, storage.encode_report_json(data, f.state), data)


#: Packages as the coalesced report shows them, by (ID, source ID, scanner), with the stored
#: value they were made from: the same base-layer packages are in report after report. The
#: objects are shared, never changed (orjson only reads them).
_PACKAGES: dict[tuple[bytes, bytes, VersionedScanner], tuple[bytes, dict[str, Any]]] = {}

_KIND_TEXT: Final = {
    "binary": "binary",
    "source": "source",
    "layer": "layer",
    "ancestry": "ancestry",
}


def _package_obj(
    pid: str, value: bytes, sid: str, source_value: bytes, scanner: VersionedScanner
) -> dict[str, Any]:
    """A coalesced package as claircore's JSON: the stored entity (first writer's
    normalized version; no CPE: the store keeps none), its source as stored (never its
    normalized version) and the detector of the scanner that found it."""
    out_source = _entity_obj(sid, source_value, with_version=False)
    out_source["detector"] = None
    out = _entity_obj(pid, value, with_version=True, source=out_source)
    out["detector"] = f"urn:claircore:detector:{scanner.name}:{scanner.version}:{scanner.kind}"
    return out


def _entity_obj(
    pid: str, value: bytes, *, with_version: bool, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A stored package as claircore's Package JSON, in its key order (kind, source,
    module and arch omitted when empty)."""
    name, version, kind, module, arch, norm = orjson.loads(value[storage.HASH_BYTES :])
    d: dict[str, Any] = {"id": pid, "name": name, "version": version}
    kind = _KIND_TEXT.get(kind, "")
    if kind:
        d["kind"] = kind
    if source is not None:
        d["source"] = source
    d["normalized_version"] = norm if with_version else ""
    if module:
        d["module"] = module
    if arch:
        d["arch"] = arch
    d["cpe"] = ""
    return d


__all__ = [
    "DEFAULT_PACKAGE_SCANNER",
    "DISTRIBUTION_SCANNER",
    "REPOSITORY_SCANNER",
    "Finished",
    "Rendered",
    "render",
    "take_apart",
]
