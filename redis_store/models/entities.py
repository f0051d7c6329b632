"""claircore's indexer data model as slotted dataclasses.

Field names are claircore's JSON names in snake_case (except ``IndexReport.hash`` for
``manifest_hash`` and ``IndexReport.repositories`` for ``repository``). Constructors normalise
what has one canonical form (digests, CPEs, package kinds) so that equal things compare equal;
they do not otherwise type-check, to keep decoding a large report cheap. The JSON methods call
the codec's named entry points through :mod:`redis_store.models.json_codec`, where the codec
registers itself: the codec builds these classes, so the dependency runs one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Final, Protocol

from redis_store.errors import InvalidInputError
from redis_store.models.cpe import canonical_cpe
from redis_store.models.digest import Digest, as_digest
from redis_store.models.json_codec import codec
from redis_store.models.version import ZERO_VERSION, ArchOp, Range, Severity, Version

__all__ = [
    "DETECTOR_URN_PREFIX",
    "AffectedManifests",
    "Alias",
    "Detector",
    "Distribution",
    "Environment",
    "File",
    "IndexRecord",
    "IndexReport",
    "Layer",
    "Manifest",
    "Package",
    "PackageKind",
    "Repository",
    "Scanner",
    "VersionedScanner",
    "Vulnerability",
]

DETECTOR_URN_PREFIX: Final = "urn:claircore:detector:"


class PackageKind(StrEnum):
    """claircore's ``PackageKind``; the value is its stored text (``UNKNOWN`` is ``""``).

    :meth:`from_text` accepts exactly claircore's names (``"unknown"`` included) and maps
    anything else to ``UNKNOWN``. claircore's decoder does a substring search instead, which
    also accepts fragments (``"bin"`` is binary) and panics on some (``"own"``).
    """

    UNKNOWN = ""
    SOURCE = "source"
    BINARY = "binary"
    LAYER = "layer"
    ANCESTRY = "ancestry"

    @classmethod
    def from_text(cls, text: object) -> PackageKind:
        """The kind named ``text`` (claircore's names), else ``UNKNOWN``."""
        if type(text) is PackageKind:
            return text
        if isinstance(text, str):
            return _KINDS.get(text, PackageKind.UNKNOWN)
        if text is None:
            return PackageKind.UNKNOWN
        raise InvalidInputError(f"package kind: expected a string, got {type(text).__name__}")


_KINDS: Final[dict[str, PackageKind]] = {k.value: k for k in PackageKind}
_KINDS["unknown"] = PackageKind.UNKNOWN


@dataclass(frozen=True, slots=True)
class Detector:
    """The scanner that produced a package artifact; JSON is its URN string."""

    name: str
    version: str
    kind: str

    @property
    def urn(self) -> str:
        """``urn:claircore:detector:name:version:kind``.

        Raises :class:`InvalidInputError` when a part contains ``:``: claircore writes such
        a URN but can never read it back, so it is refused before it is stored.
        """
        if ":" in self.name or ":" in self.version or ":" in self.kind:
            raise InvalidInputError(
                f"detector {self.name!r}/{self.version!r}/{self.kind!r}: a ':' in name, version"
                " or kind makes the URN undecodable"
            )
        return f"{DETECTOR_URN_PREFIX}{self.name}:{self.version}:{self.kind}"

    @classmethod
    def from_urn(cls, urn: str) -> Detector:
        """Parse a detector URN: the prefix and exactly three ``:``-separated parts."""
        if type(urn) is not str:
            raise InvalidInputError(f"detector: expected a URN string, got {type(urn).__name__}")
        return _detector_from_urn(urn)


@lru_cache(maxsize=1024)
def _detector_from_urn(urn: str) -> Detector:
    if not urn.startswith(DETECTOR_URN_PREFIX):
        raise InvalidInputError(f"invalid detector uri {urn!r}: missing {DETECTOR_URN_PREFIX}")
    parts = urn[len(DETECTOR_URN_PREFIX) :].split(":")
    if len(parts) != 3:
        raise InvalidInputError(
            f"invalid detector uri {urn!r}: want 3 parts name:version:kind, got {len(parts)}"
        )
    return Detector(parts[0], parts[1], parts[2])


class Scanner(Protocol):
    """What the store needs of a scanner: its identity, three strings. Every method that
    takes scanners accepts any such object (claircore's scanners, :class:`VersionedScanner`)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def kind(self) -> str: ...


@dataclass(frozen=True, slots=True)
class VersionedScanner:
    """A scanner's identity: the exact (name, version, kind) triple."""

    name: str
    version: str
    kind: str


@dataclass(slots=True)
class Package:
    """A package as claircore's ``Package``.

    ``package_db``, ``filepath`` and ``repository_hint`` are never serialised (claircore's
    ``json:"-"``). ``cpe`` holds the canonical bound form; ``kind`` is coerced from text.
    """

    id: str = ""
    name: str = ""
    version: str = ""
    kind: PackageKind = PackageKind.UNKNOWN
    source: Package | None = None
    package_db: str = ""
    filepath: str = ""
    repository_hint: str = ""
    normalized_version: Version = ZERO_VERSION
    module: str = ""
    arch: str = ""
    cpe: str = ""
    detector: Detector | None = None

    def __post_init__(self) -> None:
        if type(self.kind) is not PackageKind:
            self.kind = PackageKind.from_text(self.kind)
        if self.cpe:
            self.cpe = canonical_cpe(self.cpe)


@dataclass(slots=True)
class Distribution:
    """An OS distribution; every field is part of its identity (``cpe`` in bound form)."""

    id: str = ""
    did: str = ""
    name: str = ""
    version: str = ""
    version_code_name: str = ""
    version_id: str = ""
    arch: str = ""
    cpe: str = ""
    pretty_name: str = ""

    def __post_init__(self) -> None:
        if self.cpe:
            self.cpe = canonical_cpe(self.cpe)


@dataclass(slots=True)
class Repository:
    """A package repository; identity is (name, key, uri), ``cpe`` is first-writer-wins."""

    id: str = ""
    name: str = ""
    key: str = ""
    uri: str = ""
    cpe: str = ""

    def __post_init__(self) -> None:
        if self.cpe:
            self.cpe = canonical_cpe(self.cpe)


@dataclass(slots=True)
class Environment:
    """Where a package was found: its database, layer, distribution and repositories.

    ``repository_ids`` keeps the difference between ``None`` (JSON ``null``) and ``[]``.
    ``introduced_in`` ``None`` is claircore's zero digest (JSON ``""``).
    """

    package_db: str = ""
    introduced_in: Digest | None = None
    distribution_id: str = ""
    repository_ids: list[str] | None = None

    def __post_init__(self) -> None:
        ii = self.introduced_in
        if ii is not None and type(ii) is not Digest:
            self.introduced_in = as_digest(ii, "introduced_in")


@dataclass(frozen=True, slots=True)
class File:
    """A file a scanner recorded in a layer (claircore's only kind is ``"whiteout"``)."""

    path: str
    kind: str


@dataclass(slots=True)
class Layer:
    """A layer as the store sees it: its digest (``uri``/``headers`` are deprecated extras)."""

    hash: Digest
    uri: str = ""
    headers: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        if type(self.hash) is not Digest:
            self.hash = as_digest(self.hash, "layer.hash")


@dataclass(slots=True)
class Manifest:
    """An image manifest: its digest and layers bottom to top (a layer may repeat).

    Layers may be given as ``Layer``, ``Digest`` or digest ``str``; they are kept as ``Layer``.
    """

    hash: Digest
    layers: list[Layer] = field(default_factory=list)

    def __post_init__(self) -> None:
        if type(self.hash) is not Digest:
            self.hash = as_digest(self.hash, "manifest.hash")
        layers = self.layers
        for i, layer in enumerate(layers):
            if type(layer) is not Layer:
                if isinstance(layer, Layer):
                    continue
                layers[i] = Layer(as_digest(layer, f"manifest.layers[{i}]"))

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> Manifest:
        """Decode claircore's JSON; bad input raises with the offending field's path."""
        return codec().decode_manifest(data)

    def to_json(self) -> bytes:
        """claircore's JSON, key order and omissions included."""
        return codec().encode_manifest(self)


@dataclass(slots=True)
class IndexRecord:
    """One (package, distribution, repository) triple of a report; never serialised."""

    package: Package | None = None
    distribution: Distribution | None = None
    repository: Repository | None = None


@dataclass(slots=True)
class IndexReport:
    """claircore's ``IndexReport``.

    The four maps default to empty dicts (what claircore's controller starts with); ``None``
    is JSON ``null``. ``files`` is never serialised (claircore's ``json:"-"``). ``hash``
    ``None`` is claircore's zero digest, written as ``""`` (which nothing can decode back).
    """

    hash: Digest | None = None
    state: str = ""
    packages: dict[str, Package] | None = field(default_factory=dict)
    distributions: dict[str, Distribution] | None = field(default_factory=dict)
    repositories: dict[str, Repository] | None = field(default_factory=dict)
    environments: dict[str, list[Environment]] | None = field(default_factory=dict)
    success: bool = False
    err: str = ""
    files: dict[str, dict[str, str]] | None = None

    def __post_init__(self) -> None:
        h = self.hash
        if h is not None and type(h) is not Digest:
            self.hash = as_digest(h, "manifest_hash")

    def index_records(self) -> list[IndexRecord]:
        """claircore's ``IndexRecords()``, iterating ``packages`` in dict order.

        Each environment of a package (looked up by the package's own ``id``, not its map
        key) gives one record per repository ID, or one record without repository when it
        has none; IDs missing from the maps become ``None`` members.
        """
        out: list[IndexRecord] = []
        if not self.packages or not self.environments:
            return out
        envs_by_pkg = self.environments
        dists = self.distributions or {}
        repos = self.repositories or {}
        for pkg in self.packages.values():
            envs = envs_by_pkg.get(pkg.id)
            if not envs:
                continue
            for env in envs:
                dist = dists.get(env.distribution_id)
                rids = env.repository_ids
                if not rids:
                    out.append(IndexRecord(pkg, dist, None))
                    continue
                for rid in rids:
                    out.append(IndexRecord(pkg, dist, repos.get(rid)))
        return out

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> IndexReport:
        """Decode claircore's JSON; bad input raises with the offending field's path."""
        return codec().decode_index_report(data)

    def to_json(self) -> bytes:
        """claircore's JSON, key order and omissions included."""
        return codec().encode_index_report(self)


@dataclass(frozen=True, slots=True)
class Alias:
    """Another identifier of the same vulnerability: namespace and name."""

    space: str = ""
    name: str = ""


_ZERO_TIME: Final = "0001-01-01T00:00:00Z"


@dataclass(slots=True)
class Vulnerability:
    """claircore's ``Vulnerability`` (the input of AffectedManifests).

    ``issued`` is kept as the RFC 3339 text given. ``self``, ``aliases`` and ``invert`` are
    claircore's untagged ``Self``, ``Aliases`` and ``Invert`` JSON fields.
    """

    id: str = ""
    updater: str = ""
    name: str = ""
    description: str = ""
    issued: str = _ZERO_TIME
    links: str = ""
    severity: str = ""
    normalized_severity: Severity = Severity.UNKNOWN
    package: Package | None = None
    distribution: Distribution | None = None
    repository: Repository | None = None
    fixed_in_version: str = ""
    range: Range | None = None
    arch_op: ArchOp = ArchOp.INVALID
    self: Alias = field(default_factory=Alias)
    aliases: list[Alias] | None = None
    invert: bool = False

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> Vulnerability:
        """Decode claircore's JSON; bad input raises with the offending field's path."""
        return codec().decode_vulnerability(data)

    def to_json(self) -> bytes:
        """claircore's JSON, key order and omissions included."""
        return codec().encode_vulnerability(self)


@dataclass(slots=True)
class AffectedManifests:
    """libindex's ``AffectedManifests``: vulnerabilities by ID, and their IDs per manifest."""

    vulnerabilities: dict[str, Vulnerability] = field(default_factory=dict)
    vulnerable_manifests: dict[Digest, list[str]] = field(default_factory=dict)

    def add(self, vulnerability: Vulnerability, *digests: Digest | str) -> None:
        """Record ``vulnerability`` as affecting ``digests`` (claircore's ``Add``)."""
        self.vulnerabilities[vulnerability.id] = vulnerability
        for d in digests:
            key = as_digest(d, "digest")
            self.vulnerable_manifests.setdefault(key, []).append(vulnerability.id)

    def sort(self) -> None:
        """Order each manifest's IDs by normalized severity, most severe first (stable)."""
        vulns = self.vulnerabilities

        def severity(vid: str) -> int:
            v = vulns.get(vid)
            return int(v.normalized_severity) if v is not None else 0

        for ids in self.vulnerable_manifests.values():
            ids.sort(key=severity, reverse=True)

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> AffectedManifests:
        """Decode claircore's JSON; bad input raises with the offending field's path."""
        return codec().decode_affected_manifests(data)

    def to_json(self) -> bytes:
        """claircore's JSON, key order and omissions included."""
        return codec().encode_affected_manifests(self)
