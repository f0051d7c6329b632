"""Input checks shared by every store method: clear errors before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, TypeVar

import orjson

from redis_store.errors import DigestError, InvalidInputError
from redis_store.models import (
    Alias,
    ArchOp,
    Detector,
    Digest,
    Distribution,
    Environment,
    File,
    IndexReport,
    Layer,
    Manifest,
    Package,
    PackageKind,
    Range,
    Repository,
    Severity,
    Version,
    Vulnerability,
    canonical_cpe,
)

T = TypeVar("T")
_U64_MAX: Final = 2**64 - 1
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def digest(value: object, what: str) -> Digest:
    """A manifest or layer argument as a canonical Digest (Layer and Manifest accepted)."""
    if type(value) is Digest:
        return value
    if isinstance(value, Layer | Manifest):
        value = value.hash
    if isinstance(value, str):
        try:
            return Digest(value)
        except DigestError as e:
            raise DigestError(f"{what}: {e}") from None
    raise DigestError(f"{what}: expected a digest string, got {type(value).__name__}")


def scanner_identity(scanner: object, what: str) -> bytes:
    """The registry key of a scanner: any object with str name, version and kind."""
    try:
        fields = [scanner.name, scanner.version, scanner.kind]  # type: ignore[attr-defined]
    except AttributeError:
        raise InvalidInputError(
            f"{what}: a scanner needs name, version and kind, got {type(scanner).__name__}"
        ) from None
    if not all(isinstance(f, str) for f in fields):
        raise InvalidInputError(f"{what}: scanner name, version and kind must be strings")
    for name, value in zip(("name", "version", "kind"), fields, strict=True):
        text(value, f"{what}.{name}")
    return orjson.dumps([str.__str__(f) for f in fields])


def scanner_identities(scanners: object, what: str = "scanners") -> list[bytes]:
    items = sequence(scanners, what)
    return [scanner_identity(s, f"{what}[{i}]") for i, s in enumerate(items)]


def sequence(value: object, what: str) -> list[Any]:
    """Any iterable but a string, as a list."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInputError(f"{what}: expected a list, got {type(value).__name__}")
    return list(value)


def items_of(value: object, cls: type[T], what: str) -> list[T]:
    """A list whose every element is a ``cls``."""
    items = sequence(value, what)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise InvalidInputError(
                f"{what}[{i}]: expected {cls.__name__}, got {type(item).__name__}"
            )
    return items


def entity_id(value: object, what: str) -> int:
    """An ID the store assigned: a decimal string of a non-zero unsigned 64-bit integer."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise InvalidInputError(f"{what}: {value!r} is not an ID this store assigned")
    n = int(value)
    if n == 0 or n > _U64_MAX:
        raise InvalidInputError(f"{what}: {value!r} is not an ID this store assigned")
    return n


def text(value: object, what: str) -> str:
    """A string the store can write and read back: a ``str`` that encodes as UTF-8 (no lone
    surrogates, which neither Redis' clients nor JSON can carry)."""
    if type(value) is not str:
        if isinstance(value, str):
            return text(str.__str__(value), what)
        raise InvalidInputError(f"{what}: expected a string, got {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(f"{what}: not valid Unicode (a lone surrogate)") from None
    return value


def _texts(obj: object, names: tuple[str, ...], what: str) -> None:
    for name in names:
        text(getattr(obj, name), f"{what}.{name}")


def _cpe(value: object, what: str) -> None:
    cpe = text(value, what)
    if cpe:
        try:
            canonical_cpe(cpe)
        except (InvalidInputError, ValueError) as e:
            raise InvalidInputError(f"{what}: {e}") from None


def _detector(value: object, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, Detector):
        raise InvalidInputError(f"{what}: expected Detector or None, got {type(value).__name__}")
    _texts(value, ("name", "version", "kind"), what)
    if any(":" in f for f in (value.name, value.version, value.kind)):
        raise InvalidInputError(
            f"{what}: a ':' in a detector's name, version or kind would make the stored"
            " report unreadable"
        )


def _version(value: object, what: str) -> None:
    if not isinstance(value, Version):
        raise InvalidInputError(f"{what}: expected Version, got {type(value).__name__}")
    kind = text(value.kind, f"{what}.kind")
    if ":" in kind:
        raise InvalidInputError(f"{what}.kind: a ':' would make the version unreadable")
    if not isinstance(value.v, tuple) or not all(type(x) is int for x in value.v):
        raise InvalidInputError(f"{what}: components must be integers")
    if value.v and not all(_INT32_MIN <= x <= _INT32_MAX for x in value.v):
        raise InvalidInputError(f"{what}: a component is not an int32")


#: The package kinds the store writes and reads back as they are (claircore's names).
_KIND_VALUES: Final = frozenset(k.value for k in PackageKind)

_PACKAGE_TEXTS: Final = (
    "id",
    "name",
    "version",
    "package_db",
    "filepath",
    "repository_hint",
    "module",
    "arch",
)


def _fine(x: object) -> bool:
    """A plain string that encodes (the check every field makes, without a message)."""
    if type(x) is not str:
        return False
    if x.isascii():
        return True
    try:
        x.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _cpe_fine(cpe: object) -> bool:
    if cpe == "":
        return True
    if not _fine(cpe):
        return False
    try:
        canonical_cpe(cpe)  # type: ignore[arg-type]  # a str: just checked
    except (InvalidInputError, ValueError):
        return False
    return True


def _all_fine(*texts: object) -> bool:
    """Whether every one is a string that encodes: one join and one check for them all."""
    try:
        joined = "".join(texts)  # type: ignore[arg-type]  # a non-string raises TypeError
    except TypeError:
        return False
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _package_fine(p: object, nested: bool = False) -> bool:
    """Whether :func:`package` would accept ``p``: the hot path, no message built."""
    if type(p) is not Package:
        return False
    kind = p.kind
    if not _all_fine(
        p.id,
        p.name,
        p.version,
        p.package_db,
        p.filepath,
        p.repository_hint,
        p.module,
        p.arch,
        kind,
        p.cpe,
    ):
        return False
    if p.cpe and not _cpe_fine(p.cpe):
        return False
    if kind not in _KIND_VALUES:
        return False
    nv = p.normalized_version
    if type(nv) is not Version or ":" in nv.kind:
        return False
    det = p.detector
    if det is not None and (
        type(det) is not Detector
        or not _all_fine(det.name, det.version, det.kind)
        or ":" in det.name
        or ":" in det.version
        or ":" in det.kind
    ):
        return False
    src = p.source
    return src is None or (not nested and _package_fine(src, True))


def _environment_fine(e: object) -> bool:
    if type(e) is not Environment:
        return False
    ids = e.repository_ids
    return (
        type(e.introduced_in) is Digest
        and _all_fine(e.package_db, e.distribution_id)
        and (ids is None or (type(ids) is list and _all_fine(*ids)))
    )


def _report_fine(r: IndexReport) -> bool:
    if type(r.hash) is not Digest or not (_fine(r.state) and _fine(r.err)):
        return False
    if type(r.success) is not bool:
        return False
    packages, envs = r.packages, r.environments
    if packages is not None:
        if type(packages) is not dict:
            return False
        for k, p in packages.items():
            if not (_fine(k) and _package_fine(p)):
                return False
    for entities, fine in ((r.distributions, _distribution_fine), (r.repositories, _repo_fine)):
        if entities is not None:
            if type(entities) is not dict:
                return False
            for k, x in entities.items():
                if not (_fine(k) and fine(x)):
                    return False
    if envs is not None:
        if type(envs) is not dict:
            return False
        for k, es in envs.items():
            if not _fine(k) or (es is not None and type(es) is not list):
                return False
            for e in es or ():
                if not _environment_fine(e):
                    return False
    return True


def _distribution_fine(d: object) -> bool:
    return (
        type(d) is Distribution
        and all(
            _fine(x)
            for x in (d.id, d.did, d.name, d.version, d.version_code_name, d.version_id, d.arch)
        )
        and _fine(d.pretty_name)
        and _cpe_fine(d.cpe)
    )


def _repo_fine(r: object) -> bool:
    return (
        type(r) is Repository and _all_fine(r.id, r.name, r.key, r.uri, r.cpe) and _cpe_fine(r.cpe)
    )


def package(value: object, what: str, *, nested: bool = False) -> Package:
    """A package whose every field the store can write and read back."""
    if _package_fine(value, nested):
        return value  # type: ignore[return-value]  # _package_fine checked its type
    if not isinstance(value, Package):
        raise InvalidInputError(f"{what}: expected Package, got {type(value).__name__}")
    _texts(value, _PACKAGE_TEXTS, what)
    if not isinstance(value.kind, str):
        raise InvalidInputError(f"{what}.kind: expected a string, got {type(value.kind).__name__}")
    if text(value.kind, f"{what}.kind") not in _KIND_VALUES:
        raise InvalidInputError(
            f"{what}.kind: {value.kind!r} is not a package kind the store keeps"
            f" (one of {', '.join(repr(k) for k in sorted(_KIND_VALUES))})"
        )
    _version(value.normalized_version, f"{what}.normalized_version")
    _cpe(value.cpe, f"{what}.cpe")
    _detector(value.detector, f"{what}.detector")
    if value.source is not None:
        if nested:
            raise InvalidInputError(f"{what}.source: a source has no source of its own")
        package(value.source, f"{what}.source", nested=True)
    return value


def distribution(value: object, what: str) -> Distribution:
    if _distribution_fine(value):
        return value  # type: ignore[return-value]  # checked its type
    if not isinstance(value, Distribution):
        raise InvalidInputError(f"{what}: expected Distribution, got {type(value).__name__}")
    _texts(value, ("id", "did", "name", "version", "version_code_name", "version_id"), what)
    _texts(value, ("arch", "pretty_name"), what)
    _cpe(value.cpe, f"{what}.cpe")
    return value


def repository(value: object, what: str) -> Repository:
    if _repo_fine(value):
        return value  # type: ignore[return-value]  # checked its type
    if not isinstance(value, Repository):
        raise InvalidInputError(f"{what}: expected Repository, got {type(value).__name__}")
    _texts(value, ("id", "name", "key", "uri"), what)
    _cpe(value.cpe, f"{what}.cpe")
    return value


def file(value: object, what: str) -> File:
    if not isinstance(value, File):
        raise InvalidInputError(f"{what}: expected File, got {type(value).__name__}")
    _texts(value, ("path", "kind"), what)
    return value


def _mapping(value: object, what: str) -> dict[Any, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInputError(f"{what}: expected a dict or None, got {type(value).__name__}")
    for key in value:
        text(key, f"{what} key {key!r}")
    return value


def _environment(value: object, what: str) -> None:
    if not isinstance(value, Environment):
        raise InvalidInputError(f"{what}: expected Environment, got {type(value).__name__}")
    text(value.package_db, f"{what}.package_db")
    text(value.distribution_id, f"{what}.distribution_id")
    if not value.introduced_in:
        raise DigestError(f"{what}.introduced_in: missing layer digest")
    digest(value.introduced_in, f"{what}.introduced_in")
    ids = value.repository_ids
    if ids is not None:
        if not isinstance(ids, list):
            raise InvalidInputError(
                f"{what}.repository_ids: expected a list or None, got {type(ids).__name__}"
            )
        for i, rid in enumerate(ids):
            text(rid, f"{what}.repository_ids[{i}]")


def report(value: object, what: str = "report") -> IndexReport:
    """A report the store can keep: every field of the type claircore's decoder reads, so
    that whatever is written reads back."""
    if not isinstance(value, IndexReport):
        raise InvalidInputError(f"{what}: expected IndexReport, got {type(value).__name__}")
    if _report_fine(value):
        return value
    # something is wrong: find it, and name it
    if value.hash is None or value.hash == "":
        raise DigestError(f"{what}.hash: a report needs its manifest digest")
    digest(value.hash, f"{what}.hash")
    text(value.state, f"{what}.state")
    text(value.err, f"{what}.err")
    if type(value.success) is not bool:
        raise InvalidInputError(
            f"{what}.success: expected a bool, got {type(value.success).__name__}"
        )
    for key, pkg in (_mapping(value.packages, f"{what}.packages") or {}).items():
        package(pkg, f"{what}.packages[{key!r}]")
    for key, dist in (_mapping(value.distributions, f"{what}.distributions") or {}).items():
        distribution(dist, f"{what}.distributions[{key!r}]")
    for key, repo in (_mapping(value.repositories, f"{what}.repositories") or {}).items():
        repository(repo, f"{what}.repositories[{key!r}]")
    for key, envs in (_mapping(value.environments, f"{what}.environments") or {}).items():
        if envs is None:
            continue
        if not isinstance(envs, list):
            raise InvalidInputError(
                f"{what}.environments[{key!r}]: expected a list, got {type(envs).__name__}"
            )
        for i, env in enumerate(envs):
            _environment(env, f"{what}.environments[{key!r}][{i}]")
    if not _report_fine(value):  # a case the checks above do not name: still refused
        raise InvalidInputError(f"{what}: a field the store cannot write and read back")
    return value


_VULNERABILITY_TEXTS: Final = (
    "id",
    "updater",
    "name",
    "description",
    "issued",
    "links",
    "severity",
    "fixed_in_version",
)


def vulnerability(value: object, what: str = "vulnerability") -> Vulnerability:
    """A vulnerability AffectedManifests can answer: every field of the type claircore's
    decoder gives it (the matchers read them all), and a package with a name."""
    if not isinstance(value, Vulnerability):
        raise InvalidInputError(f"{what}: expected Vulnerability, got {type(value).__name__}")
    if value.package is None:
        raise InvalidInputError(f"{what}.package: a vulnerability needs a package")
    if not isinstance(value.package, Package):
        raise InvalidInputError(
            f"{what}.package: expected Package, got {type(value.package).__name__}"
        )
    if not isinstance(value.package.name, str) or not value.package.name:
        raise InvalidInputError(f"{what}.package.name: a vulnerability needs a package name")
    package(value.package, f"{what}.package")  # the name is sent to Redis as a key's part
    _texts(value, _VULNERABILITY_TEXTS, what)
    if value.distribution is not None:
        distribution(value.distribution, f"{what}.distribution")
    if value.repository is not None:
        repository(value.repository, f"{what}.repository")
    if value.range is not None:
        if not isinstance(value.range, Range):
            raise InvalidInputError(
                f"{what}.range: expected Range or None, got {type(value.range).__name__}"
            )
        _version(value.range.lower, f"{what}.range.lower")
        _version(value.range.upper, f"{what}.range.upper")
    for name, kind in (("normalized_severity", Severity), ("arch_op", ArchOp)):
        if not isinstance(getattr(value, name), kind):
            got = type(getattr(value, name)).__name__
            raise InvalidInputError(f"{what}.{name}: expected {kind.__name__}, got {got}")
    aliases = value.aliases
    if aliases is not None and not isinstance(aliases, list):
        raise InvalidInputError(
            f"{what}.aliases: expected a list or None, got {type(aliases).__name__}"
        )
    for i, alias in enumerate([value.self, *(aliases or ())]):
        where = f"{what}.self" if i == 0 else f"{what}.aliases[{i - 1}]"
        if not isinstance(alias, Alias):
            raise InvalidInputError(f"{where}: expected Alias, got {type(alias).__name__}")
        _texts(alias, ("space", "name"), where)
    if type(value.invert) is not bool:
        raise InvalidInputError(
            f"{what}.invert: expected a bool, got {type(value.invert).__name__}"
        )
    return value


def matchers(value: object) -> tuple[Any, ...]:
    """``matchers=``: each with the members a matcher has (name, query, filter, vulnerable)."""
    items = sequence(value, "matchers")
    for i, m in enumerate(items):
        if (
            not isinstance(getattr(m, "name", None), str)
            or isinstance(getattr(m, "query", None), str | bytes)
            or not isinstance(getattr(m, "query", None), Iterable)
            or not all(callable(getattr(m, f, None)) for f in ("filter", "vulnerable"))
        ):
            raise InvalidInputError(
                f"matchers[{i}]: a matcher needs name, query, filter and vulnerable,"
                f" got {type(m).__name__}"
            )
    return tuple(items)


def replayable(value: object, what: str = "report") -> IndexReport:
    """A report claircore's controller sequence can replay whole: one the store would accept
    (:func:`report`), with every package named (claircore's ``index_packages`` drops a
    nameless one, so the replay could not finish). Checked before the first write."""
    r = report(value, what)
    for pid, pkg in (r.packages or {}).items():
        if not pkg.name:
            raise InvalidInputError(f"{what}.packages[{pid!r}]: a package without a name")
    return r


def importable(value: IndexReport) -> None:
    """Raise :class:`InvalidInputError` (a ``ValueError``, naming the fault) unless
    ``value`` can be imported whole: a finished, successful index report that can be
    replayed (:func:`replayable`)."""
    if isinstance(value, IndexReport) and value.hash is None:
        raise InvalidInputError("report.manifest_hash: the report names no manifest")
    if isinstance(value, IndexReport) and not value.success:
        raise InvalidInputError(
            f"not a finished index report (state {value.state!r}, success false"
            + (f", err {value.err!r})" if value.err else ")")
        )
    replayable(value)
