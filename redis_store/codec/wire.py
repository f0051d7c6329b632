"""claircore's JSON wire format (what Clair's indexer API serves and claircore stores).

Encoding writes what Go's ``encoding/json`` writes for claircore's types: the same keys in the
same order, the same ``omitempty`` omissions, digests/versions/CPEs/detectors as their text
forms, ``null`` for nil maps and slices, map keys sorted (Go's HTML-safe escaping of ``<>&`` is
not reproduced; the parsed JSON is the same). Decoding follows Go's rules where they are sane:

* unknown keys are ignored, as claircore ignores them (``scanner_name`` in old reports, the
  2019 format's ``package_introduced`` or an environment's ``repository_id``); key names must match
  exactly (Go would also match them case-insensitively; claircore never writes such keys);
* a JSON ``null`` gives the field's zero value (``""``, ``False``, ``None``, zero version);
* a CPE in URI form is canonicalised to the bound formatted string;
* a package ``kind`` that is not one of claircore's exact names becomes ``UNKNOWN``.

and stricter where claircore would accept something it later crashes on or cannot read back:

* a wrong JSON type anywhere, a ``null`` where an object is needed inside ``packages``,
  ``distributions``, ``repository`` or an environment list, a bad detector URN, a bad normalized
  version (more than 10 components panics in claircore) and a map given as an array raise
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
import sys
from collections.abc import Callable
from typing import Any, Final, NoReturn, TypeVar

import orjson

from redis_store.errors import DigestError, InvalidInputError
from redis_store.models import json_codec
from redis_store.models.cpe import canonical_cpe
from redis_store.models.digest import Digest, parse_digest
from redis_store.models.entities import (
    _KINDS,
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
T = TypeVar("T")

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


def _public(decode: Callable[[object], T], obj: object, path: str = "") -> T:
    """Run ``decode``; a problem becomes the public error, its path under ``path``."""
    try:
        return decode(obj)
    except _Bad as e:
        raise e.public(path) from None


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


# --- fields ----------------------------------------------------------------------------------


def _scalar(v: object, name: str, zero: T) -> T:
    """A JSON string or boolean of ``zero``'s type; ``null`` is ``zero``, another type an error."""
    if v is None:
        return zero
    if type(v) is type(zero):
        return v
    raise _Bad(name, f"expected {_tname(zero)}, got {_tname(v)}")


def _str_field(o: Obj, name: str) -> str:
    """The string field ``name`` (``null``/missing is ``""``) or an error."""
    v = o.get(name)
    return v if type(v) is str else _scalar(v, name, "")


def _str_fields(o: Obj, names: tuple[str, ...]) -> list[str]:
    """The string fields ``names`` in order (``null``/missing is ``""``); the first bad one
    is the error. The hot decoders inline this for their own fields."""
    g = o.get
    values = [g(n, "") for n in names]
    for v in values:
        if type(v) is not str:
            return [_scalar(g(n), n, "") for n in names]
    return values


def _str_list(v: object, what: str = "strings", path: str = "") -> list[str]:
    """A copied JSON array of strings (``null`` is ``[]``)."""
    if v is None:
        return []
    if type(v) is not list or any(type(x) is not str for x in v):
        raise _Bad(path, f"expected an array of {what}")
    return list(v)


def _text_form(
    v: object, name: str, what: str, parse: Callable[[str], T], digest: bool = False
) -> T:
    """A field holding ``what`` as text: a string that ``parse`` accepts."""
    if type(v) is not str:
        raise _Bad(name, f"expected a {what} string, got {_tname(v)}", digest)
    try:
        return parse(v)
    except (InvalidInputError, DigestError) as e:
        raise _Bad(name, str(e), digest) from None


def _parse_nonempty_digest(v: str) -> Digest:
    if not v:
        raise DigestError("empty digest (invalid digest format)")
    return parse_digest(v)


def _digest(v: object, name: str) -> Digest:
    """A digest field that is not ``null`` (which callers read as the zero digest)."""
    return _text_form(v, name, "digest", _parse_nonempty_digest, digest=True)


def _hash(o: Obj, what: str) -> Digest:
    """The required ``hash`` digest of a layer or manifest."""
    h = o.get("hash")
    if h is None:
        raise _Bad("hash", f"missing {what} digest", digest=True)
    return _digest(h, "hash")


def _cpe(v: object, name: str = "cpe") -> str:
    return "" if v is None or v == "" else _text_form(v, name, "CPE", canonical_cpe)


def _version(v: object, name: str = "normalized_version") -> Version:
    return ZERO_VERSION if v is None or v == "" else _text_form(v, name, "version", parse_version)


# --- nested values -----------------------------------------------------------------------------


def _optional(o: Obj, name: str, decode: Callable[[object], T]) -> T | None:
    """The object ``o[name]`` decoded, or ``None`` when it is ``null`` or missing."""
    v = o.get(name)
    if v is None:
        return None
    try:
        return decode(v)
    except _Bad as e:
        raise e.under(name) from None


def _each(items: list[Any], decode: Callable[[object], T]) -> list[T]:
    """Each element decoded; a problem's path starts with the element's index."""
    out: list[T] = []
    for i, x in enumerate(items):
        try:
            out.append(decode(x))
        except _Bad as e:
            raise e.under(f"[{i}]") from None
    return out


def _array(o: Obj, name: str, decode: Callable[[object], T]) -> list[T] | None:
    """The array ``o[name]`` with each element decoded, or ``None`` for ``null``/missing."""
    v = o.get(name)
    if v is None:
        return None
    if type(v) is not list:
        raise _Bad(name, f"expected an array, got {_tname(v)}")
    try:
        return _each(v, decode)
    except _Bad as e:
        raise e.under(name) from None


def _map_of(o: Obj, name: str) -> dict[str, Any] | None:
    v = o.get(name)
    if v is None or type(v) is dict:
        return v
    if type(v) is list and name == "packages":
        raise _Bad(name, "expected an object, got an array (pre-v1 report format?)")
    raise _Bad(name, f"expected an object, got {_tname(v)}")


def _entities(o: Obj, name: str, decode: Callable[[object], T]) -> dict[str, T] | None:
    """The map ``o[name]`` with each value decoded, or ``None`` for ``null``/missing."""
    raw = _map_of(o, name)
    if raw is None:
        return None
    out: dict[str, T] = {}
    for k, v in raw.items():
        try:
            out[k] = decode(v)
        except _Bad as e:
            raise e.under(_key(k)).under(name) from None
    return out


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


def _memo(table: dict[str, T], text: str, value: T) -> T:
    """Remember ``value`` as the parse of ``text`` (clearing a full table); return it."""
    if len(table) >= _MEMO_MAX:
        table.clear()
    table[text] = value
    return value


_PKG_STR_FIELDS: Final = ("id", "name", "version", "module", "arch")


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
        id_, name, version, module, arch = _str_fields(o, _PKG_STR_FIELDS)
    kind = g("kind", "")
    kind = _KINDS.get(kind if type(kind) is str else _scalar(kind, "kind", ""), _UNKNOWN)
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
        nv = _VERSIONS.get(nv) or _memo(_VERSIONS, nv, _version(nv))
    else:
        nv = _version(nv)
    cpe = g("cpe", "")
    if cpe != "":
        cpe = _cpe(cpe)
    det = g("detector")
    if det is not None:
        det = _text_form(det, "detector", "detector URN", Detector.from_urn)
    return Package(id_, name, version, kind, src, "", "", "", nv, module, arch, cpe, det)


def package_from_obj(obj: object, path: str = "package") -> Package:
    """A ``Package`` from its decoded JSON object (``path`` prefixes error messages)."""
    return _public(_package, obj, path)


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
_REPO_STR_FIELDS: Final = ("id", "name", "key", "uri")


def _distribution(o: object) -> Distribution:
    if type(o) is not dict:
        _need_obj(o)
    id_, did, name, version, vcn, vid, arch, pretty = _str_fields(o, _DIST_STR_FIELDS)
    return Distribution(id_, did, name, version, vcn, vid, arch, _cpe(o.get("cpe")), pretty)


def distribution_from_obj(obj: object, path: str = "distribution") -> Distribution:
    """A ``Distribution`` from its decoded JSON object."""
    return _public(_distribution, obj, path)


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
    id_, name, key, uri = _str_fields(o, _REPO_STR_FIELDS)
    return Repository(id_, name, key, uri, _cpe(o.get("cpe")))


def repository_from_obj(obj: object, path: str = "repository") -> Repository:
    """A ``Repository`` from its decoded JSON object."""
    return _public(_repository, obj, path)


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


_ENV_STR_FIELDS: Final = ("package_db", "distribution_id")


def _environment(o: object) -> Environment:
    if type(o) is not dict:
        _need_obj(o)
    g = o.get
    db = g("package_db", "")
    dist_id = g("distribution_id", "")
    if type(db) is not str or type(dist_id) is not str:
        db, dist_id = _str_fields(o, _ENV_STR_FIELDS)
    ii = g("introduced_in")
    if type(ii) is str:
        ii = _DIGESTS.get(ii) or _memo(_DIGESTS, ii, _digest(ii, "introduced_in"))
    elif ii is not None:
        ii = _digest(ii, "introduced_in")
    rids = g("repository_ids")
    if rids is not None:
        if type(rids) is not list:
            raise _Bad("repository_ids", f"expected an array of strings, got {_tname(rids)}")
        for r in rids:
            if type(r) is not str:
                rids = [_scalar(r, f"repository_ids[{i}]", "") for i, r in enumerate(rids)]
                break
        else:
            rids = rids.copy()
    return Environment(db, ii, dist_id, rids)


def _environments(v: object) -> list[Environment]:
    """One package's environment list; ``null`` is Go's nil slice: no environments."""
    if type(v) is list:
        try:
            return [_environment(x) for x in v]
        except _Bad:
            return _each(v, _environment)  # again, to name the bad element
    if v is None:
        return []
    raise _Bad("", f"expected an array, got {_tname(v)}")


def environment_from_obj(obj: object, path: str = "environment") -> Environment:
    """An ``Environment`` from its decoded JSON object."""
    return _public(_environment, obj, path)


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


def _report(o: object) -> IndexReport:
    if type(o) is not dict:
        raise _Bad("", f"index report: expected a JSON object, got {_tname(o)}")
    g = o.get
    h = g("manifest_hash")
    if h is not None:
        h = _digest(h, "manifest_hash")
    state = g("state", "")
    err = g("err", "")
    if type(state) is not str or type(err) is not str:
        state, err = _str_fields(o, ("state", "err"))
    success = g("success", False)
    if type(success) is not bool:
        success = _scalar(success, "success", False)
    return IndexReport(
        h,
        state,
        _entities(o, "packages", _package),
        _entities(o, "distributions", _distribution),
        _entities(o, "repository", _repository),
        _entities(o, "environments", _environments),
        success,
        err,
        None,
    )


def report_from_obj(obj: object) -> IndexReport:
    """An ``IndexReport`` from its decoded JSON object (the store's hot path)."""
    return _public(_report, obj)


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
    h = _hash(o, "layer")
    return Layer(h, _str_field(o, "uri"), _entities(o, "headers", _str_list))


def layer_from_obj(obj: object, path: str = "layer") -> Layer:
    """A ``Layer`` from its decoded JSON object."""
    return _public(_layer, obj, path)


def layer_to_obj(layer: Layer) -> Obj:
    """claircore's Layer JSON: hash, uri and headers (``null`` when None)."""
    hs = layer.headers
    headers = None if hs is None else {k: hs[k] for k in sorted(hs)}
    return {"hash": layer.hash, "uri": layer.uri, "headers": headers}


def _manifest(o: object) -> Manifest:
    if type(o) is not dict:
        raise _Bad("", f"manifest: expected a JSON object, got {_tname(o)}")
    h = _hash(o, "manifest")
    return Manifest(h, _array(o, "layers", _layer) or [])


def manifest_from_obj(obj: object) -> Manifest:
    """A ``Manifest`` from its decoded JSON object (``null`` layers become ``[]``)."""
    return _public(_manifest, obj)


def manifest_to_obj(m: Manifest) -> Obj:
    """claircore's Manifest JSON."""
    return {"hash": m.hash, "layers": [layer_to_obj(x) for x in m.layers]}


# --- Vulnerability -------------------------------------------------------------------------------


def _alias(v: object) -> Alias:
    if v is None:
        return Alias()
    if type(v) is not dict:
        _need_obj(v)
    return Alias(_str_field(v, "space"), _str_field(v, "name"))


def _range(v: object) -> Range:
    if type(v) is not dict:
        _need_obj(v)
    # the bounds' keys are "[" and ")", so their paths read range["["] and range[")"]
    return Range(_version(v.get("["), '["["]'), _version(v.get(")"), '[")"]'))


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
    arch_op = ArchOp.from_text(_scalar(o.get("arch_op"), "arch_op", ""))
    # decoded in this order so that the first problem reported stays the same
    pkg = _optional(o, "package", _package)
    dist = _optional(o, "distribution", _distribution)
    repo = _optional(o, "repository", _repository)
    aliases = _array(o, "Aliases", _alias)
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
        range=_optional(o, "range", _range),
        arch_op=arch_op,
        self=_optional(o, "Self", _alias) or Alias(),
        aliases=aliases,
        invert=_scalar(o.get("Invert"), "Invert", False),
    )


def vulnerability_from_obj(obj: object, path: str = "") -> Vulnerability:
    """A ``Vulnerability`` from its decoded JSON object (``"package": null`` is accepted)."""
    return _public(_vulnerability, obj, path)


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
    vulns = _entities(o, "vulnerabilities", _vulnerability) or {}
    manifests: dict[Digest, list[str]] = {}
    for k, ids in (_map_of(o, "vulnerable_manifests") or {}).items():
        where = f"vulnerable_manifests{_key(k)}"
        d = _digest(k, where)  # the key first: a bad key is the problem reported
        manifests[d] = _str_list(ids, "vulnerability IDs", where)
    return AffectedManifests(vulns, manifests)


def affected_manifests_from_obj(obj: object) -> AffectedManifests:
    """An ``AffectedManifests`` from its decoded JSON object."""
    return _public(_affected, obj)


# --- Documents: the entry points of Model.from_json / to_json --------------------------------


def decode_index_report(data: bytes | bytearray | memoryview | str) -> IndexReport:
    """An IndexReport from claircore's JSON."""
    return report_from_obj(loads(data, "index report"))


def encode_index_report(report: IndexReport) -> bytes:
    """claircore's JSON of an IndexReport."""
    return dumps(report_to_obj(report))


def decode_manifest(data: bytes | bytearray | memoryview | str) -> Manifest:
    """A Manifest from claircore's JSON."""
    return manifest_from_obj(loads(data, "manifest"))


def encode_manifest(manifest: Manifest) -> bytes:
    """claircore's JSON of a Manifest."""
    return dumps(manifest_to_obj(manifest))


def decode_vulnerability(data: bytes | bytearray | memoryview | str) -> Vulnerability:
    """A Vulnerability from claircore's JSON."""
    return vulnerability_from_obj(loads(data, "vulnerability"))


def encode_vulnerability(vulnerability: Vulnerability) -> bytes:
    """claircore's JSON of a Vulnerability."""
    return dumps(vulnerability_to_obj(vulnerability))


def decode_affected_manifests(data: bytes | bytearray | memoryview | str) -> AffectedManifests:
    """libindex's AffectedManifests from its JSON."""
    return affected_manifests_from_obj(loads(data, "affected manifests"))


def encode_affected_manifests(affected: AffectedManifests) -> bytes:
    """libindex's JSON of an AffectedManifests."""
    return dumps(affected_manifests_to_obj(affected))


# the models' from_json/to_json go through these entry points (they cannot import this module)
json_codec.register(sys.modules[__name__])
