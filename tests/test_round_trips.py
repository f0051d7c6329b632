"""Each method costs a constant number of round trips, whatever its input size.

A round trip is one write of commands to the server's socket followed by reading the replies:
counted at the connection (``send_packed_command``), below the store, so pipelines count once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio.connection
import redis.connection

from redis_store import (
    Environment,
    IndexReport,
    Layer,
    Manifest,
    Repository,
    VersionedScanner,
)
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


class Counter:
    def __init__(self) -> None:
        self.n = 0


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    counter = Counter()
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


def test_round_trips_constant_in_input_size(store: Any, round_trips: Counter) -> None:
    measure(store, 1, round_trips)  # the first calls load the scripts into the server
    small = measure(store, 10, round_trips)
    large = measure(store, 2000, round_trips)
    assert small == EXPECTED
    assert large == EXPECTED


def test_scripts_survive_script_flush(store: Any, backend: Any, round_trips: Counter) -> None:
    store.register_scanners([SCANNER])
    backend.client().script_flush()
    before = round_trips.n
    store.register_scanners([SCANNER])  # NOSCRIPT, then every script loaded at once, then again
    assert round_trips.n - before == 3
    before = round_trips.n
    layer = gen.random_digest()
    store.persist_manifest(Manifest(hash=gen.random_digest(), layers=[Layer(hash=layer)]))
    assert store.layer_scanned(layer, SCANNER) is False
    assert round_trips.n - before == 2


def test_scripts_survive_flush_inside_a_pipeline(store: Any, backend: Any) -> None:
    ms = [gen.random_digest() for _ in range(3)]
    for m in ms:
        store.persist_manifest(Manifest(hash=m, layers=[]))
    backend.client().script_flush()
    assert store.delete_manifests(*ms) == ms


def test_affected_manifests_round_trips(store: Any, round_trips: Counter) -> None:
    """2 round trips for one vulnerability or a batch of 1,000, whatever the candidates."""
    from redis_store import Package, Vulnerability, workload
    from redis_store.replay import replay

    reports = list(workload.generate(30, seed=3))
    for r in reports:
        replay(store, r)
    vulns = workload.sample_vulnerabilities(reports, 1000, seed=3)
    store.affected_manifests(vulns[0])  # scripts loaded
    for v in vulns[:20]:
        before = round_trips.n
        store.affected_manifests(v)
        assert round_trips.n - before == 2
    before = round_trips.n
    result = store.affected_manifests_batch(vulns)
    assert round_trips.n - before == 2
    assert result.vulnerable_manifests  # the sample does hit manifests
    before = round_trips.n
    assert store.affected_manifests(Vulnerability(package=Package(name="no-such-package"))) == []
    assert round_trips.n - before == 1  # no candidates: nothing more to read
