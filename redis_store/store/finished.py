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
from redis_store.codec.wire import (
    distribution_from_obj,
    distribution_to_obj,
    repository_from_obj,
    repository_to_obj,
)
from redis_store.errors import DigestError, InvalidInputError
from redis_store.models import (
    Detector,
    Digest,
    Distribution,
    IndexReport,
    Package,
    Repository,
    VersionedScanner,
    canonical_cpe,
    distribution_identity,
    parse_digest,
    parse_version,
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
_ZERO_FIELDS: Final = ("", "", "", "", "", "")
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
    #: package value -> its fields (name, version, kind, module, arch, normalized version),
    #: for the values this report writes (a stored one may be another writer's)
    fields: dict[bytes, tuple[str, str, str, str, str, str]] = field(default_factory=dict)


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


#: A package's stored fields: name, version, kind, module, arch, normalized version.
Fields = tuple[str, str, str, str, str, str]
#: Package values by their fields.
_PACKAGE_VALUES: dict[Fields, bytes] = {}
#: Normalized versions' text forms.
_VERSION_TEXT: dict[tuple[str, tuple[int, ...]], str] = {}


def _value_of(fields: Fields) -> bytes:
    """A package's stored value from its fields (memoized: base-layer packages recur)."""
    v = _PACKAGE_VALUES.get(fields)
    if v is None:
        if len(_PACKAGE_VALUES) >= _VALUES_MAX:
            _PACKAGE_VALUES.clear()
        v = _PACKAGE_VALUES[fields] = storage.fields_value(fields)
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


#: A scanner's identity: name, version, kind.
ScannerKey = tuple[str, str, str]
#: One package of a report, as the import needs it: its fields, the scanner that found it,
#: its source's fields (None: it has none), repository hint and filepath, and where it was
#: found (package_db, layer, distribution ID, repository IDs or None).
Row = tuple[Fields, ScannerKey, Fields | None, str, str, list[tuple[str, str, str, Any]]]


def take_apart(report: IndexReport) -> Finished:
    """What importing ``report`` writes, before IDs. The report must have passed
    :func:`redis_store.store.validate.importable`."""
    assert report.hash is not None
    envs_of = report.environments or {}
    rows: list[Row] = []
    for pkg in (report.packages or {}).values():
        pkg_envs = envs_of.get(pkg.id)
        if not pkg_envs:
            continue
        det = pkg.detector
        scanner = (det.name, det.version, det.kind) if det else _DEFAULT_PACKAGE_SCANNER
        src = pkg.source
        places: list[tuple[str, str, str, Any]] = [
            (e.package_db, e.introduced_in, e.distribution_id, e.repository_ids)
            for e in pkg_envs
            if e.introduced_in is not None
        ]
        rows.append(
            (
                _package_fields(pkg),
                scanner,
                None if src is None else _package_fields(src),
                pkg.repository_hint,
                pkg.filepath,
                places,
            )
        )
    return _assemble(
        report.hash,
        report.state or "IndexFinished",
        report.err,
        rows,
        report.distributions or {},
        report.repositories or {},
    )


def take_apart_json(data: bytes | bytearray | memoryview | str) -> Finished | None:
    """:func:`take_apart` of a report in claircore's JSON, without building the model: the
    import's fast path, for what an origin sends. None unless everything in it is as a
    finished, importable report has it; the caller then decodes and checks the model, which
    names the fault."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    g = obj.get
    h, state, err = g("manifest_hash"), g("state", ""), g("err", "")
    if g("success") is not True or type(h) is not str or not h:
        return None
    if type(state) is not str or type(err) is not str:
        return None
    try:
        digest = parse_digest(h)
        dists = _entities_of(g("distributions"), distribution_from_obj)
        repos = _entities_of(g("repository"), repository_from_obj)
    except (InvalidInputError, DigestError):
        return None
    if dists is None or repos is None:
        return None
    packages, envs_of = g("packages"), g("environments")
    packages = {} if packages is None else packages
    envs_of = {} if envs_of is None else envs_of
    if type(packages) is not dict or type(envs_of) is not dict:
        return None
    rows: list[Row] = []
    for o in packages.values():
        row = _json_row(o, envs_of)
        if row is None:
            return None
        if row[5]:
            rows.append(row)
    return _assemble(digest, state or "IndexFinished", err, rows, dists, repos)


def _entities_of(raw: object, decode: Any) -> dict[str, Any] | None:
    if raw is None:
        return {}
    if type(raw) is not dict:
        return None
    return {k: decode(v) for k, v in raw.items()}


#: Text forms the fast path has checked: normalized versions (their canonical text), CPEs,
#: detector URNs (their scanner), layer digests.
_VERSIONS_OK: dict[str, str] = {}
_CPES_OK: set[str] = set()
_DETECTORS_OK: dict[str, ScannerKey] = {}
_LAYERS_OK: dict[str, Digest] = {}


def _json_fields(o: object, *, nested: bool) -> tuple[Fields, ScannerKey] | None:
    """A package's fields and scanner from its JSON object, or None unless they are as
    the codec and the store's checks would accept them (nested: a source, which has no
    source of its own)."""
    if type(o) is not dict:
        return None
    g = o.get
    name, version, module, arch = g("name", ""), g("version", ""), g("module", ""), g("arch", "")
    kind, nv, cpe, det = g("kind", ""), g("normalized_version", ""), g("cpe", ""), g("detector")
    if not (str is type(name) is type(version) is type(module) is type(arch) is type(kind)):
        return None
    if type(g("id", "")) is not str or type(nv) is not str or type(cpe) is not str:
        return None
    if nested and g("source") is not None:
        return None
    text = _VERSIONS_OK.get(nv) if nv else ""
    if text is None:
        try:
            text = parse_version(nv).text
        except InvalidInputError:
            return None
        if len(_VERSIONS_OK) >= _VALUES_MAX:
            _VERSIONS_OK.clear()
        _VERSIONS_OK[nv] = text
    if cpe and cpe not in _CPES_OK:
        try:
            canonical_cpe(cpe)
        except (InvalidInputError, ValueError):
            return None
        if len(_CPES_OK) >= _VALUES_MAX:
            _CPES_OK.clear()
        _CPES_OK.add(cpe)
    scanner = _DEFAULT_PACKAGE_SCANNER
    if det is not None:
        if type(det) is not str:
            return None
        found = _DETECTORS_OK.get(det)
        if found is None:
            try:
                d = Detector.from_urn(det)
            except InvalidInputError:
                return None
            found = _DETECTORS_OK[det] = (d.name, d.version, d.kind)
        scanner = found
    return (name, version, _KIND_TEXT.get(kind, ""), module, arch, text), scanner


def _json_row(o: object, envs_of: dict[str, Any]) -> Row | None:
    """One package's :data:`Row` from the report's JSON, or None (see take_apart_json)."""
    found = _json_fields(o, nested=False)
    if found is None:
        return None
    fields, scanner = found
    if not fields[0]:  # nameless: refused, by the slow path
        return None
    assert type(o) is dict
    src, source = o.get("source"), None
    if src is not None:
        found_src = _json_fields(src, nested=True)
        if found_src is None:
            return None
        source = found_src[0]
    envs = envs_of.get(o.get("id", ""))
    places: list[tuple[str, str, str, Any]] = []
    if envs is not None:
        if type(envs) is not list:
            return None
        for e in envs:
            if type(e) is not dict:
                return None
            db, layer = e.get("package_db", ""), e.get("introduced_in")
            dist_id, repo_ids = e.get("distribution_id", ""), e.get("repository_ids")
            if type(db) is not str or type(dist_id) is not str or type(layer) is not str:
                return None
            digest = _LAYERS_OK.get(layer)
            if digest is None:
                if not layer:
                    return None
                try:
                    digest = parse_digest(layer)
                except DigestError:
                    return None
                if len(_LAYERS_OK) >= _VALUES_MAX:
                    _LAYERS_OK.clear()
                _LAYERS_OK[layer] = digest
            if repo_ids is not None and (
                type(repo_ids) is not list or any(type(r) is not str for r in repo_ids)
            ):
                return None
            places.append((db, digest, dist_id, repo_ids))
    return (fields, scanner, source, "", "", places)


def _package_fields(p: Package) -> Fields:
    """A package model's stored fields (the normalized version as its text)."""
    nv = p.normalized_version
    key = (nv.kind, nv.v)
    text = _VERSION_TEXT.get(key)
    if text is None:
        if len(_VERSION_TEXT) >= _VALUES_MAX:
            _VERSION_TEXT.clear()
        text = _VERSION_TEXT[key] = nv.text
    return (p.name, p.version, p.kind._value_, p.module, p.arch, text)


def _assemble(
    digest: Digest,
    state: str,
    err: str,
    rows: list[Row],
    dists: dict[str, Distribution],
    repos: dict[str, Repository],
) -> Finished:
    """The common part of both take-aparts: layers, scanners, values in first-write order,
    artifacts in append order, placements."""
    # A source that is also a package of the report was one object in the scanner's output;
    # JSON drops the source's normalized version, so the package's is stored (as the
    # controller's plan does).
    listed = {row[0][:5]: row[0][5] for row in rows}
    scanners: dict[ScannerKey, int] = {}
    found: dict[str, dict[int, list[tuple[Fields, Fields | None, str, str, str, int]]]] = {}
    layer_dists: dict[str, dict[bytes, None]] = {}
    layer_repos: dict[str, dict[bytes, None]] = {}
    dist_values: dict[str, bytes] = {}
    repo_values: dict[str, bytes] = {}
    placements_src: list[tuple[int, int, str, str, bytes | None, list[bytes] | None]] = []
    for n, (fields, scanner, source, hint, filepath, places) in enumerate(rows):
        index = scanners.get(scanner)
        if index is None:
            index = scanners[scanner] = len(scanners)
        if source is not None:
            norm = listed.get(source[:5])
            if norm is not None and norm != source[5]:
                source = (*source[:5], norm)
        for package_db, layer, dist_id, repo_ids in places:
            found.setdefault(layer, {}).setdefault(index, []).append(
                (fields, source, package_db, hint, filepath, n)
            )
            dist_hash = None
            d = dists.get(dist_id)
            if d is not None:
                value = dist_values.get(dist_id)
                if value is None:
                    value = dist_values[dist_id] = _value(
                        ("d", *distribution_identity(d)), lambda d=d: storage.distribution_value(d)
                    )
                dist_hash = value[: storage.HASH_BYTES]
                layer_dists.setdefault(layer, {})[dist_hash] = None
            repo_hashes: list[bytes] | None = None
            if repo_ids is not None:
                repo_hashes = []
                for rid in repo_ids:
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
            placements_src.append((n, index, package_db, layer, dist_hash, repo_hashes))
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
    hashes: dict[int, tuple[bytes, bytes]] = {}  # row -> (package hash, source hash)
    fields_of: dict[bytes, Fields] = {}
    for layer, by_scanner in found.items():
        work = layers[layer] = LayerFindings()
        seen: set[tuple[bytes, int, bytes, bytes]] = set()
        for index in sorted(by_scanner):
            for fields, source, package_db, hint, filepath, n in by_scanner[index]:
                s_value = storage.ZERO_PACKAGE_VALUE if source is None else _value_of(source)
                s_hash = s_value[: storage.HASH_BYTES]
                if s_hash not in pkg_values:
                    pkg_values[s_hash] = s_value
                    fields_of[s_value] = _ZERO_FIELDS if source is None else source
                p_value = _value_of(fields)
                p_hash = p_value[: storage.HASH_BYTES]
                if p_hash not in pkg_values:
                    pkg_values[p_hash] = p_value
                    fields_of[p_value] = fields
                hashes[n] = (p_hash, s_hash)
                tail = _tail(package_db, hint)
                key = (p_hash, index, s_hash, tail)
                if key not in seen:
                    seen.add(key)
                    work.packages.append(
                        PackageArtifact(p_hash, index, s_hash, tail, filepath.encode(), package_db)
                    )
        for h in layer_dists.get(layer, ()):
            d_values.setdefault(h, dist_by_hash[h])
            work.distributions.append(h)
        for h in layer_repos.get(layer, ()):
            r_values.setdefault(h, repo_by_hash[h])
            work.repositories.append(h)

    placements = [
        Placement(*hashes[n], index, package_db, layer, dist_hash, repo_hashes)
        for n, index, package_db, layer, dist_hash, repo_hashes in placements_src
    ]
    return Finished(
        digest=digest,
        state=state,
        err=err,
        scanners=[VersionedScanner(*sc) for sc in scanners],
        scanner_identities=[orjson.dumps(list(sc)) for sc in scanners],
        layers=layers,
        values={PKG: pkg_values, DIST: d_values, REPO: r_values},
        placements=placements,
        distribution_scanner=dist_index,
        repository_scanner=repo_index,
        fields=fields_of,
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
            key = (pid_b, sid_b, a.scanner, f.scanner_identities[a.scanner])
            obj = _PACKAGES.get(key)
            if obj is None or (obj[0] is not p_value and obj[0] != p_value):
                if len(_PACKAGES) >= _VALUES_MAX:
                    _PACKAGES.clear()
                obj = _PACKAGES[key] = (
                    p_value,
                    _package_obj(
                        pid,
                        _fields_of(f, p_value),
                        sid_b.decode(),
                        _fields_of(f, s_value),
                        f.scanners[a.scanner],
                    ),
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
_PACKAGES: dict[tuple[bytes, bytes, int, bytes], tuple[bytes, dict[str, Any]]] = {}

_KIND_TEXT: Final = {
    "binary": "binary",
    "source": "source",
    "layer": "layer",
    "ancestry": "ancestry",
}


def _fields_of(f: Finished, value: bytes) -> Fields:
    """A stored package value's fields: those this report computed when the value is its
    own, else read from the value (another writer's, first writer wins)."""
    found = f.fields.get(value)
    if found is not None:
        return found
    name, version, kind, module, arch, norm = orjson.loads(value[storage.HASH_BYTES :])
    return (name, version, kind, module, arch, norm)


def _package_obj(
    pid: str, fields: Fields, sid: str, source: Fields, scanner: VersionedScanner
) -> dict[str, Any]:
    """A coalesced package as claircore's JSON: the stored entity (first writer's
    normalized version; no CPE: the store keeps none), its source as stored (never its
    normalized version) and the detector of the scanner that found it."""
    out_source = _entity_obj(sid, source, with_version=False)
    out_source["detector"] = None
    out = _entity_obj(pid, fields, with_version=True, source=out_source)
    out["detector"] = f"urn:claircore:detector:{scanner.name}:{scanner.version}:{scanner.kind}"
    return out


def _entity_obj(
    pid: str, fields: Fields, *, with_version: bool, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A stored package as claircore's Package JSON, in its key order (kind, source,
    module and arch omitted when empty)."""
    name, version, kind, module, arch, norm = fields
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
