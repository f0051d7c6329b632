"""Each method costs a constant number of round trips, whatever its input size.

A round trip is one write of commands to the server's socket followed by reading the replies:
counted at the connection (``send_packed_command``), below the store, so pipelines count once.
On a Redis Cluster a round trip is one batch the store sends: a cluster pipeline writes the
batch's commands to every shard it touches, then reads every shard's replies, so the shards
answer in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio.connection
import redis.connection

from redis_store import (
    AsyncRedisStore,
    Environment,
    IndexReport,
    Layer,
    Manifest,
    Package,
    RedisStore,
    Repository,
    VersionedScanner,
)
from redis_store.demo import workload
from tests.support import gen

SCANNER = VersionedScanner("dpkg", "7", "package")

EXPECTED = {
    "register_scanners": 1,
    "persist_manifest": 1,
    "set_layer_scanned": 1,
    "layer_scanned": 1,
    "index_packages": 1,
    "index_distributions": 1,
    "index_repositories": 1,
    "index_files": 1,
    "packages_by_layer": 1,
    "distributions_by_layer": 1,
    "repositories_by_layer": 1,
    "files_by_layer": 1,
    "set_index_report": 1,
    "index_manifest": 2,  # plan (read the current records), then one script
    "manifest_scanned": 1,
    "set_index_finished": 1,
    "index_report": 1,
    "manifest_lock": 2,  # acquire, release
    "delete_manifests": 2,  # plan every digest in one pipeline, then delete them in one
}

#: With the local cache on (one server): a manifest's plan is remembered from its last
#: write, so index_manifest needs only its script (the script checks the plan's generation).
#: delete_manifests still reads the plans of the digests it does not know (here: random).
EXPECTED_CACHED = EXPECTED | {"index_manifest": 1}

#: On a cluster, multi-slot methods run as ordered per-slot steps (docs/design.md). Scanner
#: IDs are cached after their first use.
EXPECTED_CLUSTER = EXPECTED | {
    "persist_manifest": 4,  # look, take an ID in {g}, claim it in {m:..}, link the layers
    "index_packages": 3,  # check the layer, upsert and reference in {g}, append in {l:..}
    "index_distributions": 3,
    "index_repositories": 3,
    "index_files": 1,  # nothing to index: the layer's existence is checked
    "packages_by_layer": 2,  # the artifact list, then the entities
    "distributions_by_layer": 2,
    "repositories_by_layer": 2,
    "files_by_layer": 1,  # no artifacts: no entities to read
    "index_manifest": 7,  # lock, read, check and reference, switch, reverse index, settle, unlock
    "delete_manifests": 4,  # read, delete in {m:..}, records and layers, references
}


class Counter:
    def __init__(self) -> None:
        self.n = 0


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch, backend: Any) -> Iterator[Counter]:
    counter = Counter()
    if backend.kind == "cluster":
        yield from count_batches(monkeypatch, counter)
        return
    sync_send = redis.connection.AbstractConnection.send_packed_command
    async_send = redis.asyncio.connection.AbstractConnection.send_packed_command

    main = threading.get_ident()  # lock renewers of other tests' stores run on other threads

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter.n += threading.get_ident() == main
        return sync_send(self, *args, **kwargs)

    async def acounting(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter.n += 1

        return await async_send(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    monkeypatch.setattr(
        redis.asyncio.connection.AbstractConnection, "send_packed_command", acounting
    )
    yield counter


def count_batches(monkeypatch: pytest.MonkeyPatch, counter: Counter) -> Iterator[Counter]:
    main = threading.get_ident()
    sync_send, async_send = RedisStore._send, AsyncRedisStore._send

    def counting(self: Any, batch: Any) -> Any:
        counter.n += threading.get_ident() == main
        return sync_send(self, batch)

    async def acounting(self: Any, batch: Any) -> Any:
        counter.n += 1
        return await async_send(self, batch)

    monkeypatch.setattr(RedisStore, "_send", counting)
    monkeypatch.setattr(AsyncRedisStore, "_send", acounting)
    yield counter


def measure(store: Any, n_packages: int, counter: Counter) -> dict[str, int]:
    out: dict[str, int] = {}

    def count(name: str, *args: Any) -> Any:
        before = counter.n
        result = getattr(store, name)(*args)
        out[name] = counter.n - before
        return result

    store.index_report(gen.random_digest())  # open the connection first
    m, layer = gen.random_digest(), gen.random_digest()
    count("register_scanners", [SCANNER])
    count("persist_manifest", Manifest(hash=m, layers=[Layer(hash=layer)]))
    count("index_packages", gen.unique_packages(n_packages), layer, SCANNER)
    count("index_distributions", gen.unique_distributions(n_packages), layer, SCANNER)
    count("index_repositories", gen.unique_repositories(n_packages), layer, SCANNER)
    count("index_files", [], layer, SCANNER)
    pkgs = count("packages_by_layer", layer, [SCANNER])
    count("distributions_by_layer", layer, [SCANNER])
    repos: list[Repository] = count("repositories_by_layer", layer, [SCANNER])
    count("files_by_layer", layer, [SCANNER])
    count("set_layer_scanned", layer, SCANNER)
    count("layer_scanned", layer, SCANNER)
    report = IndexReport(
        hash=m,
        state="Coalesce",
        packages={p.id: p for p in pkgs},
        repositories={r.id: r for r in repos},
        environments={
            p.id: [
                Environment(
                    package_db=p.package_db,
                    introduced_in=layer,
                    repository_ids=[repos[i % len(repos)].id],
                )
            ]
            for i, p in enumerate(pkgs)
        },
    )
    count("set_index_report", report)
    count("index_manifest", report)
    count("manifest_scanned", m, [SCANNER])
    count("set_index_finished", report, [SCANNER])
    count("index_report", m)
    before = counter.n
    with store.manifest_lock(m):
        pass
    out["manifest_lock"] = counter.n - before
    count("delete_manifests", m, *(gen.random_digest() for _ in range(n_packages // 10)))
    return out


def test_round_trips_constant_in_input_size(store: Any, backend: Any, round_trips: Counter) -> None:
    measure(store, 1, round_trips)  # the first calls load the scripts into the server
    small = measure(store, 10, round_trips)
    large = measure(store, 2000, round_trips)
    if backend.kind == "cluster":
        expected = EXPECTED_CLUSTER
    else:
        expected = EXPECTED_CACHED if store.local_cache.enabled else EXPECTED
    assert small == expected
    assert large == expected


def test_scripts_survive_script_flush(store: Any, backend: Any, round_trips: Counter) -> None:
    store.register_scanners([SCANNER])
    backend.client().script_flush()
    before = round_trips.n
    store.register_scanners([SCANNER])  # NOSCRIPT, then every script loaded at once, then again
    cluster = backend.kind == "cluster"
    # on a cluster the store counts batches: the reload happens inside the one batch
    assert round_trips.n - before == (1 if cluster else 3)
    before = round_trips.n
    layer = gen.random_digest()
    store.persist_manifest(Manifest(hash=gen.random_digest(), layers=[Layer(hash=layer)]))
    assert store.layer_scanned(layer, SCANNER) is False
    assert round_trips.n - before == (EXPECTED_CLUSTER["persist_manifest"] + 1 if cluster else 2)


def test_scripts_survive_flush_inside_a_pipeline(store: Any, backend: Any) -> None:
    ms = [gen.random_digest() for _ in range(3)]
    for m in ms:
        store.persist_manifest(Manifest(hash=m, layers=[]))
    backend.client().script_flush()
    assert store.delete_manifests(*ms) == ms


def test_affected_manifests_round_trips(store: Any, backend: Any, round_trips: Counter) -> None:
    """2 round trips for one vulnerability or a batch of 1,000, whatever the candidates (5 on
    a cluster: records, entities, buckets, the manifest table, the manifests' own IDs)."""
    from redis_store import Package, Vulnerability
    from redis_store.demo import workload
    from redis_store.replay import replay

    reports = list(workload.generate(30, seed=3))
    for r in reports:
        replay(store, r)
    vulns = workload.sample_vulnerabilities(reports, 1000, seed=3)
    store.affected_manifests(vulns[0])  # scripts loaded
    trips = 5 if backend.kind == "cluster" else 2
    for v in vulns[:20]:
        before = round_trips.n
        store.affected_manifests(v)
        assert round_trips.n - before == trips
    before = round_trips.n
    result = store.affected_manifests_batch(vulns)
    assert round_trips.n - before == trips
    assert result.vulnerable_manifests  # the sample does hit manifests
    before = round_trips.n
    assert store.affected_manifests(Vulnerability(package=Package(name="no-such-package"))) == []
    assert round_trips.n - before == 1  # no candidates: nothing more to read


def test_large_batches_read_buckets_in_short_scripts(
    store: Any, backend: Any, round_trips: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Buckets are read by several short scripts in the same round trip, same answers."""
    from redis_store.demo import workload
    from redis_store.replay import replay
    from redis_store.store.steps import single as core

    reports = list(workload.generate(12, seed=5))
    for r in reports:
        replay(store, r)
    vulns = workload.sample_vulnerabilities(reports, 300, seed=5)
    whole = store.affected_manifests_batch(vulns)
    monkeypatch.setattr(core, "BUCKETS_PER_SCRIPT", 1)
    before = round_trips.n
    assert store.affected_manifests_batch(vulns) == whole
    assert round_trips.n - before == (5 if backend.kind == "cluster" else 2)
    assert whole.vulnerable_manifests


def test_warm_writes_and_reads_cost_less(store: Any, backend: Any, round_trips: Counter) -> None:
    """With the local cache on, a remembered plan saves index_manifest's and
    delete_manifests' plan reads, and a repeated read costs no round trip; cold, they cost
    what EXPECTED says (checked above)."""
    if backend.kind == "cluster" or not store.local_cache.enabled:
        pytest.skip("remembered plans and answers: one server with the local cache on")
    measure(store, 1, round_trips)
    m, layer = gen.random_digest(), gen.random_digest()
    store.register_scanners([SCANNER])
    store.persist_manifest(Manifest(hash=m, layers=[Layer(hash=layer)]))
    store.index_packages(gen.unique_packages(50), layer, SCANNER)
    pkgs = store.packages_by_layer(layer, [SCANNER])
    envs = {p.id: [Environment(package_db=p.package_db, introduced_in=layer)] for p in pkgs}
    report = IndexReport(
        hash=m, state="IndexFinished", packages={p.id: p for p in pkgs}, environments=envs
    )
    for _ in range(2):  # first after persist_manifest, then a re-index: the plan is known
        before = round_trips.n
        store.index_manifest(report)
        assert round_trips.n - before == 1
    store.set_index_finished(report, [SCANNER])
    reads = [
        lambda: store.index_report(m),
        lambda: store.index_report_json(m),
        lambda: store.manifest_scanned(m, [SCANNER]),
        lambda: store.layer_scanned(layer, SCANNER),
        lambda: store.packages_by_layer(layer, [SCANNER]),
    ]
    for read in reads:
        read()  # cold: one round trip each, kept
    if store.local_cache.live:  # fakeredis: no tracking, every read goes to the server
        before = round_trips.n
        for read in reads:
            read()
        assert round_trips.n - before == 0
    before = round_trips.n
    assert store.delete_manifests(m) == [m]
    assert round_trips.n - before == 1  # the plan is known: only the delete script


#: import_report: one server, a plan (entities looked up, IDs reserved) then the one write;
#: one round trip when every entity, the scanners and the manifest counter are known. On a
#: cluster: take the lock, plan (or read the manifest), entities in {g}, every layer and
#: record at once, the manifest in {m:...} (which releases the lock).
IMPORT = {"cold": 2, "warm": 1}
IMPORT_CLUSTER = {"cold": 5, "warm": 5}


def test_import_round_trips_constant_in_report_size(
    store: Any, backend: Any, round_trips: Counter
) -> None:
    """A report of a few packages and one of thousands cost the same round trips, cold (a
    store that knows none of its entities) and warm (one that imported them before: the
    same content under another manifest digest)."""
    small, large = workload.generate(2, seed=31)
    large = IndexReport.from_json(large.to_json())
    pkgs = dict(list((large.packages or {}).items())[:3])
    small = IndexReport.from_json(small.to_json())
    small.packages = pkgs
    small.environments = {k: v for k, v in (large.environments or {}).items() if k in pkgs}
    store.index_report(gen.random_digest())  # open the connection first
    expected = IMPORT_CLUSTER if backend.kind == "cluster" else IMPORT
    many = IndexReport.from_json(large.to_json())
    many.packages = {}
    many.environments = {}
    # thousands of packages in one layer: large.packages repeated under new names
    template = next(iter((large.packages or {}).values()))
    env = (large.environments or {})[template.id]
    for i in range(3000):
        pid = str(10_000 + i)
        many.packages[pid] = Package(id=pid, name=f"pkg-{i}", version="1.0", kind="binary")
        many.environments[pid] = [Environment(env[0].package_db, env[0].introduced_in)]
    for report in (small, many):
        before = round_trips.n
        store.import_report(report)
        cold = round_trips.n - before
        again = IndexReport.from_json(report.to_json())
        again.hash = gen.random_digest()
        before = round_trips.n
        store.import_report(again)
        warm = round_trips.n - before
        assert {"cold": cold, "warm": warm} == expected, len(report.packages or {})
