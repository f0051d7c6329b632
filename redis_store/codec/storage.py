"""How entities, artifacts and reports are laid out as Redis values.

Dictionary values are ``identity hash (16 bytes) + JSON array of fields``: the identity
hash is the field name in the ``ids`` hash, so the natural key is never stored twice, and
Lua can reclaim both entries from the value alone. Reports are claircore JSON compressed
with zlib and a preset dictionary of claircore's recurring JSON fragments.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from typing import Final

import orjson
import zstandard

from redis_store.errors import InvalidInputError
from redis_store.models import (
    Distribution,
    File,
    IndexReport,
    Package,
    PackageKind,
    Repository,
    Version,
    package_identity,
    repository_identity,
)

HASH_BYTES: Final = 16

#: First byte of a stored report: the encoding version. Raw claircore JSON, or compressed
#: (zlib, written before zstd; zstd: as fast to write as raw, as small as zlib's level 6).
REPORT_RAW: Final = b"\x00"
REPORT_ZLIB: Final = b"\x01"
REPORT_ZSTD: Final = b"\x02"
#: zstd's level: 1 is several times faster than zlib's level 6 with the same dictionary and
#: compresses the shared and workload reports as well (``scripts/report_codec_bench.py``).
ZSTD_LEVEL: Final = 1

#: Fragments that recur in every claircore report; a zlib preset dictionary lets even a
#: small report compress well. Changing it needs a new REPORT_* version byte.
_ZDICT: Final = (
    b'"repository_ids":null}],"distribution_id":"","introduced_in":"sha256:'
    b'"package_db":"var/lib/dpkg/status","package_db":"bdb:var/lib/rpm",'
    b'"package_db":"go:","repository_ids":[","kind":"source","kind":"binary",'
    b'"normalized_version":"","module":"","cpe":"","detector":null},'
    b'"normalized_version":"semver:0.","normalized_version":"pep440:0.'
    b'"detector":"urn:claircore:detector:rhel-package-scanner:1:package"'
    b'"detector":"urn:claircore:detector:dpkg:7:package"'
    b'"detector":"urn:claircore:detector:gobin:5:package"'
    b'"arch":"x86_64","arch":"noarch","arch":"amd64","arch":"all",'
    b'"cpe":"cpe:2.3:o:redhat:enterprise_linux:8:*:baseos:*:*:*:*:*",'
    b'"key":"rhel-cpe-repository","name":"go","uri":"https://pkg.go.dev/",'
    b'"pretty_name":"","version_code_name":"","version_id":"","did":"",'
    b'"source":{"id":"","name":"","version":"","kind":"source",'
    b'{"id":"","name":"","version":"","kind":"binary","source":{"id":"'
    b'"manifest_hash":"sha256:","state":"IndexFinished","packages":{"'
    b'"distributions":{"","repository":{"","environments":{"'
    b'"success":true,"err":""}'
)


_ZSTD_DICT: Final = zstandard.ZstdCompressionDict(_ZDICT, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
_ZSTD_DICT.precompute_compress(level=ZSTD_LEVEL)
#: zstd (de)compressors are not thread-safe: one of each per thread.
_zstd = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    c: zstandard.ZstdCompressor | None = getattr(_zstd, "c", None)
    if c is None:
        c = _zstd.c = zstandard.ZstdCompressor(level=ZSTD_LEVEL, dict_data=_ZSTD_DICT)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_zstd, "d", None)
    if d is None:
        d = _zstd.d = zstandard.ZstdDecompressor(dict_data=_ZSTD_DICT)
    return d


def identity_hash(identity: bytes) -> bytes:
    """The 16-byte key an entity's natural key is stored under."""
    return hashlib.blake2b(identity, digest_size=HASH_BYTES).digest()


def _value(identity: list[str], extra: list[str]) -> bytes:
    ident = orjson.dumps(identity)
    return identity_hash(ident) + orjson.dumps(identity + extra)


def package_value(p: Package) -> bytes:
    """Identity (name, version, kind, module, arch) + normalized version (first writer wins)."""
    return _value(list(package_identity(p)), [str(p.normalized_version)])


def fields_value(fields: tuple[str, str, str, str, str, str]) -> bytes:
    """:func:`package_value` from the fields themselves (name, version, kind, module,
    arch, normalized version text)."""
    return identity_hash(orjson.dumps(fields[:5])) + orjson.dumps(fields)


#: The source stored for a package without one: claircore's shared all-empty package.
ZERO_PACKAGE_VALUE: Final = _value(["", "", "", "", ""], [""])


def source_value(p: Package) -> bytes:
    """The value of a package's source, or of the shared zero package."""
    return ZERO_PACKAGE_VALUE if p.source is None else package_value(p.source)


def distribution_value(d: Distribution) -> bytes:
    """All eight fields are the identity (the CPE in its bound form)."""
    return _value(
        [d.did, d.name, d.version, d.version_code_name, d.version_id, d.arch, d.cpe, d.pretty_name],
        [],
    )


def repository_value(r: Repository) -> bytes:
    """Identity (name, key, uri) + CPE (first writer wins)."""
    return _value(list(repository_identity(r)), [r.cpe])


def file_value(f: File) -> bytes:
    return _value([f.path, str(f.kind)], [])


def _fields(value: bytes) -> list[str]:
    fields = orjson.loads(value[HASH_BYTES:])
    assert isinstance(fields, list)
    return fields


def package_name(value: bytes) -> str:
    """The name in a stored package row (it names the package's reverse-index key)."""
    name: str = orjson.loads(value[HASH_BYTES:])[0]
    return name


def decode_package(pid: str, value: bytes) -> Package:
    """A stored package row, without artifact data (source, detector, package_db ...)."""
    name, version, kind, module, arch, norm = _fields(value)
    return Package(
        id=pid,
        name=name,
        version=version,
        kind=_KINDS.get(kind, PackageKind.UNKNOWN),
        module=module,
        arch=arch,
        normalized_version=Version.parse(norm) if norm else Version(),
    )


def decode_source(pid: str, value: bytes) -> Package:
    """A source package as claircore reads it: its normalized version is never read back."""
    p = decode_package(pid, value)
    p.normalized_version = Version()
    return p


_KINDS: Final = {k.value: k for k in PackageKind}


def decode_distribution(entity_id: str, value: bytes) -> Distribution:
    f = _fields(value)
    return Distribution(
        id=entity_id,
        did=f[0],
        name=f[1],
        version=f[2],
        version_code_name=f[3],
        version_id=f[4],
        arch=f[5],
        cpe=f[6],
        pretty_name=f[7],
    )


def decode_repository(rid: str, value: bytes) -> Repository:
    f = _fields(value)
    return Repository(id=rid, name=f[0], key=f[1], uri=f[2], cpe=f[3])


def decode_file(_fid: str, value: bytes) -> File:
    f = _fields(value)
    return File(path=f[0], kind=f[1])


def artifact_tail(p: Package) -> bytes:
    """The part of a package artifact's identity the client supplies."""
    return orjson.dumps([p.package_db, p.repository_hint])


def encode_report(report: IndexReport) -> bytes:
    """claircore JSON, compressed once the report is finished: reports are most of a
    manifest's memory.

    A finished report is kept until the next index run, so it is compressed (zstd with the
    preset dictionary: about 15 times smaller). The controller overwrites the
    intermediate states within seconds, so they are stored as they are: compressing them
    would cost more time than the memory they hold for those seconds is worth.
    """
    return encode_report_json(report.to_json(), report.state)


def encode_report_json(data: bytes, state: str) -> bytes:
    """:func:`encode_report` of a report already in claircore's JSON."""
    if state != "IndexFinished":
        return REPORT_RAW + data
    return REPORT_ZSTD + _compressor().compress(data)


def report_json(blob: bytes) -> bytes:
    """The claircore JSON of a stored report."""
    version = blob[:1]
    if version == REPORT_ZSTD:
        return _decompressor().decompress(blob[1:])
    if version == REPORT_RAW:
        return blob[1:]
    if version != REPORT_ZLIB:
        raise InvalidInputError(f"stored report has unknown encoding {version!r}")
    d = zlib.decompressobj(-15, _ZDICT)
    return d.decompress(blob[1:]) + d.flush()


def decode_report(blob: bytes) -> IndexReport:
    """Inverse of :func:`encode_report`."""
    return IndexReport.from_json(report_json(blob))
