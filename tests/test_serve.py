"""``redis-store serve`` as a real process on loopback, a real HTTP client, a real Redis, and
an origin that behaves as Clair's indexer (``tests/support/clair_indexer.py``).

Each test says what a Clair client would see: the matcher's GET, Quay's state, POST and
DELETE, the notifier's affected-manifests chunks, clairctl's conditional GET, the errors
and statuses of Clair, and what the tier holds afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from redis_store import IndexReport, RedisStore
from redis_store.demo import workload
from redis_store.ops import mirror
from tests.support.clair_indexer import DEFAULT_STATE, ClairIndexer
from tests.support.serve import ServeProcess, start_tier
from tests.support.servers import RedisServer
from tests.test_tier import REPORTS

pytestmark = [pytest.mark.real_only, pytest.mark.slow]

NS = "serve"
BASE = "/indexer/api/v1"
ETAG = f'"{DEFAULT_STATE}"'
DIGESTS = list(REPORTS)
ABSENT = "sha256:" + "ab" * 32
#: Reports the origin can index on a POST (it holds none of them at first).
CATALOG = {str(r.hash): r.to_json() for r in workload.generate(4, seed=21)}
NEW = list(CATALOG)


@pytest.fixture(scope="module")
def origin_store(redis_server: RedisServer) -> Iterator[RedisStore]:
    store = RedisStore.from_url(redis_server.url, namespace="origin", local_cache=False)
    yield store
    store.close()


@pytest.fixture(scope="module")
def clair(origin_store: RedisStore) -> Iterator[ClairIndexer]:
    api = ClairIndexer(REPORTS.values(), catalog=CATALOG.values(), store=origin_store)
    yield api
    api.stop()


@pytest.fixture(scope="module")
def server(redis_server: RedisServer, clair: ClairIndexer) -> Iterator[ServeProcess]:
    serve = start_tier(
        clair.url,
        redis_server.url,
        NS,
        "--origin-timeout",
        "2",
        "--index-timeout",
        "3",
        "--not-found-ttl",
        "0",
        "--state-ttl",
        "1",
        "--max-body",
        "2MiB",
    )
    yield serve
    assert serve.stop() == 0
    assert "Traceback" not in serve.log(), serve.log()


@pytest.fixture
def tier(redis_server: RedisServer) -> Iterator[RedisStore]:
    """The tier's store, emptied before the test."""
    client = redis_server.client()
    for key in client.scan_iter(match=f"{NS}:{{*", count=1000):
        client.delete(key)
    store = RedisStore.from_url(redis_server.url, namespace=NS, local_cache=False)
    yield store
    store.close()


@pytest.fixture
def origin(clair: ClairIndexer, origin_store: RedisStore) -> Iterator[ClairIndexer]:
    """The origin as it started: the shared reports held, no faults."""
    clair.faults.clear()
    clair.route_faults.clear()
    clair.index_seconds = 0.0
    clair.state = DEFAULT_STATE
    clair.catalog = {**REPORTS, **CATALOG}
    extra = [d for d in clair.reports if d not in REPORTS]
    for d in extra:
        del clair.reports[d]
    if extra:
        origin_store.delete_manifests(*extra)
    clair.counts.clear()
    yield clair


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A client as Quay's: one requests session, its connections pooled."""
    with requests.Session() as s:
        yield s


def get(http: requests.Session, server: ServeProcess, path: str, **kw: Any) -> requests.Response:
    return http.get(server.url + path, timeout=10, **kw)


# -- GET index_report ---------------------------------------------------------------------------


def test_a_miss_reads_through_then_the_tier_answers(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    d = DIGESTS[0]
    first = get(http, server, f"{BASE}/index_report/{d}")
    assert first.status_code == 200
    assert first.headers["etag"] == ETAG
    assert first.headers["content-type"] == "application/vnd.clair.index_report.v1+json"
    assert orjson.loads(first.content) == orjson.loads(REPORTS[d])
    assert origin.count("GET", f"{BASE}/index_report/{d}") == 1
    assert tier.index_report(d) is not None  # imported
    for _ in range(3):
        again = get(http, server, f"{BASE}/index_report/{d}")
        assert again.status_code == 200 and again.headers["etag"] == ETAG
        held = orjson.loads(again.content)
        assert held["manifest_hash"] == d and held["state"] == "IndexFinished"
    assert origin.count("GET", f"{BASE}/index_report/{d}") == 1  # the tier answered


def test_etag_304_before_the_lookup_and_404_in_clairs_shape(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    cond = get(http, server, f"{BASE}/index_report/{ABSENT}", headers={"If-None-Match": ETAG})
    assert cond.status_code == 304 and cond.content == b""
    assert origin.count("GET", f"{BASE}/index_report/{ABSENT}") == 0  # before the lookup
    other = get(http, server, f"{BASE}/index_report/{ABSENT}", headers={"If-None-Match": '"x"'})
    assert other.status_code == 404
    assert other.json() == {"code": "not-found", "message": "index report not found"}
    assert other.headers["content-type"] == "application/json"
    assert other.headers["x-content-type-options"] == "nosniff"
    weak = get(http, server, f"{BASE}/index_report/{ABSENT}", headers={"If-None-Match": "*"})
    assert weak.status_code == 404  # Clair compares exactly: no "*", no weak validators


def test_media_types_and_encodings_negotiated_as_clair(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    d = DIGESTS[0]
    url = f"{BASE}/index_report/{d}"
    as_json = get(http, server, url, headers={"Accept": "application/json"})
    assert as_json.headers["content-type"] == "application/json"
    ranked = get(http, server, url, headers={"Accept": "text/html;q=0.9, */*;q=0.1"})
    assert ranked.headers["content-type"] == "application/vnd.clair.index_report.v1+json"
    refused = get(http, server, url, headers={"Accept": "text/html"})
    assert refused.status_code == 415 and refused.json()["code"] == "internal-error"
    bad = get(http, server, url, headers={"Accept": "application/json;q"})
    assert bad.status_code == 400 and bad.json()["code"] == "bad-request"
    expected = get(http, server, url, headers={"Accept-Encoding": "identity"}).content
    for asked, encoding, unpack in (
        ("gzip", "gzip", gzip.decompress),
        ("zstd, gzip", "gzip", gzip.decompress),  # no zstd here: the next one
        ("deflate", "deflate", lambda b: zlib.decompress(b, -15)),
    ):
        for _ in range(2):  # the second from the gzip memo
            raw = http.get(
                server.url + url, headers={"Accept-Encoding": asked}, stream=True, timeout=10
            )
            assert raw.headers.get("content-encoding") == encoding
            assert unpack(raw.raw.read()) == expected
    none = http.get(server.url + url, headers={"Accept-Encoding": "identity;q=0"}, timeout=10)
    assert none.status_code == 415 and none.content == b""
    assert "gzip" in none.headers["accept-encoding"]


def test_malformed_digests_and_methods(
    server: ServeProcess, origin: ClairIndexer, http: requests.Session
) -> None:
    for bad in ("nope", "sha256:abc", "md5:" + "a" * 32, "sha256:" + "Z" * 64):
        r = get(http, server, f"{BASE}/index_report/{bad}")
        assert r.status_code == 400, bad
        assert r.json()["code"] == "bad-request" and r.json()["message"].startswith(
            "malformed path"
        )
    assert get(http, server, f"{BASE}/index_report/").status_code == 400
    put = http.put(server.url + f"{BASE}/index_report/{DIGESTS[0]}", timeout=10)
    assert put.status_code == 405
    assert put.json() == {"code": "method-not-allowed", "message": "method disallowed: PUT"}
    assert get(http, server, f"{BASE}/index_report").status_code == 405
    assert http.post(server.url + f"{BASE}/index_state", timeout=10).status_code == 405
    assert get(http, server, f"{BASE}/internal/affected_manifest/").status_code == 405


def test_a_report_the_origin_has_not_finished_is_relayed_not_kept(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    d = "sha256:" + "cd" * 32
    r = http.post(server.url + f"{BASE}/index_report", json=_manifest(ABSENT), timeout=10)
    assert r.status_code == 201 and r.json()["state"] == "IndexError"  # the origin's answer
    origin.hold(orjson.dumps({**r.json(), "manifest_hash": d}))
    got = get(http, server, f"{BASE}/index_report/{d}")
    assert got.status_code == 200 and got.json()["state"] == "IndexError"
    assert tier.index_report(d) is None and tier.index_report(ABSENT) is None


# -- the state ----------------------------------------------------------------------------------


def test_index_state_held_briefly_with_etag_and_304(
    server: ServeProcess, origin: ClairIndexer, http: requests.Session
) -> None:
    import time

    time.sleep(1.1)  # past --state-ttl
    origin.counts.clear()
    for _ in range(5):
        r = get(http, server, f"{BASE}/index_state")
        assert r.status_code == 200 and r.json() == {"state": DEFAULT_STATE}
        assert r.headers["etag"] == ETAG
        assert r.headers["content-type"] == "application/vnd.clair.index_state.v1+json"
    assert origin.count("GET", f"{BASE}/index_state") == 1
    cond = get(http, server, f"{BASE}/index_state", headers={"If-None-Match": ETAG})
    assert cond.status_code == 304 and cond.headers["etag"] == ETAG
    origin.state = "f" * 32  # Clair's scanners changed
    time.sleep(1.1)
    changed = get(http, server, f"{BASE}/index_state")
    assert changed.json() == {"state": "f" * 32} and changed.headers["etag"] == f'"{"f" * 32}"'
    assert get(http, server, f"{BASE}/index_report/{DIGESTS[0]}").headers["etag"] == f'"{"f" * 32}"'


# -- POST and DELETE ----------------------------------------------------------------------------


def _manifest(d: str) -> dict[str, Any]:
    layer = "sha256:" + hashlib.sha256(d.encode()).hexdigest()
    return {"hash": d, "layers": [{"hash": layer, "uri": "https://registry/blob", "headers": {}}]}


def test_post_is_forwarded_relayed_and_imported(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    d = NEW[1]
    r = http.post(server.url + f"{BASE}/index_report", json=_manifest(d), timeout=10)
    assert r.status_code == 201
    assert r.headers["etag"] == ETAG  # Quay stores it and compares it with index_state
    assert r.headers["location"] == f"{BASE}/index_report/{d}"
    links = r.headers["link"]
    assert f'<{BASE}/index_report/{d}>; rel="https://projectquay.io/clair/v1/index_report"' in links
    assert "vulnerability_report" in links
    assert orjson.loads(r.content) == orjson.loads(CATALOG[d])
    assert tier.index_report(d) is not None
    origin.counts.clear()
    assert get(http, server, f"{BASE}/index_report/{d}").status_code == 200
    assert origin.count("GET", f"{BASE}/index_report/{d}") == 0
    again = http.post(
        server.url + f"{BASE}/index_report",
        json=_manifest(d),
        headers={"If-None-Match": ETAG},
        timeout=10,
    )
    assert again.status_code == 412 and again.content == b""
    bogus = http.post(server.url + f"{BASE}/index_report", json={"hash": d}, timeout=10)
    assert bogus.status_code == 400 and bogus.json() == {
        "code": "bad-request",
        "message": "bogus manifest",
    }


def test_a_reindex_through_the_tier_replaces_the_held_report(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    d = NEW[2]
    assert http.post(server.url + f"{BASE}/index_report", json=_manifest(d), timeout=10).ok
    before = tier.index_report(d)
    assert before is not None
    mirror.mark_complete(tier, mirror.begin_fill(tier), origin=origin.url)
    changed = orjson.loads(CATALOG[d])
    changed["packages"] = dict(list(changed["packages"].items())[:1])
    keep = next(iter(changed["packages"]))
    changed["environments"] = {keep: changed["environments"][keep]}
    origin.catalog[d] = orjson.dumps(changed)
    try:
        r = http.post(server.url + f"{BASE}/index_report", json=_manifest(d), timeout=10)
        assert r.status_code == 201
        after = tier.index_report(d)
        assert after is not None and len(after.packages or {}) == 1 < len(before.packages or {})
        held = get(http, server, f"{BASE}/index_report/{d}").json()
        assert len(held["packages"]) == 1
        # the origin re-indexed it: the tier replaced its copy, and is as complete as before
        assert mirror.status(tier).complete, mirror.status(tier).reason
    finally:
        origin.catalog[d] = CATALOG[d]


def test_deletes_are_forwarded_then_made_here(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    a, b = NEW[0], NEW[3]
    for d in (a, b):
        assert http.post(server.url + f"{BASE}/index_report", json=_manifest(d), timeout=10).ok
    one = http.delete(server.url + f"{BASE}/index_report/{a}", timeout=10)
    assert one.status_code == 204 and one.content == b""
    assert tier.index_report(a) is None and a not in origin.reports
    assert get(http, server, f"{BASE}/index_report/{a}").status_code == 404
    unknown = http.delete(server.url + f"{BASE}/index_report/{ABSENT}", timeout=10)
    assert unknown.status_code == 204  # not an error, as Clair
    bulk = http.delete(server.url + f"{BASE}/index_report", json=[b, ABSENT], timeout=10)
    assert bulk.status_code == 200 and bulk.json() == [b]
    assert tier.index_report(b) is None
    none = http.delete(server.url + f"{BASE}/index_report", json=[ABSENT], timeout=10)
    assert none.status_code == 200 and none.json() == []  # claircore's nil slice, as documented
    bad = http.delete(server.url + f"{BASE}/index_report", data=b"[1,2", timeout=10)
    assert bad.status_code == 400 and bad.json()["message"].startswith("failed to deserialize")


# -- affected manifests -------------------------------------------------------------------------


def _vulnerabilities(n: int) -> list[dict[str, Any]]:
    reports = [IndexReport.from_json(raw) for raw in REPORTS.values()]
    vulns = workload.sample_vulnerabilities(reports, n, seed=3)
    return [orjson.loads(v.to_json()) for v in vulns]


def test_affected_manifests_forwarded_until_the_tier_is_a_complete_mirror(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    body = {"vulnerabilities": _vulnerabilities(50)}
    path = f"{BASE}/internal/affected_manifest/"
    forwarded = http.post(server.url + path, json=body, timeout=30)
    assert forwarded.status_code == 200
    assert origin.count("POST", path) == 1  # not a complete mirror: the origin answered
    expected = forwarded.json()
    assert set(expected["vulnerabilities"]) == {v["id"] for v in body["vulnerabilities"]}
    assert expected["vulnerable_manifests"], "the sample affects some manifests"

    start = mirror.begin_fill(tier)
    for raw in REPORTS.values():  # a fill of everything the origin lists
        tier.import_report(IndexReport.from_json(raw))
    assert mirror.mark_complete(tier, start, origin=origin.url).complete
    for slash in ("/", ""):
        local = http.post(server.url + path.rstrip("/") + slash, json=body, timeout=30)
        assert local.status_code == 200
        assert local.headers["content-type"] == "application/vnd.clair.affected_manifests.v1+json"
        assert local.json() == expected  # the same answer, most severe first
    assert origin.count("POST", path) == 1  # answered by the tier

    # an eviction (or any deletion not made at the origin) ends it at once
    tier.delete_manifests(DIGESTS[-1])
    assert not mirror.status(tier).complete
    again = http.post(server.url + path, json=body, timeout=30)
    assert again.json() == expected and origin.count("POST", path) == 2


def test_a_delete_forwarded_through_the_tier_keeps_it_complete(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    start = mirror.begin_fill(tier)
    for raw in REPORTS.values():
        tier.import_report(IndexReport.from_json(raw))
    mirror.mark_complete(tier, start, origin=origin.url)
    d = NEW[0]
    assert http.post(server.url + f"{BASE}/index_report", json=_manifest(d), timeout=10).ok
    assert http.delete(server.url + f"{BASE}/index_report/{d}", timeout=10).status_code == 204
    d2 = NEW[2]
    assert http.post(server.url + f"{BASE}/index_report", json=_manifest(d2), timeout=10).ok
    assert http.delete(server.url + f"{BASE}/index_report", json=[d2], timeout=10).ok
    assert mirror.status(tier).complete, mirror.status(tier).reason
    path = f"{BASE}/internal/affected_manifest/"
    origin.counts.clear()
    r = http.post(server.url + path, json={"vulnerabilities": _vulnerabilities(5)}, timeout=30)
    assert r.status_code == 200 and origin.count("POST", path) == 0


def test_affected_manifests_bad_bodies(
    server: ServeProcess, origin: ClairIndexer, http: requests.Session
) -> None:
    path = server.url + f"{BASE}/internal/affected_manifest/"
    for body in (b"{", b"[]", b'{"vulnerabilities": 3}', b'{"vulnerabilities": [{"issued": 5}]}'):
        r = http.post(path, data=body, timeout=10)
        assert r.status_code == 400, body
        assert r.json()["message"].startswith("failed to deserialize vulnerabilities")
    empty = http.post(path, data=b'{"vulnerabilities": null}', timeout=10)
    assert empty.status_code == 200
    assert empty.json() == {"vulnerabilities": {}, "vulnerable_manifests": {}}


# -- forwarded unchanged ------------------------------------------------------------------------


def test_other_paths_are_passed_through(
    server: ServeProcess, origin: ClairIndexer, http: requests.Session
) -> None:
    d = DIGESTS[0]
    r = get(http, server, f"/matcher/api/v1/vulnerability_report/{d}?x=1")
    assert r.status_code == 201 and r.json()["manifest_hash"] == d
    assert r.headers["cache-control"] == "max-age=21600"
    assert origin.count("GET", f"/matcher/api/v1/vulnerability_report/{d}") == 1
    missing = get(http, server, "/notifier/api/v1/notification/x")
    assert missing.status_code == 404  # the origin's answer, as it gave it
    assert get(http, server, "/robots.txt").text == "User-agent: *\nDisallow: /\n"


# -- trouble ------------------------------------------------------------------------------------


def test_the_origin_down_slow_or_broken_but_held_reports_answer(
    server: ServeProcess, origin: ClairIndexer, tier: RedisStore, http: requests.Session
) -> None:
    held, missing = DIGESTS[0], DIGESTS[1]
    assert get(http, server, f"{BASE}/index_report/{held}").status_code == 200
    for fault, status in (
        ("500", 502),
        ("malformed", 502),
        ("truncated", 502),
        ("drop", 502),
        ("slow", 504),
        ("other", 502),
    ):
        origin.faults[missing] = fault
        origin.slow_seconds = 3.0
        r = get(http, server, f"{BASE}/index_report/{missing}")
        assert r.status_code == status, (fault, r.text)
        assert r.json()["code"] == "internal-error" and r.json()["message"]
        assert tier.index_report(missing) is None  # nothing half-imported
        assert get(http, server, f"{BASE}/index_report/{held}").status_code == 200
    origin.faults.clear()
    origin.route_faults["state"] = "500"
    import time

    time.sleep(1.1)
    assert get(http, server, f"{BASE}/index_state").status_code == 502
    ok = get(http, server, f"{BASE}/index_report/{held}")
    assert ok.status_code == 200 and ok.headers["etag"] == ETAG  # the state last heard


def test_bodies_over_the_limit_are_413(server: ServeProcess, origin: ClairIndexer) -> None:
    big = b"[" + b'"x",' * (1 << 20) + b'"x"]'
    with requests.Session() as http:
        r = http.delete(server.url + f"{BASE}/index_report", data=big, timeout=30)
        assert r.status_code == 413 and r.json()["code"] == "internal-error"
        streamed = http.post(
            server.url + f"{BASE}/internal/affected_manifest/", data=iter([big]), timeout=30
        )
        assert streamed.status_code == 413


def test_a_client_gone_mid_answer_costs_nothing(
    server: ServeProcess, origin: ClairIndexer, http: requests.Session
) -> None:
    import socket

    d = max(REPORTS, key=lambda k: len(REPORTS[k]))
    assert get(http, server, f"{BASE}/index_report/{d}").status_code == 200
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(f"GET {BASE}/index_report/{d} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            s.recv(100)  # then go away with the rest unread
    assert get(http, server, f"{BASE}/index_report/{d}").status_code == 200
    assert "Traceback" not in server.log() and "Exception" not in server.log()


def test_every_answer_is_logged_with_its_route_and_source(
    server: ServeProcess, origin: ClairIndexer, http: requests.Session
) -> None:
    get(http, server, f"{BASE}/index_report/{DIGESTS[0]}")
    lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
    last = [x for x in lines if x["route"] == "index_report" and x["status"] == 200][-1]
    assert last["source"] in ("tier", "origin") and last["method"] == "GET" and last["ms"] >= 0
    assert last["uri"] == f"{BASE}/index_report/{DIGESTS[0]}"


def test_metrics_and_health(
    server: ServeProcess, origin: ClairIndexer, http: requests.Session
) -> None:
    import time

    get(http, server, f"{BASE}/index_report/{DIGESTS[0]}")
    time.sleep(1.2)  # the worker writes its figures once a second
    text = requests.get(server.introspection + "/metrics", timeout=10).text
    for series in (
        "redis_store_serve_requests_total{",
        'route="index_report"',
        "redis_store_serve_request_duration_seconds_bucket",
        "redis_store_serve_requests_in_flight",
        "redis_store_serve_origin_requests_total",
        "redis_store_serve_mirror_complete",
        "claircore_indexer_indexreport_total",  # the store's, under claircore's names
        "redis_store_local_cache_hits",
    ):
        assert series in text, series
    assert requests.get(server.introspection + "/healthz", timeout=10).status_code == 200
    ready = requests.get(server.introspection + "/readyz", timeout=10)
    assert ready.status_code == 200
    (worker,) = ready.json()["workers"].values()
    assert worker["redis"] == "ok" and worker["state"] == DEFAULT_STATE
