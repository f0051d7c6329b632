"""claircore's JSON wire format (what Clair's indexer API serves and claircore stores).

Encoding writes what Go's ``encoding/json`` writes for claircore's types: the same keys in the
same order, the same ``omitempty`` omissions, digests/versions/CPEs/detectors as their text
forms, ``null`` for nil maps and slices, map keys sorted (Go's HTML-safe escaping of ``<>&`` is
not reproduced; the parsed JSON is the same). Decoding follows Go's rules where they are sane:

* unknown keys are ignored (e.g. ``scanner_name`` in old reports); key names must match
  exactly (Go would also match them case-insensitively; claircore never writes such keys);
* a JSON ``null`` gives the field's zero value (``""``, ``False``, ``None``, zero version);
* a CPE in URI form is canonicalised to the bound formatted string;
* a package ``kind`` that is not one of claircore's exact names becomes ``UNKNOWN``.

and stricter where claircore would accept something it later crashes on or cannot read back:

* a wrong JSON type anywhere, a ``null`` where an object is needed inside ``packages``,
  ``distributions``, ``repository`` or an environment list, a bad detector URN, a bad normalized
  version (more than 10 components panics in claircore) and the pre-v1 report format raise
  :class:`InvalidInputError`;
* any bad digest, including an empty ``manifest_hash`` or ``introduced_in``, raises
  :class:`DigestError`.

Messages start with the path of the offending field, e.g.
``packages["123"].source.normalized_version: …``. ``report_from_obj`` is the store's hot path,
so it inlines its checks and memoises the text forms that recur (digests, CPEs, versions,
detector URNs).
"""

from __future__ import annotations

import re
from typing import Any, Final, NoReturn

import orjson

from redis_store.errors import DigestError, InvalidInputError
from redis_store.models.cpe import canonical_cpe
from redis_store.models.digest import Digest, parse_digest
from redis_store.models.entities import (
    AffectedManifests,
    Alias,
    Detector,
    Distribution,
    Environment,
    IndexReport,
    Layer,
    Manifest,
    Package,
    PackageKind,
    Repository,
    Vulnerability,
)
from redis_store.models.version import (
    ZERO_VERSION,
    ArchOp,
    Range,
    Severity,
    Version,
    parse_version,
)

__all__ = [
    "affected_manifests_from_obj",
    "affected_manifests_to_obj",
    "distribution_from_obj",
    "distribution_to_obj",
    "dumps",
    "environment_from_obj",
    "environment_to_obj",
    "layer_from_obj",
    "layer_to_obj",
    "loads",
    "manifest_from_obj",
    "manifest_to_obj",
    "package_from_obj",
    "package_to_obj",
    "report_from_obj",
    "report_to_obj",
    "repository_from_obj",
    "repository_to_obj",
    "vulnerability_from_obj",
    "vulnerability_to_obj",
]

Obj = dict[str, Any]

#: Top-level keys only the pre-v1 (2019) IndexReport had.
_V0_KEYS: Final = ("package_introduced", "distribution_by_package", "repository_by_package")
_KINDS: Final[dict[str, PackageKind]] = {k.value: k for k in PackageKind}
_KINDS["unknown"] = PackageKind.UNKNOWN
_UNKNOWN: Final = PackageKind.UNKNOWN
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)


# --- errors ----------------------------------------------------------------------------------


class _Bad(Exception):
    """A decoding problem; the path is completed on the way out, then made public."""

    def __init__(self, path: str, msg: str, digest: bool = False) -> None:
        super().__init__(msg)
        self.path = path
        self.msg = msg
        self.digest = digest

    def under(self, prefix: str) -> _Bad:
        """Prepend ``prefix`` (a field name or ``[key]``) to the path."""
        p = self.path
        if not p:
            self.path = prefix
        elif p[0] == "[":
            self.path = prefix + p
        else:
            self.path = f"{prefix}.{p}"
        return self

    def public(self, prefix: str = "") -> InvalidInputError | DigestError:
        if prefix:
            self.under(prefix)
        text = f"{self.path}: {self.msg}" if self.path else self.msg
        return DigestError(text) if self.digest else InvalidInputError(text)


def _tname(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _key(k: str) -> str:
    return "[" + orjson.dumps(k).decode() + "]"


def _need_obj(v: object, what: str = "") -> NoReturn:
    raise _Bad(what, f"expected an object, got {_tname(v)}")


def _str_field(o: Obj, name: str) -> str:
    """Slow path: the string field ``name`` (``null``/missing is ``""``) or an error."""
    v = o.get(name)
    if v is None:
        return ""
    if type(v) is str:
        return v
    raise _Bad(name, f"expected a string, got {_tname(v)}")


def _bool_field(o: Obj, name: str) -> bool:
    v = o.get(name)
    if v is None:
        return False
    if type(v) is bool:
        return v
    raise _Bad(name, f"expected a boolean, got {_tname(v)}")


def _digest(v: object, name: str) -> Digest | None:
    """A digest field: missing/``null`` is the zero digest (None); ``""`` is an error."""
    if v is None:
        return None
    if type(v) is not str:
        raise _Bad(name, f"expected a digest string, got {_tname(v)}", digest=True)
    if not v:
        raise _Bad(name, "empty digest (invalid digest format)", digest=True)
    try:
        return parse_digest(v)
    except DigestError as e:
        raise _Bad(name, str(e), digest=True) from None


def _cpe(v: object, name: str = "cpe") -> str:
    if v is None or v == "":
        return ""
    if type(v) is not str:
        raise _Bad(name, f"expected a CPE string, got {_tname(v)}")
    try:
        return canonical_cpe(v)
    except InvalidInputError as e:
        raise _Bad(name, str(e)) from None


def _version(v: object, name: str = "normalized_version") -> Version:
    if v is None or v == "":
        return ZERO_VERSION
    if type(v) is not str:
        raise _Bad(name, f"expected a version string, got {_tname(v)}")
    try:
        return parse_version(v)
    except InvalidInputError as e:
        raise _Bad(name, str(e)) from None


def _detector(v: object) -> Detector | None:
    if v is None:
        return None
    if type(v) is not str:
        raise _Bad("detector", f"expected a detector URN string, got {_tname(v)}")
    try:
        return Detector.from_urn(v)
    except InvalidInputError as e:
        raise _Bad("detector", str(e)) from None


def _kind(v: object) -> PackageKind:
    if type(v) is str:
        return _KINDS.get(v, _UNKNOWN)
    if v is None:
        return _UNKNOWN
    raise _Bad("kind", f"expected a string, got {_tname(v)}")


# --- JSON text -------------------------------------------------------------------------------


def loads(data: bytes | bytearray | memoryview | str, what: str = "document") -> Any:
    """Parse JSON; anything that is not JSON raises :class:`InvalidInputError`."""
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise InvalidInputError(f"{what}: expected JSON bytes or str, got {type(data).__name__}")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InvalidInputError(f"{what}: not JSON: {e}") from None


def dumps(obj: object) -> bytes:
    """Serialise a ``*_to_obj`` result (orjson; non-string keys are an error)."""
    try:
        return orjson.dumps(obj)
    except TypeError as e:  # orjson.JSONEncodeError is a TypeError
        raise InvalidInputError(f"cannot encode as JSON: {e}") from None


# --- Package ---------------------------------------------------------------------------------


#: Memo tables for text forms that recur across packages and reports. Plain dicts (cleared
#: when large) are cheaper to consult inline than a call through ``functools.lru_cache``.
_MEMO_MAX: Final = 16384
_VERSIONS: dict[str, Version] = {}
_DIGESTS: dict[str, Digest] = {}


def _version_memo(v: str) -> Version:
    nv = _version(v)
    if len(_VERSIONS) >= _MEMO_MAX:
        _VERSIONS.clear()
    _VERSIONS[v] = nv
    return nv


def _digest_memo(v: object, name: str) -> Digest | None:
    d = _digest(v, name)
    if d is not None and type(v) is str:
        if len(_DIGESTS) >= _MEMO_MAX:
            _DIGESTS.clear()
        _DIGESTS[v] = d
    return d


def _package(o: object) -> Package:
    if type(o) is not dict:
        _need_obj(o)
    g = o.get
    id_ = g("id", "")
    name = g("name", "")
    version = g("version", "")
    module = g("module", "")
    arch = g("arch", "")
    if not (str is type(id_) is type(name) is type(version) is type(module) is type(arch)):
        id_ = _str_field(o, "id")
        name = _str_field(o, "name")
        version = _str_field(o, "version")
        module = _str_field(o, "module")
        arch = _str_field(o, "arch")
    kind = g("kind", "")
    kind = _KINDS.get(kind, _UNKNOWN) if type(kind) is str else _kind(kind)
    src = g("source")
    if src is not None:
        try:
            src = _package(src)
        except _Bad as e:
            raise e.under("source") from None
    nv = g("normalized_version", "")
    if nv == "":
        nv = ZERO_VERSION
    elif type(nv) is str:
        nv = _VERSIONS.get(nv) or _version_memo(nv)
    else:
        nv = _version(nv)
    cpe = g("cpe", "")
    if cpe != "":
        cpe = _cpe(cpe)
    det = g("detector")
    if det is not None:
        det = _detector(det)
    return Package(id_, name, version, kind, src, "", "", "", nv, module, arch, cpe, det)


def package_from_obj(obj: object, path: str = "package") -> Package:
    """A ``Package`` from its decoded JSON object (``path`` prefixes error messages)."""
    try:
        return _package(obj)
    except _Bad as e:
        raise e.public(path) from None


def package_to_obj(p: Package) -> Obj:
    """claircore's Package JSON: kind/source/module/arch omitted when empty."""
    d: Obj = {"id": p.id, "name": p.name, "version": p.version}
    if p.kind:
        d["kind"] = p.kind
    if p.source is not None:
        d["source"] = package_to_obj(p.source)
    nv = p.normalized_version
    d["normalized_version"] = nv.text if nv.kind else ""
    if p.module:
        d["module"] = p.module
    if p.arch:
        d["arch"] = p.arch
    d["cpe"] = canonical_cpe(p.cpe) if p.cpe else ""
    d["detector"] = None if p.detector is None else p.detector.urn
    return d


# --- Distribution / Repository -------------------------------------------------------------------


_DIST_STR_FIELDS: Final = (
    "id",
    "did",
    "name",
    "version",
    "version_code_name",
    "version_id",
    "arch",
    "pretty_name",
)


def _distribution(o: object) -> Distribution:
    if type(o) is not dict:
        _need_obj(o)
    g = o.get
    id_ = g("id", "")
    did = g("did", "")
    name = g("name", "")
    version = g("version", "")
    vcn = g("version_code_name", "")
    vid = g("version_id", "")
    arch = g("arch", "")
    pretty = g("pretty_name", "")
    if not (
        str
        is type(id_)
        is type(did)
        is type(name)
        is type(version)
        is type(vcn)
        is type(vid)
        is type(arch)
        is type(pretty)
    ):
        id_, did, name, version, vcn, vid, arch, pretty = (
            _str_field(o, n) for n in _DIST_STR_FIELDS
        )
    cpe = g("cpe", "")
    if cpe != "":
        cpe = _cpe(cpe)
    return Distribution(id_, did, name, version, vcn, vid, arch, cpe, pretty)


def distribution_from_obj(obj: object, path: str = "distribution") -> Distribution:
    """A ``Distribution`` from its decoded JSON object."""
    try:
        return _distribution(obj)
    except _Bad as e:
        raise e.public(path) from None


def distribution_to_obj(d: Distribution) -> Obj:
    """claircore's Distribution JSON: every field, always."""
    return {
        "id": d.id,
        "did": d.did,
        "name": d.name,
        "version": d.version,
        "version_code_name": d.version_code_name,
        "version_id": d.version_id,
        "arch": d.arch,
        "cpe": canonical_cpe(d.cpe) if d.cpe else "",
        "pretty_name": d.pretty_name,
    }


def _repository(o: object) -> Repository:
    if type(o) is not dict:
        _need_obj(o)
    g = o.get
    id_ = g("id", "")
    name = g("name", "")
    key = g("key", "")
    uri = g("uri", "")
    if not (str is type(id_) is type(name) is type(key) is type(uri)):
        id_ = _str_field(o, "id")
        name = _str_field(o, "name")
        key = _str_field(o, "key")
        uri = _str_field(o, "uri")
    cpe = g("cpe", "")
    if cpe != "":
        cpe = _cpe(cpe)
    return Repository(id_, name, key, uri, cpe)


def repository_from_obj(obj: object, path: str = "repository") -> Repository:
    """A ``Repository`` from its decoded JSON object."""
    try:
        return _repository(obj)
    except _Bad as e:
        raise e.public(path) from None


def repository_to_obj(r: Repository) -> Obj:
    """claircore's Repository JSON: id/name/key/uri omitted when empty, cpe always."""
    d: Obj = {}
    if r.id:
        d["id"] = r.id
    if r.name:
        d["name"] = r.name
    if r.key:
        d["key"] = r.key
    if r.uri:
        d["uri"] = r.uri
    d["cpe"] = canonical_cpe(r.cpe) if r.cpe else ""
    return d


# --- Environment ---------------------------------------------------------------------------------


def _environment(o: object) -> Environment:
    if type(o) is not dict:
        _need_obj(o)
    g = o.get
    db = g("package_db", "")
    did = g("distribution_id", "")
    if type(db) is not str or type(did) is not str:
        db = _str_field(o, "package_db")
        did = _str_field(o, "distribution_id")
    ii = g("introduced_in")
    if type(ii) is str:
        ii = _DIGESTS.get(ii) or _digest_memo(ii, "introduced_in")
    elif ii is not None:
        ii = _digest(ii, "introduced_in")
    rids = g("repository_ids")
    if rids is not None:
        if type(rids) is not list:
            raise _Bad("repository_ids", f"expected an array of strings, got {_tname(rids)}")
        for r in rids:
            if type(r) is not str:
                rids = _repository_ids(rids)
                break
        else:
            rids = rids.copy()
    elif "repository_id" in o and "repository_ids" not in o:
        raise _Bad("repository_id", "pre-v1 report format (repository_id) is not supported")
    return Environment(db, ii, did, rids)


def _repository_ids(rids: list[Any]) -> list[str]:
    out: list[str] = []
    for i, r in enumerate(rids):
        if r is None:
            r = ""
        elif type(r) is not str:
            raise _Bad(f"repository_ids[{i}]", f"expected a string, got {_tname(r)}")
        out.append(r)
    return out


def environment_from_obj(obj: object, path: str = "environment") -> Environment:
    """An ``Environment`` from its decoded JSON object."""
    try:
        return _environment(obj)
    except _Bad as e:
        raise e.public(path) from None


def environment_to_obj(e: Environment) -> Obj:
    """claircore's Environment JSON; ``repository_ids`` keeps ``null`` vs ``[]``."""
    ii = e.introduced_in
    return {
        "package_db": e.package_db,
        "introduced_in": ii if ii is not None else "",
        "distribution_id": e.distribution_id,
        "repository_ids": e.repository_ids,
    }


# --- IndexReport ---------------------------------------------------------------------------------


def _map_of(o: Obj, name: str) -> dict[str, Any] | None:
    v = o.get(name)
    if v is None or type(v) is dict:
        return v
    if type(v) is list and name == "packages":
        raise _Bad(name, "expected an object, got an array (pre-v1 report format?)")
    raise _Bad(name, f"expected an object, got {_tname(v)}")


def _report(o: object) -> IndexReport:
    if type(o) is not dict:
        raise _Bad("", f"index report: expected a JSON object, got {_tname(o)}")
    for k in _V0_KEYS:
        if k in o:
            raise _Bad(k, "pre-v1 report format is not supported")
    g = o.get
    h = g("manifest_hash")
    if h is not None:
        h = _digest(h, "manifest_hash")
    state = g("state", "")
    err = g("err", "")
    if type(state) is not str or type(err) is not str:
        state = _str_field(o, "state")
        err = _str_field(o, "err")
    success = g("success", False)
    if type(success) is not bool:
        success = _bool_field(o, "success")

    raw = _map_of(o, "packages")
    packages: dict[str, Package] | None = None
    if raw is not None:
        packages = {}
        pkg = _package
        for k, v in raw.items():
            try:
                packages[k] = pkg(v)
            except _Bad as e:
                raise e.under(_key(k)).under("packages") from None

    raw = _map_of(o, "distributions")
    dists: dict[str, Distribution] | None = None
    if raw is not None:
        dists = {}
        for k, v in raw.items():
            try:
                dists[k] = _distribution(v)
            except _Bad as e:
                raise e.under(_key(k)).under("distributions") from None

    raw = _map_of(o, "repository")
    repos: dict[str, Repository] | None = None
    if raw is not None:
        repos = {}
        for k, v in raw.items():
            try:
                repos[k] = _repository(v)
            except _Bad as e:
                raise e.under(_key(k)).under("repository") from None

    raw = _map_of(o, "environments")
    envs: dict[str, list[Environment]] | None = None
    if raw is not None:
        envs = {}
        env = _environment
        for k, v in raw.items():
            if type(v) is list:
                try:
                    envs[k] = [env(x) for x in v]
                except _Bad:
                    envs[k] = _env_list_slow(v, k)
            elif v is None:
                envs[k] = []  # Go's nil slice: no environments
            else:
                raise _Bad(f"environments{_key(k)}", f"expected an array, got {_tname(v)}")

    return IndexReport(h, state, packages, dists, repos, envs, success, err, None)


def _env_list_slow(v: list[Any], k: str) -> list[Environment]:
    """Re-run a failing environment list to find which element is bad."""
    out = []
    for i, x in enumerate(v):
        try:
            out.append(_environment(x))
        except _Bad as e:
            raise e.under(f"[{i}]").under(_key(k)).under("environments") from None
    return out


def report_from_obj(obj: object) -> IndexReport:
    """An ``IndexReport`` from its decoded JSON object (the store's hot path)."""
    try:
        return _report(obj)
    except _Bad as e:
        raise e.public() from None


def report_to_obj(r: IndexReport) -> Obj:
    """claircore's IndexReport JSON object; ``None`` maps are ``null``, ``files`` is dropped.

    Map keys are sorted, as Go's encoder sorts them, so equal reports encode identically.
    """
    h = r.hash
    out: Obj = {"manifest_hash": h if h is not None else "", "state": r.state}
    packages = r.packages
    if packages is None:
        out["packages"] = None
    else:
        pto = package_to_obj
        pk: Obj = {}
        for k in sorted(packages):
            try:
                pk[k] = pto(packages[k])
            except InvalidInputError as e:
                raise InvalidInputError(f"packages{_key(k)}: {e}") from None
        out["packages"] = pk
    dists = r.distributions
    out["distributions"] = (
        None if dists is None else {k: distribution_to_obj(dists[k]) for k in sorted(dists)}
    )
    repos = r.repositories
    out["repository"] = (
        None if repos is None else {k: repository_to_obj(repos[k]) for k in sorted(repos)}
    )
    envs = r.environments
    if envs is None:
        out["environments"] = None
    else:
        eto = environment_to_obj
        out["environments"] = {k: [eto(e) for e in envs[k]] for k in sorted(envs)}
    out["success"] = r.success
    out["err"] = r.err
    return out


# --- Layer / Manifest ----------------------------------------------------------------------------


def _layer(o: object) -> Layer:
    if type(o) is not dict:
        _need_obj(o)
    h = _digest(o.get("hash"), "hash")
    if h is None:
        raise _Bad("hash", "missing layer digest", digest=True)
    uri = _str_field(o, "uri")
    headers = o.get("headers")
    if headers is not None:
        if type(headers) is not dict:
            raise _Bad("headers", f"expected an object, got {_tname(headers)}")
        hs: dict[str, list[str]] = {}
        for k, v in headers.items():
            if v is None:
                hs[k] = []
                continue
            if type(v) is not list or any(type(x) is not str for x in v):
                raise _Bad(f"headers{_key(k)}", "expected an array of strings")
            hs[k] = list(v)
        headers = hs
    return Layer(h, uri, headers)


def layer_from_obj(obj: object, path: str = "layer") -> Layer:
    """A ``Layer`` from its decoded JSON object."""
    try:
        return _layer(obj)
    except _Bad as e:
        raise e.public(path) from None


def layer_to_obj(layer: Layer) -> Obj:
    """claircore's Layer JSON: hash, uri and headers (``null`` when None)."""
    hs = layer.headers
    headers = None if hs is None else {k: hs[k] for k in sorted(hs)}
    return {"hash": layer.hash, "uri": layer.uri, "headers": headers}


def _manifest(o: object) -> Manifest:
    if type(o) is not dict:
        raise _Bad("", f"manifest: expected a JSON object, got {_tname(o)}")
    h = _digest(o.get("hash"), "hash")
    if h is None:
        raise _Bad("hash", "missing manifest digest", digest=True)
    raw = o.get("layers")
    layers: list[Layer] = []
    if raw is not None:
        if type(raw) is not list:
            raise _Bad("layers", f"expected an array, got {_tname(raw)}")
        for i, x in enumerate(raw):
            try:
                layers.append(_layer(x))
            except _Bad as e:
                raise e.under(f"[{i}]").under("layers") from None
    return Manifest(h, layers)


def manifest_from_obj(obj: object) -> Manifest:
    """A ``Manifest`` from its decoded JSON object (``null`` layers become ``[]``)."""
    try:
        return _manifest(obj)
    except _Bad as e:
        raise e.public() from None


def manifest_to_obj(m: Manifest) -> Obj:
    """claircore's Manifest JSON."""
    return {"hash": m.hash, "layers": [layer_to_obj(x) for x in m.layers]}


# --- Vulnerability -------------------------------------------------------------------------------


def _alias(v: object, name: str) -> Alias:
    if v is None:
        return Alias()
    if type(v) is not dict:
        _need_obj(v, name)
    try:
        return Alias(_str_field(v, "space"), _str_field(v, "name"))
    except _Bad as e:
        raise e.under(name) from None


def _range(v: object) -> Range | None:
    if v is None:
        return None
    if type(v) is not dict:
        _need_obj(v, "range")
    try:
        return Range(_version(v.get("["), "["), _version(v.get(")"), ")"))
    except _Bad as e:
        e.path = f'["{e.path}"]'
        raise e.under("range") from None


def _vulnerability(o: object) -> Vulnerability:
    if type(o) is not dict:
        raise _Bad("", f"vulnerability: expected a JSON object, got {_tname(o)}")
    s = _str_field
    issued = o.get("issued")
    if issued is None:
        issued = "0001-01-01T00:00:00Z"
    elif type(issued) is not str or _RFC3339.fullmatch(issued) is None:
        raise _Bad("issued", f"expected an RFC 3339 time string, got {issued!r}")
    sev = o.get("normalized_severity")
    try:
        severity = Severity.UNKNOWN if sev is None else Severity.from_text(sev)
    except InvalidInputError as e:
        raise _Bad("normalized_severity", str(e)) from None
    op = o.get("arch_op")
    if op is None:
        arch_op = ArchOp.INVALID
    elif type(op) is str:
        arch_op = ArchOp.from_text(op)
    else:
        raise _Bad("arch_op", f"expected a string, got {_tname(op)}")
    pkg = o.get("package")
    if pkg is not None:
        try:
            pkg = _package(pkg)
        except _Bad as e:
            raise e.under("package") from None
    dist = o.get("distribution")
    if dist is not None:
        try:
            dist = _distribution(dist)
        except _Bad as e:
            raise e.under("distribution") from None
    repo = o.get("repository")
    if repo is not None:
        try:
            repo = _repository(repo)
        except _Bad as e:
            raise e.under("repository") from None
    raw_aliases = o.get("Aliases")
    aliases: list[Alias] | None = None
    if raw_aliases is not None:
        if type(raw_aliases) is not list:
            raise _Bad("Aliases", f"expected an array, got {_tname(raw_aliases)}")
        aliases = [_alias(a, f"Aliases[{i}]") for i, a in enumerate(raw_aliases)]
    return Vulnerability(
        id=s(o, "id"),
        updater=s(o, "updater"),
        name=s(o, "name"),
        description=s(o, "description"),
        issued=issued,
        links=s(o, "links"),
        severity=s(o, "severity"),
        normalized_severity=severity,
        package=pkg,
        distribution=dist,
        repository=repo,
        fixed_in_version=s(o, "fixed_in_version"),
        range=_range(o.get("range")),
        arch_op=arch_op,
        self=_alias(o.get("Self"), "Self"),
        aliases=aliases,
        invert=_bool_field(o, "Invert"),
    )


def vulnerability_from_obj(obj: object, path: str = "") -> Vulnerability:
    """A ``Vulnerability`` from its decoded JSON object (``"package": null`` is accepted)."""
    try:
        return _vulnerability(obj)
    except _Bad as e:
        raise e.public(path) from None


def _alias_obj(a: Alias) -> Obj:
    return {"space": a.space, "name": a.name}


def vulnerability_to_obj(v: Vulnerability) -> Obj:
    """claircore's Vulnerability JSON: distribution/repository/range/arch_op omitempty."""
    d: Obj = {
        "id": v.id,
        "updater": v.updater,
        "name": v.name,
        "description": v.description,
        "issued": v.issued,
        "links": v.links,
        "severity": v.severity,
        "normalized_severity": Severity(v.normalized_severity).text,
        "package": None if v.package is None else package_to_obj(v.package),
    }
    if v.distribution is not None:
        d["distribution"] = distribution_to_obj(v.distribution)
    if v.repository is not None:
        d["repository"] = repository_to_obj(v.repository)
    d["fixed_in_version"] = v.fixed_in_version
    if v.range is not None:
        d["range"] = {"[": v.range.lower.text, ")": v.range.upper.text}
    op = v.arch_op
    if op and op != ArchOp.INVALID:
        d["arch_op"] = str(op)
    d["Self"] = _alias_obj(v.self)
    d["Aliases"] = None if v.aliases is None else [_alias_obj(a) for a in v.aliases]
    d["Invert"] = v.invert
    return d


# --- AffectedManifests ---------------------------------------------------------------------------


def affected_manifests_to_obj(a: AffectedManifests) -> Obj:
    """libindex's AffectedManifests JSON."""
    vulns = a.vulnerabilities
    manifests = {str(k): v for k, v in a.vulnerable_manifests.items()}
    return {
        "vulnerabilities": {k: vulnerability_to_obj(vulns[k]) for k in sorted(vulns)},
        "vulnerable_manifests": {k: list(manifests[k]) for k in sorted(manifests)},
    }


def _affected(o: object) -> AffectedManifests:
    if type(o) is not dict:
        raise _Bad("", f"affected manifests: expected a JSON object, got {_tname(o)}")
    vulns: dict[str, Vulnerability] = {}
    raw = o.get("vulnerabilities")
    if raw is not None:
        if type(raw) is not dict:
            raise _Bad("vulnerabilities", f"expected an object, got {_tname(raw)}")
        for k, v in raw.items():
            try:
                vulns[k] = _vulnerability(v)
            except _Bad as e:
                raise e.under(_key(k)).under("vulnerabilities") from None
    manifests: dict[Digest, list[str]] = {}
    raw = o.get("vulnerable_manifests")
    if raw is not None:
        if type(raw) is not dict:
            raise _Bad("vulnerable_manifests", f"expected an object, got {_tname(raw)}")
        for k, ids in raw.items():
            where = f"vulnerable_manifests{_key(k)}"
            d = _digest(k, where)
            assert d is not None
            if ids is None:
                ids = []
            if type(ids) is not list or any(type(x) is not str for x in ids):
                raise _Bad(where, "expected an array of vulnerability IDs")
            manifests[d] = list(ids)
    return AffectedManifests(vulns, manifests)


def affected_manifests_from_obj(obj: object) -> AffectedManifests:
    """An ``AffectedManifests`` from its decoded JSON object."""
    try:
        return _affected(obj)
    except _Bad as e:
        raise e.public() from None
