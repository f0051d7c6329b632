"""Hostile input for every public method: a StoreError or success, never anything else; a
failed call leaves the keyspace as it was; whatever a write accepts, every read returns and
``fsck`` finds sound.

Each example replaces one argument, or one field of an argument, of an otherwise valid call
with a hostile value (wrong types, None, lone surrogates, ``:`` and braces, huge numbers,
bytes, containers, and any decoded JSON value, nested), the store's options included. The
``wire`` cases do what a server in front of the store will: decode a request's JSON (a
valid report, vulnerability or manifest with one value somewhere replaced by decoded JSON
garbage) with the models' ``from_json``, and hand what decodes to the methods.
``FUZZ_EXAMPLES`` sets the examples per method (CI runs a bounded number;
``FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py -s`` gives the figures of the
closing summary printed at the end).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_store import (
    Distribution,
    Environment,
    File,
    IndexReport,
    Layer,
    Manifest,
    Package,
    RedisStore,
    Repository,
    StoreError,
    Vulnerability,
    ops,
    replay,
)
from redis_store.models import Alias, Range, Version
from tests.support import gen
from tests.support.inspect import snapshot
from tests.support.servers import RedisServer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
NS = "test"

#: Totals over the run, printed at the end (``-s``).
FIGURES: Counter[str] = Counter()

#: Any value ``json.loads`` can give, nested: what a request body decodes to.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)

HOSTILE = st.one_of(
    JSON,
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.binary(max_size=6),
    st.text(max_size=10),
    st.sampled_from(
        [
            "\ud800",
            "x\udcffy",
            "a:b",
            "{x}",
            "}",
            "",
            "x\ny",
            "é",
            "💥",
            "sha256:" + "0" * 64,
            "sha256:xyz",
            "x" * 300,
            "pkg:1.2.3",
            "cpe:2.3:a:x:y:1:*:*:*:*:*:*:*",
            "cpe:/a:x",
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()),
    st.builds(Version),
)


class Scanner:
    """A scanner object whose fields the fuzzer may break (VersionedScanner is frozen)."""

    def __init__(self, name: Any = "dpkg", version: Any = "7", kind: Any = "package") -> None:
        self.name, self.version, self.kind = name, version, kind


class World:
    """A small valid store: one manifest with one layer, packages, a distribution, a
    repository, a finished report; what every call is built from."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.scanner = Scanner()
        self.m, self.layer = gen.random_digest(), gen.random_digest()
        store.register_scanners([self.scanner])
        store.persist_manifest(Manifest(hash=self.m, layers=[Layer(hash=self.layer)]))
        store.index_packages(
            [Package(name="p", version="1", source=Package(name="s", version="1"))],
            self.layer,
            self.scanner,
        )
        store.index_distributions(
            [Distribution(did="debian", version_id="12")], self.layer, self.scanner
        )
        store.index_repositories([Repository(name="r", uri="u")], self.layer, self.scanner)
        self.pkg = store.packages_by_layer(self.layer, [self.scanner])[0]
        self.dist = store.distributions_by_layer(self.layer, [self.scanner])[0]
        self.repo = store.repositories_by_layer(self.layer, [self.scanner])[0]
        self.report = self.make_report()
        store.index_manifest(self.report)
        store.set_index_finished(self.report, [self.scanner])
        #: A manifest not stored yet, for the calls that would create it (replay).
        self.fresh = gen.random_digest()

    def make_report(self) -> IndexReport:
        pkg = dataclasses.replace(self.pkg, source=dataclasses.replace(self.pkg.source))
        env = Environment(
            package_db="db",
            introduced_in=self.layer,
            distribution_id=self.dist.id,
            repository_ids=[self.repo.id],
        )
        return IndexReport(
            hash=self.m,
            state="IndexFinished",
            success=True,
            packages={pkg.id: pkg},
            distributions={self.dist.id: dataclasses.replace(self.dist)},
            repositories={self.repo.id: dataclasses.replace(self.repo)},
            environments={pkg.id: [env]},
        )


def fresh_report(w: World, where: str, field: str, value: Any) -> IndexReport:
    """The world's report for a manifest not stored yet, one field replaced (the replays)."""
    r = w.make_report()
    r.hash = w.fresh  # type: ignore[assignment]
    return report_variants(w, where, field, value, r)


def vulnerability(field: str = "", value: Any = None, where: str = "") -> Vulnerability:
    """A vulnerability affecting the world's package, with one field (of its package,
    distribution, repository, range or alias when ``where`` says so) replaced."""
    v = Vulnerability(
        id="1",
        name="CVE-1",
        package=Package(name="p"),
        distribution=Distribution(did="debian", version_id="12"),
        repository=Repository(name="r"),
        fixed_in_version="2",
        range=Range(),
        aliases=[Alias("CVE", "CVE-1")],
    )
    if field:
        target = v if not where else v.aliases[0] if where == "alias" else getattr(v, where)  # type: ignore[index]
        _set(target, field, value)
    return v


def _set(obj: Any, field: str, value: Any) -> Any:
    object.__setattr__(obj, field, value)
    return obj


def report_variants(
    w: World, where: str, field: str, value: Any, r: IndexReport | None = None
) -> IndexReport:
    """The world's report (or ``r``) with one field, somewhere in it, replaced."""
    r = r or w.make_report()
    pkg = next(iter(r.packages.values()))  # type: ignore[union-attr]
    targets: dict[str, Any] = {
        "report": r,
        "package": pkg,
        "source": pkg.source,
        "distribution": next(iter(r.distributions.values())),  # type: ignore[union-attr]
        "repository": next(iter(r.repositories.values())),  # type: ignore[union-attr]
        "environment": next(iter(r.environments.values()))[0],  # type: ignore[union-attr]
    }
    _set(targets[where], field, value)
    return r


REPORT_FIELDS = [
    (where, f.name)
    for where, cls in (
        ("report", IndexReport),
        ("package", Package),
        ("source", Package),
        ("distribution", Distribution),
        ("repository", Repository),
        ("environment", Environment),
    )
    for f in dataclasses.fields(cls)
    if not (where == "report" and f.name == "files")  # never written (json:"-")
]
PACKAGE_FIELDS = [f.name for f in dataclasses.fields(Package)]
DIST_FIELDS = [f.name for f in dataclasses.fields(Distribution)]
REPO_FIELDS = [f.name for f in dataclasses.fields(Repository)]
SCANNER_FIELDS = ["name", "version", "kind"]
VULNERABILITY_FIELDS = [("", f.name) for f in dataclasses.fields(Vulnerability)] + [
    (where, f.name)
    for where, cls in (
        ("package", Package),
        ("distribution", Distribution),
        ("repository", Repository),
        ("range", Range),
        ("alias", Alias),
    )
    for f in dataclasses.fields(cls)
]
#: The store's options, each given a hostile value in turn.
OPTIONS = ["namespace", "lock_ttl", "wait_replicas", "wait_timeout", "local_cache", "origin"]
OPTIONS += ["metrics", "tracing"]


def broken_scanner(field: str, value: Any) -> Scanner:
    return _set(Scanner(), field, value)


Call = Callable[[World], Any]

#: method -> a strategy of calls of it, each with one hostile value somewhere.
CALLS: dict[str, st.SearchStrategy[Call]] = {
    "register_scanners": st.one_of(
        st.builds(
            lambda f, v: lambda w: w.store.register_scanners([broken_scanner(f, v)]),
            st.sampled_from(SCANNER_FIELDS),
            HOSTILE,
        ),
        st.builds(lambda v: lambda w: w.store.register_scanners(v), HOSTILE),
    ),
    "persist_manifest": st.one_of(
        st.builds(lambda v: lambda w: w.store.persist_manifest(v), HOSTILE),
        st.builds(
            lambda v: lambda w: w.store.persist_manifest(_set(Manifest(hash=w.m), "hash", v)),
            HOSTILE,
        ),
        st.builds(
            lambda v: lambda w: w.store.persist_manifest(_set(Manifest(hash=w.m), "layers", [v])),
            HOSTILE,
        ),
        st.builds(
            lambda v: lambda w: w.store.persist_manifest(_set(Manifest(hash=w.m), "layers", v)),
            HOSTILE,
        ),
    ),
    "set_layer_scanned": st.one_of(
        st.builds(lambda v: lambda w: w.store.set_layer_scanned(v, w.scanner), HOSTILE),
        st.builds(
            lambda f, v: lambda w: w.store.set_layer_scanned(w.layer, broken_scanner(f, v)),
            st.sampled_from(SCANNER_FIELDS),
            HOSTILE,
        ),
    ),
    "layer_scanned": st.one_of(
        st.builds(lambda v: lambda w: w.store.layer_scanned(v, w.scanner), HOSTILE),
        st.builds(lambda v: lambda w: w.store.layer_scanned(w.layer, v), HOSTILE),
    ),
    "set_index_report": st.one_of(
        st.builds(
            lambda p, v: lambda w: w.store.set_index_report(report_variants(w, *p, v)),
            st.sampled_from(REPORT_FIELDS),
            HOSTILE,
        ),
        st.builds(lambda v: lambda w: w.store.set_index_report(v), HOSTILE),
    ),
    "set_index_finished": st.one_of(
        st.builds(
            lambda p, v: (
                lambda w: w.store.set_index_finished(report_variants(w, *p, v), [w.scanner])
            ),
            st.sampled_from(REPORT_FIELDS),
            HOSTILE,
        ),
        st.builds(lambda v: lambda w: w.store.set_index_finished(w.make_report(), v), HOSTILE),
        st.builds(
            lambda f, v: (
                lambda w: w.store.set_index_finished(w.make_report(), [broken_scanner(f, v)])
            ),
            st.sampled_from(SCANNER_FIELDS),
            HOSTILE,
        ),
    ),
    "manifest_scanned": st.one_of(
        st.builds(lambda v: lambda w: w.store.manifest_scanned(v, [w.scanner]), HOSTILE),
        st.builds(lambda v: lambda w: w.store.manifest_scanned(w.m, v), HOSTILE),
    ),
    "index_packages": st.one_of(
        st.builds(
            lambda f, v: (
                lambda w: w.store.index_packages(
                    [_set(Package(name="q", version="1"), f, v)], w.layer, w.scanner
                )
            ),
            st.sampled_from(PACKAGE_FIELDS),
            HOSTILE,
        ),
        st.builds(
            lambda f, v: (
                lambda w: w.store.index_packages(
                    [Package(name="q", source=_set(Package(name="s"), f, v))], w.layer, w.scanner
                )
            ),
            st.sampled_from(PACKAGE_FIELDS),
            HOSTILE,
        ),
        st.builds(lambda v: lambda w: w.store.index_packages(v, w.layer, w.scanner), HOSTILE),
        st.builds(lambda v: lambda w: w.store.index_packages([], v, w.scanner), HOSTILE),
    ),
    "index_distributions": st.builds(
        lambda f, v: (
            lambda w: w.store.index_distributions(
                [_set(Distribution(did="x"), f, v)], w.layer, w.scanner
            )
        ),
        st.sampled_from(DIST_FIELDS),
        HOSTILE,
    ),
    "index_repositories": st.builds(
        lambda f, v: (
            lambda w: w.store.index_repositories(
                [_set(Repository(name="x"), f, v)], w.layer, w.scanner
            )
        ),
        st.sampled_from(REPO_FIELDS),
        HOSTILE,
    ),
    "index_files": st.builds(
        lambda f, v: (
            lambda w: w.store.index_files([_set(File("p", "whiteout"), f, v)], w.layer, w.scanner)
        ),
        st.sampled_from(["path", "kind"]),
        HOSTILE,
    ),
    "by_layer": st.builds(
        lambda name, which, v: (
            lambda w: getattr(w.store, name)(*((v, [w.scanner]) if which else (w.layer, v)))
        ),
        st.sampled_from(
            [
                "packages_by_layer",
                "distributions_by_layer",
                "repositories_by_layer",
                "files_by_layer",
            ]
        ),
        st.booleans(),
        HOSTILE,
    ),
    "index_manifest": st.one_of(
        st.builds(
            lambda p, v: lambda w: w.store.index_manifest(report_variants(w, *p, v)),
            st.sampled_from(REPORT_FIELDS),
            HOSTILE,
        ),
        st.builds(lambda v: lambda w: w.store.index_manifest(v), HOSTILE),
    ),
    "index_report": st.one_of(
        st.builds(lambda v: lambda w: w.store.index_report(v), HOSTILE),
        st.builds(lambda v: lambda w: w.store.index_report_json(v), HOSTILE),
    ),
    "delete_manifests": st.one_of(
        st.builds(lambda v: lambda w: w.store.delete_manifests(v), HOSTILE),
        st.builds(lambda v: lambda w: w.store.delete_manifests(w.m, v), HOSTILE),
    ),
    "affected_manifests": st.one_of(
        st.builds(
            lambda p, v: lambda w: w.store.affected_manifests(vulnerability(p[1], v, p[0])),
            st.sampled_from(VULNERABILITY_FIELDS),
            HOSTILE,
        ),
        st.builds(lambda v: lambda w: w.store.affected_manifests(v), HOSTILE),
        st.builds(
            lambda v: lambda w: w.store.affected_manifests(vulnerability(), matchers=v), HOSTILE
        ),
        st.builds(
            lambda v: lambda w: w.store.affected_manifests(vulnerability(), strict=v), HOSTILE
        ),
    ),
    "affected_manifests_batch": st.one_of(
        st.builds(
            lambda p, v: (
                lambda w: w.store.affected_manifests_batch(
                    [vulnerability(), vulnerability(p[1], v, p[0])]
                )
            ),
            st.sampled_from(VULNERABILITY_FIELDS),
            HOSTILE,
        ),
        st.builds(lambda v: lambda w: w.store.affected_manifests_batch(v), HOSTILE),
        st.builds(
            lambda v: lambda w: w.store.affected_manifests_batch([vulnerability(), v]), HOSTILE
        ),
        st.builds(
            lambda v: lambda w: w.store.affected_manifests_batch([vulnerability()], matchers=v),
            HOSTILE,
        ),
    ),
    "manifest_lock": st.one_of(
        st.builds(
            lambda v: (
                lambda w: (
                    w.store.manifest_lock(v, blocking=False).__enter__().__exit__(None, None, None)
                )
            ),
            HOSTILE,
        ),
        st.builds(
            lambda name, v: (
                lambda w: (
                    w.store.manifest_lock(w.m, **{name: v}).__enter__().__exit__(None, None, None)
                )
            ),
            st.sampled_from(["blocking", "timeout"]),
            HOSTILE,
        ),
    ),
    "replay": st.one_of(
        st.builds(
            lambda p, v: lambda w: replay.replay(w.store, fresh_report(w, *p, v)),
            st.sampled_from(REPORT_FIELDS),
            HOSTILE,
        ),
        st.builds(
            lambda p, v: lambda w: w.store.import_report(fresh_report(w, *p, v)),
            st.sampled_from(REPORT_FIELDS),
            HOSTILE,
        ),
        st.builds(lambda v: lambda w: replay.replay(w.store, v), HOSTILE),
    ),
    "store options": st.builds(
        lambda name, v: lambda w: RedisStore(w.store.client, **{"namespace": NS, name: v}).close(),
        st.sampled_from(OPTIONS),
        HOSTILE,
    ),
}


def replace_at(doc: Any, path: list[int], value: Any) -> Any:
    """``doc`` (decoded JSON) with the value ``path`` leads to replaced: at each level the
    child ``index % len`` (keys in order), until the path or the nesting ends."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    keys = sorted(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = keys[path[0] % len(keys)]
    doc[key] = replace_at(doc[key], path[1:], value)
    return doc


#: Where in a document the garbage goes, and what it is.
GARBAGE = st.tuples(st.lists(st.integers(0, 63), max_size=6), JSON)


def garbled(source: bytes, where: tuple[list[int], Any]) -> bytes:
    """A valid document's JSON with one value somewhere replaced by decoded-JSON garbage."""
    path, value = where
    return json.dumps(replace_at(json.loads(source), path, value)).encode()


def _wire_report(w: World, where: tuple[list[int], Any], method: str) -> Any:
    fresh = method == "replay"
    r = w.make_report()
    if fresh:
        r.hash = w.fresh
    decoded = IndexReport.from_json(garbled(r.to_json(), where))
    if method == "replay":
        return replay.replay(w.store, decoded)
    if method == "set_index_finished":
        return w.store.set_index_finished(decoded, [w.scanner])
    return getattr(w.store, method)(decoded)


def _wire_vulnerability(w: World, where: tuple[list[int], Any], batch: bool) -> Any:
    decoded = Vulnerability.from_json(garbled(vulnerability().to_json(), where))
    if batch:
        return w.store.affected_manifests_batch([vulnerability(), decoded]).to_json()
    return w.store.affected_manifests(decoded)


def _wire_manifest(w: World, where: tuple[list[int], Any]) -> Any:
    m = Manifest(hash=w.fresh, layers=[Layer(hash=w.layer), Layer(hash=gen.random_digest())])
    return w.store.persist_manifest(Manifest.from_json(garbled(m.to_json(), where)))


CALLS["wire"] = st.one_of(
    st.builds(
        lambda where, method: lambda w: _wire_report(w, where, method),
        GARBAGE,
        st.sampled_from(["set_index_report", "set_index_finished", "index_manifest", "replay"]),
    ),
    st.builds(
        lambda where, batch: lambda w: _wire_vulnerability(w, where, batch), GARBAGE, st.booleans()
    ),
    st.builds(lambda where: lambda w: _wire_manifest(w, where), GARBAGE),
)


def read_everything(w: World) -> None:
    """Every read of what the world holds: what a write accepted must read back."""
    s = w.store
    for m in ops.manifests(s):
        report = s.index_report(m[1])
        if report is not None:
            report.packages  # noqa: B018  # decoded now
        s.index_report_json(m[1])
    s.packages_by_layer(w.layer, [w.scanner])
    s.distributions_by_layer(w.layer, [w.scanner])
    s.repositories_by_layer(w.layer, [w.scanner])
    s.files_by_layer(w.layer, [w.scanner])
    s.manifest_scanned(w.m, [w.scanner])
    s.layer_scanned(w.layer, w.scanner)
    s.affected_manifests(Vulnerability(package=Package(name="p"), fixed_in_version="2"))


@pytest.fixture(params=["fake", "real"])
def new_store(request: pytest.FixtureRequest) -> Iterator[Callable[[], RedisStore]]:
    """Makes a store on an empty keyspace for each example."""
    made: list[RedisStore] = []
    if request.param == "fake":

        def make() -> RedisStore:
            made.append(RedisStore(fakeredis.FakeRedis(), namespace=NS))
            return made[-1]

    else:
        server: RedisServer = request.getfixturevalue("redis_server")

        def make() -> RedisStore:
            server.flush()
            made.append(RedisStore(server.client(), namespace=NS))
            return made[-1]

    yield make
    for s in made:
        s.close()


def check_call(w: World, call: Call) -> None:
    before = snapshot(w.store.client, NS)
    FIGURES["calls"] += 1
    try:
        call(w)
    except StoreError:
        FIGURES["rejected"] += 1
        after = snapshot(w.store.client, NS)
        if after != before:
            FIGURES["partial writes"] += 1
            changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            pytest.fail(f"a failed call changed the keyspace: {sorted(changed)}")
        return
    except Exception as e:  # anything but a StoreError is a leak
        FIGURES["leaks"] += 1
        raise AssertionError(f"not a StoreError: {type(e).__name__}: {e}") from e
    try:
        read_everything(w)
    except Exception as e:
        FIGURES["accepted but unreadable"] += 1
        raise AssertionError(f"accepted, then unreadable: {type(e).__name__}: {e}") from e
    found = ops.check(w.store)
    if found:
        FIGURES["accepted, fsck disagrees"] += 1
        raise AssertionError(f"accepted, then fsck found: {found}")


@pytest.mark.parametrize("method", sorted(CALLS))
def test_hostile_input(method: str, new_store: Callable[[], RedisStore]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(CALLS[method])
    def run(call: Call) -> None:
        check_call(World(new_store()), call)

    run()


def test_a_lone_surrogate_in_a_vulnerabilitys_package_name(
    new_store: Callable[[], RedisStore],
) -> None:
    """Found by this fuzz at 200 examples: the name went to Redis and failed to encode."""
    store = new_store()
    vuln = Vulnerability(package=Package(name="p\ud800"), fixed_in_version="2")
    with pytest.raises(StoreError, match=r"vulnerability\.package\.name"):
        store.affected_manifests(vuln)
    with pytest.raises(StoreError, match=r"package\.name"):
        store.affected_manifests_batch([vuln])


def test_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the run's totals (after the fuzz tests, in file order)."""
    with capsys.disabled():
        shown = ", ".join(
            f"{k} {FIGURES[k]}"
            for k in (
                "calls",
                "rejected",
                "leaks",
                "partial writes",
                "accepted but unreadable",
                "accepted, fsck disagrees",
            )
        )
        print(f"\nfuzz: {shown}")
    assert FIGURES["leaks"] == FIGURES["partial writes"] == 0
    assert FIGURES["accepted but unreadable"] == FIGURES["accepted, fsck disagrees"] == 0
