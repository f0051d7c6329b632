"""The baseline: claircore's indexer store on PostgreSQL, re-stated in Python with psycopg 3.

The schema is the state claircore's nine indexer migrations leave behind
(``datastore/postgres/migrations/indexer/01..09``): the same tables, column order, unique
keys, foreign keys with their cascades (including the ``package_scanartifact`` quirk of two
foreign keys on ``package_id`` and none on ``source_id``), the redundant ``hash`` indexes of
migration 02 and the ``VersionRange`` type. Each method issues the statements claircore's
``datastore/postgres/*.go`` issue, in the same transactions and batches:

* a pgx batch is a psycopg ``executemany`` (pipeline mode: one round trip for the batch);
* statements outside a transaction run in autocommit, as on claircore's pool;
* ``AffectedManifests`` runs one query per applicable matcher with the values interpolated as
  literals (claircore builds it with goqu), then ``filter`` / ``vulnerable`` in Python with the
  project's matchers (:mod:`redis_store.matchers`), so both stores decide alike;
* ``DeleteManifests`` takes one transaction per digest with a try-advisory-lock keyed by
  FNV-1a 64 of the digest, then the cascades and the unused-layer cleanup.

Where this deliberately differs from claircore (documented in ``BENCHMARKS.md``):

* the scanner-ID cache is refreshed when ``register_scanners`` inserts a scanner
  (claircore fills it once per process; the benchmark registers every scanner first, as
  ``libindex.New`` does, so the cache never changes during a run);
* ``affected_manifests`` returns a sorted list, and a version a matcher cannot parse counts as
  not affected (as the Redis store does) instead of failing the call;
* errors are :class:`redis_store.errors.StoreError` subclasses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.adapt import Loader

from redis_store.errors import (
    InvalidInputError,
    LockError,
    MatcherError,
    StoreError,
    UnknownScannerError,
)
from redis_store.matchers import DEFAULT_MATCHERS, Constraint, Matcher, is_version_authoritative
from redis_store.models import (
    AffectedManifests,
    Detector,
    Digest,
    Distribution,
    File,
    IndexRecord,
    IndexReport,
    Layer,
    Manifest,
    Package,
    PackageKind,
    Repository,
    Version,
    Vulnerability,
)

#: claircore's indexer schema after migrations 01-09 (the final state, written out).
SCHEMA: Final = """
CREATE TABLE libindex_migrations (version integer PRIMARY KEY NOT NULL);
INSERT INTO libindex_migrations (version) SELECT generate_series(1, 9);

CREATE TABLE layer (hash text NOT NULL, id bigserial PRIMARY KEY);
CREATE INDEX ON layer (hash);
ALTER TABLE layer ADD CONSTRAINT layer_hash_unique UNIQUE (hash);

CREATE TABLE manifest (hash text NOT NULL, id bigserial PRIMARY KEY);
CREATE INDEX ON manifest (hash);
ALTER TABLE manifest ADD CONSTRAINT manifest_hash_unique UNIQUE (hash);

CREATE TABLE scanner (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  version text NOT NULL,
  kind text NOT NULL
);
CREATE UNIQUE INDEX scanner_unique_idx ON scanner (name, kind, version);

CREATE TABLE manifest_layer (
  i bigint,
  manifest_id bigint REFERENCES manifest (id) ON DELETE CASCADE,
  layer_id bigint REFERENCES layer (id) ON DELETE CASCADE,
  PRIMARY KEY (manifest_id, layer_id, i)
);
CREATE INDEX idx_manifest_layer_layer_id ON manifest_layer (layer_id);

CREATE TABLE scanned_manifest (
  scanner_id bigint REFERENCES scanner (id) ON DELETE CASCADE,
  manifest_id bigint REFERENCES manifest (id) ON DELETE CASCADE,
  PRIMARY KEY (manifest_id, scanner_id)
);

CREATE TABLE scanned_layer (
  scanner_id bigint REFERENCES scanner (id) ON DELETE CASCADE,
  layer_id bigint REFERENCES layer (id) ON DELETE CASCADE,
  PRIMARY KEY (layer_id, scanner_id)
);

CREATE TABLE scannerlist (
  id bigserial PRIMARY KEY,
  manifest_hash text,
  scanner_id bigint REFERENCES scanner (id) ON DELETE CASCADE
);
CREATE INDEX scannerlist_manifest_hash_idx ON scannerlist (manifest_hash);

CREATE TABLE indexreport (
  state text,
  scan_result jsonb,
  manifest_id bigint PRIMARY KEY REFERENCES manifest (id) ON DELETE CASCADE
);

CREATE TABLE dist (
  id bigserial PRIMARY KEY,
  name text NOT NULL DEFAULT '',
  did text NOT NULL DEFAULT '',
  version text NOT NULL DEFAULT '',
  version_code_name text NOT NULL DEFAULT '',
  version_id text NOT NULL DEFAULT '',
  arch text NOT NULL DEFAULT '',
  cpe text NOT NULL DEFAULT '',
  pretty_name text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX dist_unique_idx ON dist
  (name, did, version, version_code_name, version_id, arch, cpe, pretty_name);

CREATE TABLE dist_scanartifact (
  dist_id bigint CONSTRAINT dist_scanartifact_dist_id_fkey
    REFERENCES dist (id) ON DELETE CASCADE,
  scanner_id bigint CONSTRAINT dist_scanartifact_scanner_id_fkey
    REFERENCES scanner (id) ON DELETE CASCADE,
  layer_id bigint CONSTRAINT dist_scanartifact_layer_id_fkey
    REFERENCES layer (id) ON DELETE CASCADE,
  PRIMARY KEY (layer_id, scanner_id, dist_id)
);

CREATE TABLE package (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  kind text NOT NULL DEFAULT '',
  version text NOT NULL DEFAULT '',
  norm_kind text,
  norm_version integer[10],
  module text NOT NULL DEFAULT '',
  arch text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX package_unique_idx ON package (name, version, kind, module, arch);

-- Migration 04 dropped the source_id foreign key and re-created it on package_id: two
-- foreign keys on package_id, none on source_id.
CREATE TABLE package_scanartifact (
  package_id bigint,
  source_id bigint,
  scanner_id bigint CONSTRAINT package_scanartifact_scanner_id_fkey
    REFERENCES scanner (id) ON DELETE CASCADE,
  package_db text,
  repository_hint text,
  layer_id bigint CONSTRAINT package_scanartifact_layer_id_fkey
    REFERENCES layer (id) ON DELETE CASCADE,
  filepath text,
  PRIMARY KEY (layer_id, package_id, source_id, scanner_id, package_db, repository_hint)
);
ALTER TABLE package_scanartifact ADD CONSTRAINT package_scanartifact_package_id_fkey
  FOREIGN KEY (package_id) REFERENCES package (id) ON DELETE CASCADE;
ALTER TABLE package_scanartifact ADD CONSTRAINT package_scanartifact_source_id_fkey
  FOREIGN KEY (package_id) REFERENCES package (id) ON DELETE CASCADE;

CREATE TABLE repo (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  key text DEFAULT '',
  uri text DEFAULT '',
  cpe text DEFAULT ''
);
CREATE UNIQUE INDEX repo_unique_idx ON repo (name, key, uri);

CREATE TABLE repo_scanartifact (
  repo_id bigint CONSTRAINT repo_scanartifact_repo_id_fkey
    REFERENCES repo (id) ON DELETE CASCADE,
  scanner_id bigint CONSTRAINT repo_scanartifact_scanner_id_fkey
    REFERENCES scanner (id) ON DELETE CASCADE,
  layer_id bigint CONSTRAINT repo_scanartifact_layer_id_fkey
    REFERENCES layer (id) ON DELETE CASCADE,
  PRIMARY KEY (layer_id, repo_id, scanner_id)
);

CREATE TABLE manifest_index (
  id bigserial PRIMARY KEY,
  package_id bigint NOT NULL CONSTRAINT manifest_index_package_id_fkey
    REFERENCES package (id) ON DELETE CASCADE,
  dist_id bigint CONSTRAINT manifest_index_dist_id_fkey
    REFERENCES dist (id) ON DELETE CASCADE,
  repo_id bigint CONSTRAINT manifest_index_repo_id_fkey
    REFERENCES repo (id) ON DELETE CASCADE,
  manifest_id bigint CONSTRAINT manifest_index_manifest_id_fkey
    REFERENCES manifest (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX manifest_index_unique ON manifest_index
  (package_id, COALESCE(dist_id, 0), COALESCE(repo_id, 0), manifest_id);
CREATE INDEX idx_manifest_index_manifest_id ON manifest_index (manifest_id);

CREATE TABLE file (
  id bigserial PRIMARY KEY,
  path text NOT NULL,
  kind text NOT NULL
);
CREATE UNIQUE INDEX file_unique_idx ON file (path, kind);

CREATE TABLE file_scanartifact (
  file_id bigint REFERENCES file (id) ON DELETE CASCADE,
  scanner_id bigint REFERENCES scanner (id) ON DELETE CASCADE,
  layer_id bigint REFERENCES layer (id) ON DELETE CASCADE,
  PRIMARY KEY (layer_id, scanner_id, file_id)
);

CREATE TYPE VersionRange AS RANGE (SUBTYPE = integer[10]);
"""

#: Every table of the schema, for sizes and resets.
TABLES: Final = (
    "libindex_migrations",
    "layer",
    "manifest",
    "scanner",
    "manifest_layer",
    "scanned_manifest",
    "scanned_layer",
    "scannerlist",
    "indexreport",
    "dist",
    "dist_scanartifact",
    "package",
    "package_scanartifact",
    "repo",
    "repo_scanartifact",
    "manifest_index",
    "file",
    "file_scanartifact",
)

# -- statements (claircore's datastore/postgres/*.go) ---------------------------------------

_SCANNER_EXISTS: Final = (
    "SELECT EXISTS(SELECT 1 FROM scanner WHERE name = %s AND version = %s AND kind = %s)"
)
_SCANNER_INSERT: Final = (
    "INSERT INTO scanner (name, version, kind) VALUES (%s, %s, %s)"
    " ON CONFLICT (name, version, kind) DO NOTHING"
)
_SCANNER_ALL: Final = "SELECT id, name, version, kind FROM scanner"

_MANIFEST_INSERT: Final = "INSERT INTO manifest (hash) VALUES (%s) ON CONFLICT DO NOTHING"
_LAYER_INSERT: Final = "INSERT INTO layer (hash) VALUES (%s) ON CONFLICT DO NOTHING"
_MANIFEST_LAYER_INSERT: Final = """
WITH manifests AS (SELECT id AS manifest_id FROM manifest WHERE hash = %s),
     layers AS (SELECT id AS layer_id FROM layer WHERE hash = %s)
INSERT INTO manifest_layer (manifest_id, layer_id, i)
VALUES ((SELECT manifest_id FROM manifests), (SELECT layer_id FROM layers), %s)
ON CONFLICT DO NOTHING
"""

_PACKAGE_INSERT: Final = """
INSERT INTO package (name, kind, version, norm_kind, norm_version, module, arch)
VALUES (%s, %s, %s, %s, %s::int[], %s, %s)
ON CONFLICT (name, kind, version, module, arch) DO NOTHING
"""
_PACKAGE_ARTIFACT_INSERT: Final = """
WITH source_package AS (
  SELECT id AS source_id FROM package
  WHERE name = %s AND kind = %s AND version = %s AND module = %s AND arch = %s
), binary_package AS (
  SELECT id AS package_id FROM package
  WHERE name = %s AND kind = %s AND version = %s AND module = %s AND arch = %s
), scanner AS (
  SELECT id AS scanner_id FROM scanner WHERE name = %s AND version = %s AND kind = %s
), layer AS (
  SELECT id AS layer_id FROM layer WHERE layer.hash = %s
)
INSERT INTO package_scanartifact
  (layer_id, package_db, repository_hint, filepath, package_id, source_id, scanner_id)
VALUES ((SELECT layer_id FROM layer), %s, %s, %s, (SELECT package_id FROM binary_package),
        (SELECT source_id FROM source_package), (SELECT scanner_id FROM scanner))
ON CONFLICT DO NOTHING
"""

_DIST_INSERT: Final = """
INSERT INTO dist (name, did, version, version_code_name, version_id, arch, cpe, pretty_name)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (name, did, version, version_code_name, version_id, arch, cpe, pretty_name)
DO NOTHING
"""
_DIST_ARTIFACT_INSERT: Final = """
WITH distributions AS (
  SELECT id AS dist_id FROM dist
  WHERE name = %s AND did = %s AND version = %s AND version_code_name = %s
    AND version_id = %s AND arch = %s AND cpe = %s AND pretty_name = %s
), scanner AS (
  SELECT id AS scanner_id FROM scanner WHERE name = %s AND version = %s AND kind = %s
), layer AS (
  SELECT id AS layer_id FROM layer WHERE layer.hash = %s
)
INSERT INTO dist_scanartifact (layer_id, dist_id, scanner_id)
VALUES ((SELECT layer_id FROM layer), (SELECT dist_id FROM distributions),
        (SELECT scanner_id FROM scanner))
ON CONFLICT DO NOTHING
"""

_REPO_INSERT: Final = """
INSERT INTO repo (name, key, uri, cpe) VALUES (%s, %s, %s, %s)
ON CONFLICT (name, key, uri) DO NOTHING
"""
_REPO_ARTIFACT_INSERT: Final = """
WITH repositories AS (
  SELECT id AS repo_id FROM repo WHERE name = %s AND key = %s AND uri = %s
), scanner AS (
  SELECT id AS scanner_id FROM scanner WHERE name = %s AND version = %s AND kind = %s
), layer AS (
  SELECT id AS layer_id FROM layer WHERE layer.hash = %s
)
INSERT INTO repo_scanartifact (layer_id, repo_id, scanner_id)
VALUES ((SELECT layer_id FROM layer), (SELECT repo_id FROM repositories),
        (SELECT scanner_id FROM scanner))
ON CONFLICT DO NOTHING
"""

_FILE_LAYER_ID: Final = "SELECT id FROM layer WHERE hash = %s"
_FILE_SCANNER_ID: Final = (
    "SELECT id FROM scanner WHERE scanner.name = %s AND version = %s AND kind = %s"
)
_FILE_INSERT: Final = (
    "INSERT INTO file (path, kind) VALUES (%s, %s) ON CONFLICT (path, kind) DO NOTHING"
)
_FILE_ARTIFACT_INSERT: Final = """
INSERT INTO file_scanartifact (file_id, layer_id, scanner_id)
VALUES ((SELECT id FROM file WHERE file.path = %s AND file.kind = %s), %s, %s)
ON CONFLICT DO NOTHING
"""

_SET_LAYER_SCANNED: Final = """
WITH layer AS (SELECT id FROM layer WHERE hash = %s)
INSERT INTO scanned_layer (layer_id, scanner_id)
VALUES ((SELECT id AS layer_id FROM layer), %s)
ON CONFLICT (layer_id, scanner_id) DO NOTHING
"""
_LAYER_SCANNED: Final = """
SELECT EXISTS(
  SELECT 1 FROM layer JOIN scanned_layer ON scanned_layer.layer_id = layer.id
  WHERE layer.hash = %s AND scanned_layer.scanner_id = %s
)
"""
_MANIFEST_SCANNED: Final = """
SELECT scanner_id FROM scanned_manifest
  JOIN manifest ON scanned_manifest.manifest_id = manifest.id
WHERE manifest.hash = %s
"""

_UPSERT_REPORT: Final = """
WITH manifests AS (SELECT id AS manifest_id FROM manifest WHERE hash = %s)
INSERT INTO indexreport (manifest_id, scan_result)
VALUES ((SELECT manifest_id FROM manifests), %s)
ON CONFLICT (manifest_id) DO UPDATE SET scan_result = excluded.scan_result
"""
_INSERT_MANIFEST_SCANNED: Final = """
WITH manifests AS (SELECT id AS manifest_id FROM manifest WHERE hash = %s)
INSERT INTO scanned_manifest (manifest_id, scanner_id)
VALUES ((SELECT manifest_id FROM manifests), %s)
"""
_INDEX_REPORT: Final = """
SELECT scan_result FROM indexreport JOIN manifest ON manifest.hash = %s
WHERE indexreport.manifest_id = manifest.id
"""

_PACKAGES_BY_LAYER: Final = """
SELECT package.id, package.name, package.kind, package.version, package.norm_kind,
       package.norm_version, package.module, package.arch,
       source_package.id, source_package.name, source_package.kind, source_package.version,
       source_package.module, source_package.arch,
       package_scanartifact.package_db, package_scanartifact.repository_hint,
       package_scanartifact.filepath,
       scanner.name, scanner.version, scanner.kind
FROM package_scanartifact
  LEFT JOIN package ON package_scanartifact.package_id = package.id
  LEFT JOIN package AS source_package ON package_scanartifact.source_id = source_package.id
  JOIN layer ON layer.hash = %s
  JOIN scanner ON package_scanartifact.scanner_id = scanner.id
WHERE package_scanartifact.layer_id = layer.id
  AND package_scanartifact.scanner_id = ANY (%s)
"""
_DISTRIBUTIONS_BY_LAYER: Final = """
SELECT dist.id, dist.name, dist.did, dist.version, dist.version_code_name, dist.version_id,
       dist.arch, dist.cpe, dist.pretty_name
FROM dist_scanartifact
  LEFT JOIN dist ON dist_scanartifact.dist_id = dist.id
  JOIN layer ON layer.hash = %s
WHERE dist_scanartifact.layer_id = layer.id
  AND dist_scanartifact.scanner_id = ANY (%s)
"""
_REPOSITORIES_BY_LAYER: Final = """
SELECT repo.id, repo.name, repo.key, repo.uri, repo.cpe
FROM repo_scanartifact
  LEFT JOIN repo ON repo_scanartifact.repo_id = repo.id
  JOIN layer ON layer.hash = %s
WHERE repo_scanartifact.layer_id = layer.id
  AND repo_scanartifact.scanner_id = ANY (%s)
"""
_FILES_BY_LAYER: Final = """
SELECT file.path, file.kind
FROM file_scanartifact
  LEFT JOIN file ON file_scanartifact.file_id = file.id
  JOIN layer ON layer.hash = %s
WHERE file_scanartifact.layer_id = layer.id
  AND file_scanartifact.scanner_id = ANY (%s)
"""

_INDEX_MANIFEST: Final = """
WITH manifests AS (SELECT id AS manifest_id FROM manifest WHERE hash = %s)
INSERT INTO manifest_index (package_id, dist_id, repo_id, manifest_id)
VALUES (%s, %s, %s, (SELECT manifest_id FROM manifests))
ON CONFLICT DO NOTHING
"""

_TRY_LOCK: Final = "SELECT lock FROM pg_try_advisory_xact_lock(%s::bigint) lock WHERE lock = true"
_GET_MANIFEST_ID: Final = "SELECT id FROM manifest WHERE hash = %s"
_GET_LAYERS: Final = "SELECT layer_id FROM manifest_layer WHERE manifest_id = %s"
_DELETE_MANIFEST: Final = "DELETE FROM manifest WHERE id = %s"
_DELETE_LAYERS: Final = """
DELETE FROM layer WHERE id IN (
  SELECT l.id FROM layer l LEFT JOIN manifest_layer ml ON l.id = ml.layer_id
  WHERE l.id = %s AND ml.layer_id IS NULL
)
"""

# AffectedManifests: the columns and joins of claircore's goqu query.
_AFFECTED_SELECT: Final = """SELECT "manifest"."hash", "package"."name", "package"."version",
"package"."kind", "package"."norm_kind", "package"."norm_version", "package"."arch",
COALESCE("dist"."name", ''), COALESCE("dist"."did", ''), COALESCE("dist"."version", ''),
COALESCE("dist"."version_code_name", ''), COALESCE("dist"."version_id", ''),
COALESCE("dist"."arch", ''), COALESCE("dist"."cpe", ''), COALESCE("dist"."pretty_name", ''),
COALESCE("repo"."name", ''), COALESCE("repo"."key", ''), COALESCE("repo"."uri", ''),
COALESCE("repo"."cpe", '')
FROM "manifest_index"
INNER JOIN "package" ON ("manifest_index"."package_id" = "package"."id")
LEFT JOIN "repo" ON ("manifest_index"."repo_id" = "repo"."id")
LEFT JOIN "dist" ON ("manifest_index"."dist_id" = "dist"."id")
INNER JOIN "manifest" ON ("manifest_index"."manifest_id" = "manifest"."id")
WHERE """

_DIST_COLUMNS: Final = {
    Constraint.DISTRIBUTION_DID: ("did", "did"),
    Constraint.DISTRIBUTION_NAME: ("name", "name"),
    Constraint.DISTRIBUTION_VERSION_ID: ("version_id", "version_id"),
    Constraint.DISTRIBUTION_VERSION: ("version", "version"),
    Constraint.DISTRIBUTION_VERSION_CODE_NAME: ("version_code_name", "version_code_name"),
    Constraint.DISTRIBUTION_PRETTY_NAME: ("pretty_name", "pretty_name"),
    Constraint.DISTRIBUTION_CPE: ("cpe", "cpe"),
    Constraint.DISTRIBUTION_ARCH: ("arch", "arch"),
}
_REPO_COLUMNS: Final = {
    Constraint.REPOSITORY_NAME: ("name", "name"),
    Constraint.REPOSITORY_KEY: ("key", "key"),
}

_ZERO_PACKAGE: Final = Package()
_ZEROS: Final = (0,) * 10


class _RawJSON(Loader):
    """Load ``jsonb`` as its text bytes; the report codec decodes it (claircore unmarshals)."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


class _LockNotAcquired(Exception):
    """claircore's ``errLockFail``: the digest is being indexed; skip it."""


def fnv1a64(text: str) -> int:
    """claircore's ``dblock.Keyify``: FNV-1a 64 of the string, as a signed bigint."""
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h - (1 << 64) if h >= 1 << 63 else h


def _hash(value: Layer | Digest | str) -> str:
    return str(value.hash) if isinstance(value, Layer) else str(value)


def _ident(s: Any) -> tuple[str, str, str]:
    try:
        return (s.name, s.version, s.kind)
    except AttributeError:
        raise InvalidInputError(f"scanner: expected name, version and kind, got {s!r}") from None


def _norm(p: Package) -> tuple[str, list[int] | None]:
    nv = p.normalized_version
    return nv.kind, (list(nv.v) if nv.kind else None)


def _version(kind: str | None, v: list[int] | None) -> Version:
    if not kind and not v:
        return Version(kind or "")
    return Version(kind or "", tuple(v) if v else _ZEROS)


def _parse_id(text: str, what: str) -> int:
    try:
        n = int(text, 10)
    except (TypeError, ValueError):
        raise InvalidInputError(f"received a record with an invalid id: {what} {text!r}") from None
    if not 0 <= n < 1 << 64 or not text.isdigit():
        raise InvalidInputError(f"received a record with an invalid id: {what} {text!r}")
    return n


class PostgresStore:
    """claircore's indexer store on PostgreSQL (psycopg 3, synchronous)."""

    def __init__(
        self,
        conn: psycopg.Connection[Any] | str,
        *,
        create_schema: bool = True,
        matchers: Sequence[Matcher] | None = None,
    ) -> None:
        if isinstance(conn, str):
            conn = psycopg.connect(conn, autocommit=True, application_name="redis-store-bench")
        self.conn: psycopg.Connection[Any] = conn
        self.conn.autocommit = True
        self.conn.adapters.register_loader("jsonb", _RawJSON)
        self.matchers: tuple[Matcher, ...] = (
            DEFAULT_MATCHERS if matchers is None else tuple(matchers)
        )
        #: claircore's scanner cache: (name, version, kind) -> scanner ID.
        self._scanners: dict[tuple[str, str, str], int] | None = None
        #: (matcher, record) pairs whose version could not be parsed, by matcher name.
        self.undecided: Counter[str] = Counter()
        self._lock_conn: psycopg.Connection[Any] | None = None
        if create_schema:
            self.create_schema()

    # -- schema and maintenance ------------------------------------------------------------
    def create_schema(self) -> None:
        """Create claircore's schema unless ``libindex_migrations`` already says it exists."""
        exists = self.conn.execute("SELECT to_regclass('libindex_migrations') IS NOT NULL")
        row = exists.fetchone()
        if row is not None and row[0]:
            return
        with self.conn.transaction():
            self.conn.execute(SCHEMA)

    def drop_schema(self) -> None:
        """Drop every table and the range type (for tests and reruns)."""
        with self.conn.transaction():
            for t in reversed(TABLES):
                self.conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(t))
                )
            self.conn.execute("DROP TYPE IF EXISTS VersionRange")
        self._scanners = None

    def analyze(self) -> None:
        """``ANALYZE``, as autovacuum does on a live database."""
        self.conn.execute("ANALYZE")

    def settle(self) -> None:
        """Do now what autovacuum and the checkpointer would do in the next minutes
        (``VACUUM (ANALYZE)``, ``CHECKPOINT``), so that it does not run during a measurement."""
        self.conn.execute("VACUUM (ANALYZE)")
        with suppress(psycopg.errors.InsufficientPrivilege):
            self.conn.execute("CHECKPOINT")

    def storage(self, *, vacuum_full: bool = True) -> dict[str, int]:
        """``pg_total_relation_size`` (heap, TOAST and indexes) per table, after
        ``VACUUM FULL`` unless told otherwise."""
        if vacuum_full:
            self.conn.execute("VACUUM FULL")
        rows = self.conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(%s)",
            (list(TABLES),),
        ).fetchall()
        return {name: int(size) for name, size in sorted(rows)}

    def close(self) -> None:
        if self._lock_conn is not None:
            self._lock_conn.close()
        self.conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scanners --------------------------------------------------------------------------
    def _populate(self) -> dict[tuple[str, str, str], int]:
        rows = self.conn.execute(_SCANNER_ALL).fetchall()
        self._scanners = {(n, v, k): int(i) for i, n, v, k in rows}
        return self._scanners

    def _scanner_id(self, s: Any) -> int:
        cache = self._scanners if self._scanners is not None else self._populate()
        ident = _ident(s)
        sid = cache.get(ident)
        if sid is None:
            raise UnknownScannerError(f"failed to retrieve id for scanner {ident[0]!r}")
        return sid

    def register_scanners(self, scanners: Iterable[Any]) -> None:
        """Insert-if-absent, one statement each, no transaction (claircore's loop)."""
        inserted = False
        for s in scanners:
            ident = _ident(s)
            row = self.conn.execute(_SCANNER_EXISTS, ident).fetchone()
            if row is not None and row[0]:
                continue
            self.conn.execute(_SCANNER_INSERT, ident)
            inserted = True
        if self._scanners is None or inserted:
            self._populate()

    # -- manifests -------------------------------------------------------------------------
    def persist_manifest(self, manifest: Manifest) -> None:
        """One transaction: the manifest, each layer and each (manifest, layer, i) link."""
        m = str(manifest.hash)
        with self.conn.transaction():
            cur = self.conn.cursor()
            cur.execute(_MANIFEST_INSERT, (m,))
            for i, layer in enumerate(manifest.layers):
                cur.execute(_LAYER_INSERT, (str(layer.hash),))
                cur.execute(_MANIFEST_LAYER_INSERT, (m, str(layer.hash), i))

    def set_index_report(self, report: IndexReport) -> None:
        """Upsert the report's JSON (single statement)."""
        try:
            self.conn.execute(_UPSERT_REPORT, (str(report.hash or ""), report.to_json().decode()))
        except psycopg.errors.NotNullViolation as e:
            raise StoreError(f"failed to upsert index report: {e}") from None

    def set_index_finished(self, report: IndexReport, scanners: Iterable[Any]) -> None:
        """Record the scanners (plain inserts) and upsert the report, in one transaction."""
        ids = [self._scanner_id(s) for s in scanners]
        m = str(report.hash or "")
        blob = report.to_json().decode()
        try:
            with self.conn.transaction():
                cur = self.conn.cursor()
                for sid in ids:
                    cur.execute(_INSERT_MANIFEST_SCANNED, (m, sid))
                cur.execute(_UPSERT_REPORT, (m, blob))
        except psycopg.errors.IntegrityError as e:
            raise StoreError(f"failed to link manifest with scanner list: {e}") from None

    def manifest_scanned(self, manifest: Digest | str, scanners: Iterable[Any]) -> bool:
        """Whether every scanner is recorded for the manifest (True for no scanners)."""
        scanners = list(scanners)
        if not scanners:
            # claircore resolves an empty list through the cache, then finds nothing missing
            return True
        expected = [self._scanner_id(s) for s in scanners]
        found = {row[0] for row in self.conn.execute(_MANIFEST_SCANNED, (str(manifest),))}
        return all(i in found for i in expected)

    def index_report(self, manifest: Digest | str) -> IndexReport | None:
        """The stored report, decoded from its JSON, or None."""
        row = self.conn.execute(_INDEX_REPORT, (str(manifest),)).fetchone()
        if row is None or row[0] is None:
            return None
        return IndexReport.from_json(row[0])

    def index_report_json(self, manifest: Digest | str) -> bytes | None:
        """The stored report's JSON (``indexreport.scan_result`` as PostgreSQL writes
        ``jsonb`` out as text), or None, without building any object."""
        row = self.conn.execute(_INDEX_REPORT, (str(manifest),)).fetchone()
        if row is None or row[0] is None:
            return None
        return bytes(row[0])

    # -- layers ----------------------------------------------------------------------------
    def set_layer_scanned(self, layer: Layer | Digest | str, scanner: Any) -> None:
        sid = self._scanner_id(scanner)
        try:
            self.conn.execute(_SET_LAYER_SCANNED, (_hash(layer), sid))
        except psycopg.errors.NotNullViolation as e:
            raise StoreError(f"error setting layer scanned: {e}") from None

    def layer_scanned(self, layer: Layer | Digest | str, scanner: Any) -> bool:
        sid = self._scanner_id(scanner)
        row = self.conn.execute(_LAYER_SCANNED, (_hash(layer), sid)).fetchone()
        return bool(row and row[0])

    def _batches(
        self,
        what: str,
        first: list[tuple[Any, ...]],
        first_sql: str,
        second: list[tuple[Any, ...]],
        second_sql: str,
    ) -> None:
        """One transaction, two batches (claircore's ``batch`` then ``assocBatch``)."""
        try:
            with self.conn.transaction():
                cur = self.conn.cursor()
                if first:
                    cur.executemany(first_sql, first)
                if second:
                    cur.executemany(second_sql, second)
        except psycopg.errors.IntegrityError as e:
            raise StoreError(f"{what} failed: {e}") from None

    def index_packages(
        self, packages: Iterable[Package], layer: Layer | Digest | str, scanner: Any
    ) -> None:
        """Upsert each package and its source, then each scan artifact (skipping nameless)."""
        name, version, kind = _ident(scanner)
        lh = _hash(layer)
        batch: list[tuple[Any, ...]] = []
        assoc: list[tuple[Any, ...]] = []
        for p in packages:
            if not p.name:
                continue
            src = p.source if p.source is not None else _ZERO_PACKAGE
            for q in (src, p):
                nk, nv = _norm(q)
                batch.append((q.name, q.kind.value, q.version, nk, nv, q.module, q.arch))
            assoc.append(
                (
                    src.name, src.kind.value, src.version, src.module, src.arch,
                    p.name, p.kind.value, p.version, p.module, p.arch,
                    name, version, kind, lh,
                    p.package_db, p.repository_hint, p.filepath,
                )
            )  # fmt: skip
        self._batches("IndexPackages", batch, _PACKAGE_INSERT, assoc, _PACKAGE_ARTIFACT_INSERT)

    def index_distributions(
        self, distributions: Iterable[Distribution], layer: Layer | Digest | str, scanner: Any
    ) -> None:
        name, version, kind = _ident(scanner)
        lh = _hash(layer)
        rows = [
            (d.name, d.did, d.version, d.version_code_name, d.version_id, d.arch, d.cpe,
             d.pretty_name)
            for d in distributions
        ]  # fmt: skip
        assoc = [(*r, name, version, kind, lh) for r in rows]
        self._batches("IndexDistributions", rows, _DIST_INSERT, assoc, _DIST_ARTIFACT_INSERT)

    def index_repositories(
        self, repositories: Iterable[Repository], layer: Layer | Digest | str, scanner: Any
    ) -> None:
        name, version, kind = _ident(scanner)
        lh = _hash(layer)
        repos = list(repositories)
        rows = [(r.name, r.key, r.uri, r.cpe) for r in repos]
        assoc = [(r.name, r.key, r.uri, name, version, kind, lh) for r in repos]
        self._batches("IndexRepositories", rows, _REPO_INSERT, assoc, _REPO_ARTIFACT_INSERT)

    def index_files(self, files: Iterable[File], layer: Layer | Digest | str, scanner: Any) -> None:
        """Looks the layer and scanner up first, even for no files (claircore's IndexFiles)."""
        files = list(files)
        with self.conn.transaction():
            cur = self.conn.cursor()
            row = cur.execute(_FILE_LAYER_ID, (_hash(layer),)).fetchone()
            if row is None:
                raise StoreError(
                    "IndexFiles failed: failed look up layer ID: no rows in result set"
                )
            layer_id = row[0]
            row = cur.execute(_FILE_SCANNER_ID, _ident(scanner)).fetchone()
            if row is None:
                raise StoreError("IndexFiles failed: failed look up scanner ID: no rows")
            scanner_id = row[0]
            if files:
                cur.executemany(_FILE_INSERT, [(f.path, f.kind) for f in files])
                cur.executemany(
                    _FILE_ARTIFACT_INSERT, [(f.path, f.kind, layer_id, scanner_id) for f in files]
                )

    def packages_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Any]
    ) -> list[Package]:
        """One Package per artifact row of the scanners in the layer."""
        scanners = list(scanners)
        if not scanners:
            return []
        ids = [self._scanner_id(s) for s in scanners]
        out: list[Package] = []
        for r in self.conn.execute(_PACKAGES_BY_LAYER, (_hash(layer), ids)):
            src = Package(
                id=str(r[8]),
                name=r[9],
                kind=PackageKind.from_text(r[10]),
                version=r[11],
                module=r[12],
                arch=r[13],
            )
            out.append(
                Package(
                    id=str(r[0]),
                    name=r[1],
                    kind=PackageKind.from_text(r[2]),
                    version=r[3],
                    normalized_version=_version(r[4], r[5]),
                    module=r[6],
                    arch=r[7],
                    source=src,
                    package_db=r[14],
                    repository_hint=r[15],
                    filepath=r[16] or "",
                    detector=Detector(r[17], r[18], r[19]),
                )
            )
        return out

    def distributions_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Any]
    ) -> list[Distribution]:
        scanners = list(scanners)
        if not scanners:
            return []
        ids = [self._scanner_id(s) for s in scanners]
        return [
            Distribution(
                id=str(r[0]), name=r[1], did=r[2], version=r[3], version_code_name=r[4],
                version_id=r[5], arch=r[6], cpe=r[7], pretty_name=r[8],
            )
            for r in self.conn.execute(_DISTRIBUTIONS_BY_LAYER, (_hash(layer), ids))
        ]  # fmt: skip

    def repositories_by_layer(
        self, layer: Layer | Digest | str, scanners: Iterable[Any]
    ) -> list[Repository]:
        scanners = list(scanners)
        if not scanners:
            return []
        ids = [self._scanner_id(s) for s in scanners]
        return [
            Repository(id=str(r[0]), name=r[1], key=r[2] or "", uri=r[3] or "", cpe=r[4] or "")
            for r in self.conn.execute(_REPOSITORIES_BY_LAYER, (_hash(layer), ids))
        ]

    def files_by_layer(self, layer: Layer | Digest | str, scanners: Iterable[Any]) -> list[File]:
        scanners = list(scanners)
        if not scanners:
            return []
        ids = [self._scanner_id(s) for s in scanners]
        return [
            File(path=r[0], kind=r[1])
            for r in self.conn.execute(_FILES_BY_LAYER, (_hash(layer), ids))
        ]

    # -- the manifest index ----------------------------------------------------------------
    def index_manifest(self, report: IndexReport) -> None:
        """Insert-if-absent a row per index record and per record's source, one batch."""
        if not report.hash:
            raise InvalidInputError(
                "received empty hash; cannot associate contents with a manifest hash"
            )
        m = str(report.hash)
        rows: list[tuple[Any, ...]] = []
        for rec in report.index_records():
            p = rec.package
            if p is None:
                continue
            source_id = None
            if p.source is not None:
                source_id = _parse_id(p.source.id, f"source package id {p.id}")
            package_id = _parse_id(p.id, "package id")
            dist_id = (
                _parse_id(rec.distribution.id, "distribution id")
                if rec.distribution is not None
                else None
            )
            repo_id = None
            if rec.repository is not None:  # an unparsable repository ID reads as none
                try:
                    repo_id = _parse_id(rec.repository.id, "repository id")
                except InvalidInputError:
                    repo_id = None
            if source_id is not None:
                rows.append((m, source_id, dist_id, repo_id))
            rows.append((m, package_id, dist_id, repo_id))
        if not rows:
            return
        try:
            with self.conn.transaction():
                self.conn.cursor().executemany(_INDEX_MANIFEST, rows)
        except psycopg.errors.IntegrityError as e:
            raise StoreError(f"IndexManifest failed: batch insert failed: {e}") from None

    # -- deletion --------------------------------------------------------------------------
    def delete_manifests(self, *digests: Digest | str) -> list[Digest]:
        """Per digest, one transaction: try-lock, delete with cascades, drop unused layers."""
        if len(digests) == 1 and not isinstance(digests[0], str):
            digests = tuple(digests[0])
        deleted: list[Digest] = []
        errors: list[str] = []
        for d in digests:
            text = str(d)
            try:
                with self.conn.transaction():
                    cur = self.conn.cursor()
                    if cur.execute(_TRY_LOCK, (fnv1a64(text),)).fetchone() is None:
                        raise _LockNotAcquired
                    row = cur.execute(_GET_MANIFEST_ID, (text,)).fetchone()
                    if row is None:
                        continue
                    mid = row[0]
                    layers = [r[0] for r in cur.execute(_GET_LAYERS, (mid,))]
                    cur.execute(_DELETE_MANIFEST, (mid,))
                    for lid in layers:
                        cur.execute(_DELETE_LAYERS, (lid,))
                    deleted.append(Digest(text))
            except _LockNotAcquired:
                continue
            except psycopg.Error as e:
                errors.append(f"{text}: {e}")
        if not deleted and errors:
            raise StoreError("; ".join(errors))
        return deleted

    @contextmanager
    def manifest_lock(self, manifest: Digest | str, *, blocking: bool = True) -> Iterator[None]:
        """The index lock libindex holds: a session advisory lock on its own connection."""
        if self._lock_conn is None:
            self._lock_conn = psycopg.connect(self.conn.info.dsn, autocommit=True)
        key = fnv1a64(str(manifest))
        if blocking:
            self._lock_conn.execute("SELECT pg_advisory_lock(%s::bigint)", (key,))
        else:
            row = self._lock_conn.execute(
                "SELECT lock FROM pg_try_advisory_lock(%s::bigint) lock WHERE lock = true", (key,)
            ).fetchone()
            if row is None:
                raise LockError(f"manifest {manifest} is locked by another indexer")
        try:
            yield
        finally:
            self._lock_conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (key,))

    # -- AffectedManifests -----------------------------------------------------------------
    def _affected_query(self, v: Vulnerability, m: Matcher) -> sql.Composed | None:
        """claircore's ``queryBuilder``: None when the matcher is not applicable."""
        assert v.package is not None
        dist = v.distribution or Distribution()
        repo = v.repository or Repository()
        lit = sql.Literal
        conds: list[sql.Composable] = [
            sql.SQL('("package"."name" = {})').format(lit(v.package.name))
        ]
        seen: set[Constraint] = set()
        for raw in m.query:
            try:
                c = Constraint(raw)
            except ValueError:
                raise MatcherError(f"was provided unknown matcher: {raw}") from None
            if c in seen:
                continue
            if c is Constraint.PACKAGE_MODULE:
                conds.append(sql.SQL('("package"."module" = {})').format(lit(v.package.module)))
            elif c in _DIST_COLUMNS:
                col, attr = _DIST_COLUMNS[c]
                value = getattr(dist, attr)
                if value == "":
                    return None
                conds.append(sql.SQL('("dist".{} = {})').format(sql.Identifier(col), lit(value)))
            elif c in _REPO_COLUMNS:
                col, attr = _REPO_COLUMNS[c]
                value = getattr(repo, attr)
                if value == "":
                    return None
                conds.append(sql.SQL('("repo".{} = {})').format(sql.Identifier(col), lit(value)))
            elif c is Constraint.HAS_FIXED_IN_VERSION:
                if v.fixed_in_version == "":
                    return None
            else:
                raise MatcherError(f"was provided unknown matcher: {raw}")
            seen.add(c)
        r = v.range
        if is_version_authoritative(m) and r is not None and r.lower.kind == r.upper.kind:
            lower = "{" + ",".join(map(str, r.lower.v)) + "}"
            upper = "{" + ",".join(map(str, r.upper.v)) + "}"
            conds.append(
                sql.SQL(
                    '(("norm_kind" = {}) AND VersionRange({}, {}) @> package.norm_version)'
                ).format(lit(r.lower.kind), lit(lower), lit(upper))
            )
        where = sql.SQL(" AND ").join(conds)
        return sql.Composed([sql.SQL(_AFFECTED_SELECT), sql.SQL("("), where, sql.SQL(")")])

    def affected_manifests(self, vulnerability: Vulnerability) -> list[Digest]:
        """The manifests the vulnerability affects: one query per applicable matcher."""
        v = vulnerability
        if v.package is None or not v.package.name:
            raise InvalidInputError("vulnerability.package.name: must not be empty")
        seen: set[str] = set()
        for m in self.matchers:
            query = self._affected_query(v, m)
            if query is None:
                continue
            authoritative = is_version_authoritative(m)
            for row in self.conn.execute(query):
                digest = row[0]
                if digest in seen:
                    continue
                record = IndexRecord(
                    package=Package(
                        name=row[1],
                        version=row[2],
                        kind=PackageKind.from_text(row[3]),
                        normalized_version=_version(row[4], row[5]),
                        arch=row[6],
                    ),
                    distribution=Distribution(
                        name=row[7], did=row[8], version=row[9], version_code_name=row[10],
                        version_id=row[11], arch=row[12], cpe=row[13], pretty_name=row[14],
                    ),
                    repository=Repository(name=row[15], key=row[16], uri=row[17], cpe=row[18]),
                )  # fmt: skip
                if not m.filter(record):
                    continue
                if authoritative:
                    match = True
                else:
                    try:
                        match = m.vulnerable(record, v)
                    except (ValueError, MatcherError):
                        self.undecided[m.name] += 1
                        match = False
                if match:
                    seen.add(digest)
        return sorted(Digest(d) for d in seen)

    def affected_manifests_batch(
        self, vulnerabilities: Iterable[Vulnerability]
    ) -> AffectedManifests:
        """libindex's AffectedManifests: the store is asked once per vulnerability, in turn."""
        out = AffectedManifests()
        for v in vulnerabilities:
            out.add(v, *self.affected_manifests(v))
        out.sort()
        return out


__all__ = ["SCHEMA", "TABLES", "PostgresStore", "fnv1a64"]
