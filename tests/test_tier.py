"""The cache tier's read-through: a miss fetched from Clair's indexer API (a real HTTP
server on loopback), imported whole as claircore's controller would, then a hit; faults of
the origin raise OriginError and write nothing; concurrent misses fetch once.

Runs on every backend, sync and asyncio, with the local cache on and off. The reports are
the shared real claircore reports where present, else the workload's.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from redis_store import (
    AsyncRedisStore,
    ClairIndexerOrigin,
    IndexReport,
    InvalidInputError,
    OriginError,
    ReadThrough,
    RedisStore,
    ops,
)
from redis_store.demo import workload
from redis_store.store.importing import contents
from tests.conftest import SHARED_TESTDATA, Backend
from tests.support.adapters import BlockingAsyncStore
from tests.support.cache import start_cache
from tests.support.clair import ClairAPI
from tests.support.inspect import snapshot

ABSENT = "sha256:" + "0" * 64


def report_documents() -> dict[str, bytes]:
    """Digest -> report JSON: the shared real reports, else three of the workload's."""
    docs: dict[str, bytes] = {}
    if SHARED_TESTDATA.is_dir():
        for p in sorted(SHARED_TESTDATA.glob("*.index.json")):
            raw = p.read_bytes()
            docs[orjson.loads(raw)["manifest_hash"]] = raw
    if not docs:
        for r in workload.generate(3, seed=7):
            docs[str(r.hash)] = r.to_json()
    return docs


REPORTS = report_documents()
FIRST = next(iter(REPORTS))


def imported_contents() -> dict[str, Any]:
    """What each report reads back as after a plain import (the store's own reading of
    it: a package without a source reads back with an empty one, as claircore's does)."""
    import fakeredis

    plain = RedisStore(fakeredis.FakeRedis(), "plain")
    out = {}
    for d, raw in REPORTS.items():
        plain.import_report(IndexReport.from_json(raw))
        out[d] = contents(plain.index_report(d))  # type: ignore[arg-type]
    return out


EXPECTED = imported_contents()


@pytest.fixture(scope="module")
def api() -> Iterator[ClairAPI]:
    server = ClairAPI(REPORTS)
    yield server
    server.stop()


@pytest.fixture
def clair(api: ClairAPI) -> ClairAPI:
    api.requests.clear()
    api.faults.clear()
    api.authorizations.clear()
    api.token = None
    return api


Make = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest, backend: Backend, cache: bool) -> Iterator[Make]:
    """Stores with an origin, on the test's backend: ``make(origin, **read_through)``."""
    made: list[Any] = []
    loop = asyncio.new_event_loop() if request.param == "async" else None

    def build(origin: Any, **options: Any) -> Any:
        tier = ReadThrough(origin, **options)
        if loop is None:
            s: Any = RedisStore(backend.client(), "test", local_cache=cache, origin=tier)
            if cache:
                start_cache(s)
        else:
            a = AsyncRedisStore(backend.async_client(), "test", local_cache=cache, origin=tier)
            if cache:
                start_cache(a)
            s = BlockingAsyncStore(a, loop)
        made.append(s)
        return s

    yield build
    for s in made:
        if loop is None:
            s.close()
        else:
            loop.run_until_complete(s.inner.close())
    if loop is not None:
        loop.close()


def checker(backend: Backend) -> RedisStore:
    return RedisStore(backend.client(), "test", local_cache=False)


def origin_of(api: ClairAPI, **kwargs: Any) -> ClairIndexerOrigin:
    return ClairIndexerOrigin(api.url, **{"timeout": 2.0, **kwargs})


def test_a_miss_is_fetched_imported_and_then_a_hit(
    make: Make, clair: ClairAPI, backend: Backend
) -> None:
    store = make(origin_of(clair))
    for d, raw in REPORTS.items():
        got = store.index_report(d)
        assert got is not None and got.state == "IndexFinished" and got.success
        assert contents(got) == EXPECTED[d]
        assert len(got.packages or {}) == len(IndexReport.from_json(raw).packages or {})
        assert store.index_report(d) == got  # a hit
        assert orjson.loads(store.index_report_json(d))["manifest_hash"] == d
        assert clair.requests[d] == 1
    with checker(backend) as admin:
        assert ops.check(admin) == []
        assert sorted(d for _, d in ops.manifests(admin)) == sorted(REPORTS)
    assert store.tier.stats().imported == len(REPORTS)


def test_index_report_json_and_manifest_scanned_read_through(
    make: Make, clair: ClairAPI, backend: Backend
) -> None:
    d = next(iter(REPORTS))
    store = make(origin_of(clair))
    assert orjson.loads(store.index_report_json(d))["manifest_hash"] == d
    second = list(REPORTS)[-1]
    report = store.index_report(d)
    from redis_store import replay

    scanners = replay.plan(IndexReport.from_json(REPORTS[second])).scanners
    assert store.manifest_scanned(second, scanners) is True  # read through, then answered
    assert clair.requests[second] == 1
    assert report is not None
    # what other methods read is only what the tier holds: no request for them
    assert store.manifest_scanned(ABSENT, scanners) is False
    assert store.manifest_scanned(ABSENT, scanners) is False
    assert clair.requests[ABSENT] == 1  # "not found" remembered
    with checker(backend) as admin:
        assert ops.check(admin) == []


def test_not_found_is_remembered_briefly(make: Make, clair: ClairAPI) -> None:
    store = make(origin_of(clair), not_found_ttl=0.3)
    for _ in range(5):
        assert store.index_report(ABSENT) is None
    assert clair.requests[ABSENT] == 1
    import time

    time.sleep(0.35)
    assert store.index_report(ABSENT) is None
    assert clair.requests[ABSENT] == 2
    stats = store.tier.stats()
    assert stats.not_found == 2 and stats.not_found_remembered == 4


@pytest.mark.parametrize("fault", ["500", "slow", "malformed", "truncated", "other"])
def test_an_origin_failure_raises_origin_error_and_writes_nothing(
    make: Make, clair: ClairAPI, backend: Backend, fault: str
) -> None:
    clair.faults[FIRST] = fault
    clair.slow_seconds = 1.0
    store = make(origin_of(clair, timeout=0.3))
    with checker(backend) as admin:
        before = snapshot(admin.client)
        with pytest.raises(OriginError) as e:
            store.index_report(FIRST)
        assert FIRST in str(e.value) and e.value.digest == FIRST
        assert snapshot(admin.client) == before
        assert ops.check(admin) == []
    # the failure is not remembered: the next read asks again, and succeeds once it can
    del clair.faults[FIRST]
    assert store.index_report(FIRST) is not None


def test_an_unreachable_origin_is_an_origin_error(make: Make, clair: ClairAPI) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    store = make(ClairIndexerOrigin(f"http://127.0.0.1:{port}", timeout=1.0))
    with pytest.raises(OriginError, match=r"cannot reach Clair at .*: Connection refused"):
        store.index_report(FIRST)


def test_a_token_or_a_callable_goes_in_the_authorization_header(
    make: Make, clair: ClairAPI
) -> None:
    clair.token = "s3cret"
    with pytest.raises(OriginError, match="401"):
        make(origin_of(clair)).index_report(FIRST)
    tokens = iter(["s3cret", "s3cret"])
    store = make(origin_of(clair, token=lambda: next(tokens)))
    assert store.index_report(FIRST) is not None
    assert clair.authorizations[-1] == "Bearer s3cret"


def test_a_failed_import_is_undone(make: Make, clair: ClairAPI, backend: Backend) -> None:
    """A report the origin serves that the store refuses part-way (a scanner name it cannot
    store) is an OriginError before anything is written."""
    doc = orjson.loads(REPORTS[FIRST])
    doc["state"] = "IndexFinished"
    pkg = next(iter(doc["packages"].values()))
    pkg["name"] = ""
    bad = "sha256:" + "b" * 64
    doc["manifest_hash"] = bad
    clair.reports[bad] = orjson.dumps(doc)
    try:
        store = make(origin_of(clair))
        with checker(backend) as admin:
            before = snapshot(admin.client)
            with pytest.raises(OriginError, match="without a name"):
                store.index_report(bad)
            assert snapshot(admin.client) == before
    finally:
        del clair.reports[bad]


def test_an_unfinished_report_at_the_origin_is_not_found(make: Make, clair: ClairAPI) -> None:
    doc = orjson.loads(REPORTS[FIRST])
    doc.update(state="ScanLayers", success=False)
    pending = "sha256:" + "c" * 64
    doc["manifest_hash"] = pending
    clair.reports[pending] = orjson.dumps(doc)
    try:
        store = make(origin_of(clair))
        assert store.index_report(pending) is None
        assert store.tier.stats().not_found == 1
    finally:
        del clair.reports[pending]


@pytest.mark.slow
def test_concurrent_misses_in_many_stores_fetch_once(clair: ClairAPI, backend: Backend) -> None:
    """Eight stores (as eight processes would) miss the same manifest at once: one fetch."""
    clair.faults[FIRST] = "slow"
    clair.slow_seconds = 0.5
    stores = [
        RedisStore(backend.client(), "test", origin=origin_of(clair, timeout=5.0)) for _ in range(8)
    ]
    got: list[Any] = []
    errors: list[BaseException] = []

    def read(s: RedisStore) -> None:
        try:
            got.append(s.index_report(FIRST))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=read, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert clair.requests[FIRST] == 1
    assert len(got) == 8 and all(r is not None and r.success for r in got)
    assert sum(s.tier.stats().imported_elsewhere for s in stores if s.tier) == 7
    for s in stores:
        s.close()


def test_concurrent_misses_in_one_asyncio_store_fetch_once(
    clair: ClairAPI, backend: Backend
) -> None:
    clair.faults[FIRST] = "slow"
    clair.slow_seconds = 0.3

    async def main() -> list[Any]:
        store = AsyncRedisStore(
            backend.async_client(), "test", origin=origin_of(clair, timeout=5.0)
        )
        try:
            return list(await asyncio.gather(*(store.index_report(FIRST) for _ in range(6))))
        finally:
            await store.close()

    results = asyncio.run(main())
    assert clair.requests[FIRST] == 1
    assert all(r is not None and r.success for r in results)


def test_a_held_lock_is_used_not_waited_for(make: Make, clair: ClairAPI) -> None:
    store = make(origin_of(clair))
    with store.manifest_lock(FIRST):
        assert store.index_report(FIRST) is not None


def test_origin_from_a_url_and_its_checks(backend: Backend, clair: ClairAPI) -> None:
    store = RedisStore(backend.client(), "test", origin=clair.url)
    assert store.index_report(FIRST) is not None
    store.close()
    with pytest.raises(ValueError, match="shorter than lock_ttl"):
        RedisStore(backend.client(), "test", origin=origin_of(clair, timeout=40.0))
    with pytest.raises(ValueError, match="neither"):
        RedisStore(backend.client(), "test", origin="ftp://clair")
    with pytest.raises(InvalidInputError, match="Origin"):
        ReadThrough(object())  # type: ignore[arg-type]
