"""claircore's per-method semantics (spec §3) and the contract's decisions (§4)."""

from __future__ import annotations

from typing import Any

import pytest

from redis_store import (
    Distribution,
    Environment,
    File,
    IndexReport,
    InvalidInputError,
    Layer,
    Manifest,
    Package,
    PackageKind,
    Repository,
    UnknownLayerError,
    UnknownManifestError,
    UnknownScannerError,
    Version,
    VersionedScanner,
)
from tests.support import gen

PKG = VersionedScanner("dpkg", "7", "package")
DIST = VersionedScanner("os-release", "1", "distribution")
REPO = VersionedScanner("repos", "1", "repository")
FILES = VersionedScanner("whiteout", "1", "file")
ALL = [PKG, DIST, REPO, FILES]


def persisted(store: Any, layers: int = 1) -> tuple[str, list[str]]:
    m = gen.random_digest()
    ls = [gen.random_digest() for _ in range(layers)]
    store.register_scanners(ALL)
    store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=x) for x in ls]))
    return m, ls


def test_scanner_registered_by_another_store_is_known_at_once(backend: Any) -> None:
    from redis_store import RedisStore

    a = RedisStore(backend.client(), namespace="test")
    b = RedisStore(backend.client(), namespace="test")
    _m, (layer,) = persisted(a)
    late = VersionedScanner("late", "1", "package")
    with pytest.raises(UnknownScannerError):
        b.layer_scanned(layer, late)
    a.register_scanners([late])
    assert b.layer_scanned(layer, late) is False  # decision 1: no stale cache
    b.set_layer_scanned(layer, late)
    assert a.layer_scanned(layer, late) is True


def test_register_scanners_is_idempotent(store: Any) -> None:
    store.register_scanners(ALL)
    store.register_scanners(ALL + ALL)
    store.register_scanners([])
    _m, (layer,) = persisted(store)
    assert store.layer_scanned(layer, PKG) is False


def test_scanner_identity_is_the_exact_triple(store: Any) -> None:
    _m, (layer,) = persisted(store)
    store.set_layer_scanned(layer, PKG)
    other = VersionedScanner("dpkg", "8", "package")
    store.register_scanners([other])
    assert store.layer_scanned(layer, other) is False
    # claircore's cache key "a_b"+"c" collides with "a"+"b_c"; ours does not
    x, y = VersionedScanner("a_b", "c", "k"), VersionedScanner("a", "b_c", "k")
    store.register_scanners([x, y])
    store.set_layer_scanned(layer, x)
    assert store.layer_scanned(layer, y) is False


def test_layer_scanned_states(store: Any) -> None:
    _m, (layer,) = persisted(store)
    assert store.layer_scanned(layer, PKG) is False
    store.set_layer_scanned(layer, PKG)
    store.set_layer_scanned(Layer(hash=layer), PKG)  # idempotent, Layer accepted
    assert store.layer_scanned(layer, PKG) is True
    with pytest.raises(UnknownScannerError):
        store.set_layer_scanned(layer, VersionedScanner("nope", "1", "package"))
    with pytest.raises(UnknownLayerError):
        store.set_layer_scanned(gen.random_digest(), PKG)


def test_manifest_scanned(store: Any) -> None:
    m, _ = persisted(store)
    unknown = gen.random_digest()
    assert store.manifest_scanned(unknown, []) is True  # vacuous, as claircore
    assert store.manifest_scanned(unknown, [PKG]) is False
    with pytest.raises(UnknownScannerError):
        store.manifest_scanned(m, [VersionedScanner("nope", "1", "x")])
    store.set_index_finished(IndexReport(hash=m, state="IndexFinished"), [PKG, DIST])
    assert store.manifest_scanned(m, [PKG]) is True
    assert store.manifest_scanned(m, [PKG, DIST]) is True
    assert store.manifest_scanned(m, [PKG, REPO]) is False


def test_set_index_finished_is_idempotent(store: Any) -> None:
    m, _ = persisted(store)
    store.set_index_finished(IndexReport(hash=m, state="A"), [PKG, PKG])
    store.set_index_finished(IndexReport(hash=m, state="B"), [PKG])  # decision 2
    got = store.index_report(m)
    assert got is not None and got.state == "B"


def test_set_index_finished_validates_before_writing(store: Any) -> None:
    m, _ = persisted(store)
    store.set_index_report(IndexReport(hash=m, state="before"))
    with pytest.raises(UnknownScannerError):
        store.set_index_finished(
            IndexReport(hash=m, state="after"), [PKG, VersionedScanner("nope", "1", "x")]
        )
    got = store.index_report(m)
    assert got is not None and got.state == "before"
    assert store.manifest_scanned(m, [PKG]) is False


def test_writes_to_unknown_manifest_raise(store: Any) -> None:
    store.register_scanners(ALL)
    unknown = gen.random_digest()
    with pytest.raises(UnknownManifestError):
        store.set_index_report(IndexReport(hash=unknown))
    with pytest.raises(UnknownManifestError):
        store.set_index_finished(IndexReport(hash=unknown), [])
    with pytest.raises(UnknownManifestError):
        store.index_manifest(IndexReport(hash=unknown))  # decision 9
    assert store.index_report(unknown) is None


def test_index_report_states(store: Any) -> None:
    m, (_layer,) = persisted(store)
    assert store.index_report(m) is None
    for state in ["", "FetchLayers", "ScanLayers", "Coalesce", "IndexManifest", "IndexError"]:
        store.set_index_report(
            IndexReport(hash=m, state=state, err="boom" if state == "IndexError" else "")
        )
        got = store.index_report(m)
        assert got is not None and got.state == state
    assert store.index_report(m).err == "boom"  # type: ignore[union-attr]


def test_index_report_is_a_json_round_trip(store: Any) -> None:
    m, (layer,) = persisted(store)
    pkg = Package(
        id="1",
        name="gzip",
        version="1.9",
        kind=PackageKind.BINARY,
        package_db="var/lib/dpkg/status",
        repository_hint="h",
        filepath="f",
        normalized_version=Version("semver", (0, 1, 9, 0, 0, 0, 0, 0, 0, 0)),
    )
    report = IndexReport(
        hash=m,
        state="IndexFinished",
        packages={"1": pkg},
        environments={"1": [Environment(package_db="var/lib/dpkg/status", introduced_in=layer)]},
        success=True,
    )
    store.set_index_report(report)
    got = store.index_report(m)
    assert got == IndexReport.from_json(report.to_json())
    assert got.packages["1"].package_db == ""  # not serialised, as claircore


def test_by_layer_with_no_scanners_is_empty_without_checks(store: Any) -> None:
    unknown = gen.random_digest()
    assert store.packages_by_layer(unknown, []) == []
    assert store.distributions_by_layer(unknown, []) == []
    assert store.repositories_by_layer(unknown, []) == []
    assert store.files_by_layer(unknown, []) == []


def test_by_layer_unknown_layer_and_scanner(store: Any) -> None:
    store.register_scanners(ALL)
    assert store.packages_by_layer(gen.random_digest(), [PKG]) == []
    with pytest.raises(UnknownScannerError):
        store.packages_by_layer(gen.random_digest(), [VersionedScanner("x", "y", "z")])


def test_index_methods_validate_even_empty_lists(store: Any) -> None:
    _m, (layer,) = persisted(store)
    nope = VersionedScanner("nope", "1", "package")
    for method in ("index_packages", "index_distributions", "index_repositories", "index_files"):
        getattr(store, method)([], layer, PKG)  # fine
        with pytest.raises(UnknownLayerError):
            getattr(store, method)([], gen.random_digest(), PKG)  # decision 6
        with pytest.raises(UnknownScannerError):
            getattr(store, method)([], layer, nope)


def test_packages_by_layer_fills_artifact_fields(store: Any) -> None:
    _m, (layer,) = persisted(store)
    with_src = gen.unique_packages(1)[0]
    with_src.filepath = "usr/lib/x"
    no_src = Package(
        name="gzip",
        version="1.9",
        kind=PackageKind.BINARY,
        arch="amd64",
        package_db="var/lib/dpkg/status",
        normalized_version=Version("semver", (0, 1, 9, 0, 0, 0, 0, 0, 0, 0)),
    )
    nameless = Package(name="", version="1")
    store.index_packages([with_src, no_src, nameless], layer, PKG)
    a, b = store.packages_by_layer(layer, [PKG])
    assert (a.name, a.version, a.arch, a.module, a.kind) == (
        "package-0",
        "version-0",
        "arch-0",
        "module:0",
        PackageKind.BINARY,
    )
    assert (a.package_db, a.repository_hint, a.filepath) == (
        "package-db-0",
        "repository-hint-0",
        "usr/lib/x",
    )
    assert a.source is not None and a.source.name == "source-package-0"
    assert a.source.kind == PackageKind.SOURCE and a.source.module == "source-module:0"
    assert a.detector is not None and (a.detector.name, a.detector.version, a.detector.kind) == (
        "dpkg",
        "7",
        "package",
    )
    assert b.source is not None and b.source.name == "" and b.source.id  # the zero package
    assert str(b.normalized_version) == "semver:0.1.9.0.0.0.0.0.0.0"
    assert int(a.id) > 0 and int(a.source.id) > 0 and a.id != b.id


def test_same_identity_same_id_across_layers(store: Any) -> None:
    _m, (l1, l2) = persisted(store, layers=2)
    p = gen.unique_packages(3)
    store.index_packages(p, l1, PKG)
    store.index_packages(list(reversed(p)), l2, PKG)
    ids1 = {x.name: x.id for x in store.packages_by_layer(l1, [PKG])}
    ids2 = {x.name: x.id for x in store.packages_by_layer(l2, [PKG])}
    assert ids1 == ids2


def test_first_writer_wins(store: Any) -> None:
    _m, (l1, l2) = persisted(store, layers=2)
    a = Package(
        name="p",
        version="1",
        normalized_version=Version("semver", (0, 1, 0, 0, 0, 0, 0, 0, 0, 0)),
        filepath="first",
    )
    b = Package(
        name="p",
        version="1",
        normalized_version=Version("semver", (0, 2, 0, 0, 0, 0, 0, 0, 0, 0)),
        filepath="second",
    )
    store.index_packages([a], l1, PKG)
    store.index_packages([b], l1, PKG)
    store.index_packages([b], l2, PKG)
    (x,) = store.packages_by_layer(l1, [PKG])
    assert x.filepath == "first"
    assert str(x.normalized_version) == "semver:0.1.0.0.0.0.0.0.0.0"
    r1 = Repository(name="r", key="k", uri="u", cpe="cpe:2.3:a:x:y:1:*:*:*:*:*:*:*")
    r2 = Repository(name="r", key="k", uri="u", cpe="")
    store.index_repositories([r1], l1, REPO)
    store.index_repositories([r2], l2, REPO)
    assert store.repositories_by_layer(l2, [REPO])[0].cpe == r1.cpe


def test_artifact_identity_and_order(store: Any) -> None:
    """Decision 7: first-written order across scanners; one element per artifact."""
    _m, (layer,) = persisted(store)
    other = VersionedScanner("rpm", "1", "package")
    store.register_scanners([other])
    dup = gen.duplicate_packages(6)  # 3 packages, 6 artifacts (package_db differs)
    store.index_packages(dup[:4], layer, PKG)
    store.index_packages(dup[2:], layer, other)
    store.index_packages(dup, layer, PKG)  # nothing new
    got = store.packages_by_layer(layer, [PKG, other])
    assert (
        [(x.name, x.package_db, x.detector.name) for x in got]
        == [  # type: ignore[union-attr]
            *((d.name, d.package_db, "dpkg") for d in dup[:4]),
            *((d.name, d.package_db, "rpm") for d in dup[2:]),
            *((d.name, d.package_db, "dpkg") for d in dup[4:]),
        ]
    )
    assert len(store.packages_by_layer(layer, [other])) == 4


def test_distribution_identity_uses_bound_cpe(store: Any) -> None:
    _m, (layer,) = persisted(store)
    uri = Distribution(
        did="rhel", name="RHEL", version_id="8", cpe="cpe:/o:redhat:enterprise_linux:8::baseos"
    )
    fs = Distribution(
        did="rhel",
        name="RHEL",
        version_id="8",
        cpe="cpe:2.3:o:redhat:enterprise_linux:8:*:baseos:*:*:*:*:*",
    )
    store.index_distributions([uri], layer, DIST)
    store.index_distributions([fs], layer, DIST)
    (d,) = store.distributions_by_layer(layer, [DIST])
    assert d.cpe == "cpe:2.3:o:redhat:enterprise_linux:8:*:baseos:*:*:*:*:*"


def test_files(store: Any) -> None:
    _m, (layer,) = persisted(store)
    store.index_files(
        [File(path="etc/.wh.x", kind="whiteout"), File(path="a", kind="whiteout")], layer, FILES
    )
    store.index_files([File(path="a", kind="whiteout")], layer, FILES)
    assert store.files_by_layer(layer, [FILES]) == [
        File(path="etc/.wh.x", kind="whiteout"),
        File(path="a", kind="whiteout"),
    ]


def test_persist_manifest_is_idempotent_and_adds_links(store: Any) -> None:
    m, (l1,) = persisted(store)
    l2 = gen.random_digest()
    store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=l1)]))
    store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=l2), Layer(hash=l2)]))
    store.set_layer_scanned(l1, PKG)
    store.set_layer_scanned(l2, PKG)  # both are layers of m now


def test_digest_arguments_are_normalised(store: Any) -> None:
    _m, (layer,) = persisted(store)
    store.set_layer_scanned(layer.upper().replace("SHA256", "sha256"), PKG)
    assert store.layer_scanned(layer, PKG) is True


def test_index_manifest_rejects_ids_never_assigned(store: Any) -> None:
    m, (layer,) = persisted(store)
    store.index_packages([Package(name="p", version="1")], layer, PKG)
    (p,) = store.packages_by_layer(layer, [PKG])
    env = Environment(package_db="x", introduced_in=layer)
    for bad in ("999999", "0", "x", ""):
        r = IndexReport(
            hash=m,
            packages={bad: Package(id=bad, name="p", version="1")},
            environments={bad: [env]},
        )
        with pytest.raises(InvalidInputError):
            store.index_manifest(r)  # decision 5
    r = IndexReport(
        hash=m,
        packages={p.id: p},
        environments={
            p.id: [Environment(package_db="x", introduced_in=layer, distribution_id="424242")]
        },
        distributions={"424242": Distribution(id="424242", did="x")},
    )
    with pytest.raises(InvalidInputError):
        store.index_manifest(r)
    renamed = Package(id=p.id, name="other", version="1")
    with pytest.raises(InvalidInputError):
        store.index_manifest(
            IndexReport(hash=m, packages={p.id: renamed}, environments={p.id: [env]})
        )
