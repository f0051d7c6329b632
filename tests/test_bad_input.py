"""Bad input for every method: a clear error naming the problem, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from redis_store import (
    AsyncRedisStore,
    Detector,
    DigestError,
    Distribution,
    Environment,
    File,
    IndexReport,
    InvalidInputError,
    Layer,
    Manifest,
    Package,
    RedisStore,
    StoreError,
    UnknownLayerError,
    UnknownManifestError,
    UnknownScannerError,
    VersionedScanner,
    Vulnerability,
    ops,
    replay,
)
from redis_store.demo import workload
from tests.support import gen
from tests.support.inspect import snapshot

S = VersionedScanner("dpkg", "7", "package")
NOPE = VersionedScanner("nope", "1", "package")
BAD = "sha256:xyz"


class Setup:
    def __init__(self, store: Any) -> None:
        self.m = gen.random_digest()
        self.layer = gen.random_digest()
        store.register_scanners([S])
        store.persist_manifest(Manifest(hash=self.m, layers=[Layer(hash=self.layer)]))
        store.index_packages([Package(name="p", version="1")], self.layer, S)
        self.pkg = store.packages_by_layer(self.layer, [S])[0]
        store.set_index_report(IndexReport(hash=self.m, state="kept"))


def report(s: Setup, **kw: Any) -> IndexReport:
    return IndexReport(hash=s.m, **kw)


CASES: list[tuple[str, type[Exception], Callable[[Any, Setup], Any], str]] = [
    (
        "register_scanners",
        InvalidInputError,
        lambda st, s: st.register_scanners([S, object()]),
        "scanners[1]",
    ),
    (
        "register_scanners",
        InvalidInputError,
        lambda st, s: st.register_scanners([VersionedScanner("a", 1, "k")]),
        "strings",
    ),  # type: ignore[arg-type]
    ("register_scanners", InvalidInputError, lambda st, s: st.register_scanners("dpkg"), "list"),
    (
        "persist_manifest",
        DigestError,
        lambda st, s: st.persist_manifest(Manifest(hash=s.m, layers=[Layer(hash=s.layer), BAD])),  # type: ignore[list-item]
        "manifest.layers[1]",
    ),
    ("persist_manifest", InvalidInputError, lambda st, s: st.persist_manifest(s.m), "Manifest"),
    ("delete_manifests", DigestError, lambda st, s: st.delete_manifests(s.m, BAD), "digests[1]"),
    ("set_layer_scanned", DigestError, lambda st, s: st.set_layer_scanned(BAD, S), "layer"),
    (
        "set_layer_scanned",
        UnknownScannerError,
        lambda st, s: st.set_layer_scanned(s.layer, NOPE),
        "nope",
    ),
    (
        "set_layer_scanned",
        UnknownLayerError,
        lambda st, s: st.set_layer_scanned(gen.random_digest(), S),
        "never persisted",
    ),
    ("layer_scanned", DigestError, lambda st, s: st.layer_scanned("md5:00", S), "layer"),
    ("set_index_report", DigestError, lambda st, s: st.set_index_report(IndexReport()), "hash"),
    (
        "set_index_report",
        UnknownManifestError,
        lambda st, s: st.set_index_report(IndexReport(hash=gen.random_digest())),
        "never persisted",
    ),
    (
        "set_index_report",
        InvalidInputError,
        lambda st, s: st.set_index_report(
            report(
                s,
                packages={"1": Package(id="1", name="x", detector=Detector("a:b", "1", "package"))},
            )
        ),
        "detector",
    ),
    (
        "set_index_report",
        DigestError,
        lambda st, s: st.set_index_report(report(s, environments={"1": [Environment()]})),
        "introduced_in",
    ),
    (
        "set_index_report",
        InvalidInputError,
        lambda st, s: st.set_index_report({"hash": s.m}),
        "IndexReport",
    ),
    (
        "set_index_finished",
        UnknownScannerError,
        lambda st, s: st.set_index_finished(report(s, state="new"), [S, NOPE]),
        "nope",
    ),
    (
        "set_index_finished",
        UnknownManifestError,
        lambda st, s: st.set_index_finished(IndexReport(hash=gen.random_digest()), [S]),
        "never persisted",
    ),
    (
        "manifest_scanned",
        UnknownScannerError,
        lambda st, s: st.manifest_scanned(s.m, [NOPE]),
        "nope",
    ),
    ("manifest_scanned", DigestError, lambda st, s: st.manifest_scanned("", [S]), "manifest"),
    (
        "index_packages",
        InvalidInputError,
        lambda st, s: st.index_packages([Package(name="q"), "p"], s.layer, S),
        "packages[1]",
    ),
    (
        "index_packages",
        UnknownScannerError,
        lambda st, s: st.index_packages([Package(name="q")], s.layer, NOPE),
        "nope",
    ),
    (
        "index_packages",
        UnknownLayerError,
        lambda st, s: st.index_packages([Package(name="q")], gen.random_digest(), S),
        "never persisted",
    ),
    (
        "index_distributions",
        InvalidInputError,
        lambda st, s: st.index_distributions([Package(name="q")], s.layer, S),
        "distributions[0]",
    ),
    (
        "index_distributions",
        InvalidInputError,
        lambda st, s: st.index_distributions([Distribution(cpe="not a cpe")], s.layer, S),
        "cpe",
    ),
    (
        "index_repositories",
        UnknownLayerError,
        lambda st, s: st.index_repositories([], gen.random_digest(), S),
        "never persisted",
    ),
    (
        "index_files",
        InvalidInputError,
        lambda st, s: st.index_files([File(path="a", kind="whiteout"), None], s.layer, S),
        "files[1]",
    ),
    (
        "packages_by_layer",
        UnknownScannerError,
        lambda st, s: st.packages_by_layer(s.layer, [S, NOPE]),
        "nope",
    ),
    (
        "distributions_by_layer",
        DigestError,
        lambda st, s: st.distributions_by_layer(BAD, [S]),
        "layer",
    ),
    (
        "repositories_by_layer",
        InvalidInputError,
        lambda st, s: st.repositories_by_layer(s.layer, [42]),
        "scanners[0]",
    ),
    (
        "files_by_layer",
        UnknownScannerError,
        lambda st, s: st.files_by_layer(s.layer, [NOPE]),
        "nope",
    ),
    (
        "index_manifest",
        UnknownManifestError,
        lambda st, s: st.index_manifest(IndexReport(hash=gen.random_digest())),
        "never persisted",
    ),
    (
        "index_manifest",
        InvalidInputError,
        lambda st, s: st.index_manifest(
            report(
                s,
                packages={s.pkg.id: s.pkg, "77777": Package(id="77777", name="ghost")},
                environments={
                    s.pkg.id: [Environment(introduced_in=s.layer)],
                    "77777": [Environment(introduced_in=s.layer)],
                },
            )
        ),
        "77777",
    ),
    ("index_report", DigestError, lambda st, s: st.index_report(42), "manifest"),
    ("manifest_lock", DigestError, lambda st, s: st.manifest_lock("nope").__enter__(), "manifest"),
    (
        "manifest_lock",
        InvalidInputError,
        lambda st, s: st.manifest_lock(s.m, timeout="soon").__enter__(),
        "timeout",
    ),
    (
        "manifest_lock",
        InvalidInputError,
        lambda st, s: st.manifest_lock(s.m, blocking="no").__enter__(),
        "blocking",
    ),
    # a detector the store would refuse at the end of a replay: refused before the first write
    ("replay", InvalidInputError, lambda st, s: replay.replay(st, colon_in_a_kind()), "detector"),
    (
        "affected_manifests",
        InvalidInputError,
        lambda st, s: st.affected_manifests(vuln(distribution="debian")),
        "vulnerability.distribution",
    ),
    (
        "affected_manifests",
        InvalidInputError,
        lambda st, s: st.affected_manifests(vuln(repository=Package(name="r"))),
        "vulnerability.repository",
    ),
    (
        "affected_manifests",
        InvalidInputError,
        lambda st, s: st.affected_manifests(vuln(package="gzip")),
        "vulnerability.package",
    ),
    (
        "affected_manifests_batch",
        InvalidInputError,
        lambda st, s: st.affected_manifests_batch([vuln(), vuln(fixed_in_version=None)]),
        "vulnerabilities[1].fixed_in_version",
    ),
    (
        "affected_manifests_batch",
        InvalidInputError,
        lambda st, s: st.affected_manifests_batch([vuln(), vuln(name=42)]),
        "vulnerabilities[1].name",
    ),
    (
        "affected_manifests",
        InvalidInputError,
        lambda st, s: st.affected_manifests(vuln(), matchers=["rhel"]),
        "matchers[0]",
    ),
]


def vuln(**fields: Any) -> Vulnerability:
    """A vulnerability of package ``p`` with fields of any type (as a decoder might leave)."""
    v = Vulnerability(package=Package(name="p"), fixed_in_version="2")
    for name, value in fields.items():
        object.__setattr__(v, name, value)
    return v


def colon_in_a_kind() -> IndexReport:
    (r,) = workload.generate(1, 17)
    pkg = next(iter((r.packages or {}).values()))
    pkg.detector = Detector(name="dpkg", version="1", kind="pack:age")
    return r


@pytest.mark.parametrize(
    ("method", "error", "call", "text"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input(
    store: Any,
    backend: Any,
    method: str,
    error: type[Exception],
    call: Callable[[Any, Setup], Any],
    text: str,
) -> None:
    s = Setup(store)
    before = snapshot(backend.client())
    with pytest.raises(error) as info:
        call(store, s)
    assert isinstance(info.value, StoreError)
    assert text in str(info.value)
    assert snapshot(backend.client()) == before
    assert store.index_report(s.m).state == "kept"


@pytest.mark.parametrize("lock_ttl", [1e-9, 2**64, float("nan"), "30", True])
def test_a_lock_ttl_redis_cannot_use_is_refused_up_front(backend: Any, lock_ttl: Any) -> None:
    """A time to live of 0 ms, or beyond what Redis adds to its clock, used to fail later in
    Redis (a ResponseError on the first lock); refused when the store is made."""
    for make in (RedisStore, AsyncRedisStore):
        client = backend.client() if make is RedisStore else backend.async_client()
        with pytest.raises(InvalidInputError, match="lock_ttl"):
            make(client, "test", lock_ttl=lock_ttl)


def test_what_the_writes_accept_fsck_accepts(backend: Any) -> None:
    """set_index_report keeps any report as given (claircore's contract), IDs included:
    a finished report with an empty ID, an ID never assigned, and records not matching the
    manifest's is accepted, and fsck finds nothing wrong with the store that holds it."""
    with RedisStore(backend.client(), "test") as store:
        s = Setup(store)
        odd = report(
            s,
            state="IndexFinished",
            success=True,
            packages={"": Package(id="", name="x"), "987654": Package(id="987654", name="y")},
            environments={"987654": [Environment(introduced_in=s.layer)]},
        )
        store.set_index_report(odd)
        store.set_index_finished(odd, [S])
        assert ops.check(store) == []
        assert store.index_report(s.m) == odd
