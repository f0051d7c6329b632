"""The server's pure parts: Clair's negotiation rules, the settings table, the gzip memo,
the mirror mark on every backend, and where the server sits in the package."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from redis_store import IndexReport, Manifest
from redis_store.ops import mirror
from redis_store.serve import config as settings
from redis_store.serve.negotiate import (
    BadAccept,
    GzipMemo,
    NotAcceptable,
    pick_content_type,
    pick_encoding,
)
from tests.test_house import import_graph
from tests.test_tier import REPORTS

REPORT_TYPES = ("application/vnd.clair.index_report.v1+json", "application/json")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/vnd.clair.index_report.v1+json"),
        (["application/json"], "application/json"),
        (["*/*"], "application/vnd.clair.index_report.v1+json"),
        (["application/*"], "application/vnd.clair.index_report.v1+json"),
        (["text/html, application/json"], "application/json"),
        (
            ["application/json;q=0.5, application/vnd.clair.index_report.v1+json"],
            "application/vnd.clair.index_report.v1+json",
        ),
        (["text/plain", "application/json"], "application/json"),  # several headers
        (["application/json;q=0"], "application/json"),  # Clair does not treat q=0 as "no"
    ],
)
def test_content_types_as_clair_picks_them(accept: list[str] | None, expected: str) -> None:
    assert pick_content_type(accept, REPORT_TYPES) == expected


def test_content_type_failures() -> None:
    with pytest.raises(NotAcceptable):
        pick_content_type(["text/html"], REPORT_TYPES)
    for bad in (["text"], ["application/json,"], ["a/b; q"]):
        with pytest.raises(BadAccept):
            pick_content_type(bad, REPORT_TYPES)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "identity"),
        ("gzip", "gzip"),  # what Go's transport sends
        ("x-gzip", "gzip"),
        ("deflate, gzip", "deflate"),  # the listed order wins when no q is given
        ("deflate, gzip;q=0.5", "gzip"),  # absent q sorts as 0 in Clair's handler
        ("zstd", "identity"),  # not offered here: passed over
        ("zstd, gzip", "gzip"),
        ("br;q=1, identity;q=0.5", "identity"),
        ("*", "gzip"),
        ("gzip;q=0, *", "identity"),
        ("", "identity"),
    ],
)
def test_encodings_as_clairs_compression_middleware_picks_them(
    header: str | None, expected: str
) -> None:
    assert pick_encoding(header) == expected


@pytest.mark.parametrize("header", ["identity;q=0", "*;q=0", "gzip;q=0, identity;q=0, *"])
def test_no_acceptable_encoding(header: str) -> None:
    with pytest.raises(NotAcceptable):
        pick_encoding(header)


def test_the_gzip_memo_compresses_a_held_report_once() -> None:
    memo = GzipMemo(1 << 20)
    body = b'{"manifest_hash":"x"}' * 100
    first = memo.gzip("d", body)
    assert gzip.decompress(first) == body
    assert memo.gzip("d", body) is first and memo.hits == 1
    changed = body + b" "
    assert gzip.decompress(memo.gzip("d", changed)) == changed  # a new report, anew
    small = GzipMemo(100)
    small.gzip("a", body)
    assert small.size <= 100


def test_settings_resolve_options_then_environment_then_defaults() -> None:
    env = {
        "REDIS_STORE_ORIGIN": "http://clair:6060,clair+postgresql://u@db/clair",
        "REDIS_STORE_WORKERS": "3",
        "REDIS_STORE_PSK_ISSUERS": "quay, clairctl",
        "REDIS_STORE_MAX_BODY": "1MiB",
    }
    c = settings.resolve({"workers": 2}, env)
    assert c.workers == 2  # the option wins
    assert c.api_origin == "http://clair:6060"
    assert c.database_origin == "clair+postgresql://u@db/clair"
    assert c.issuers == ["quay", "clairctl"] and c.max_body == 1 << 20
    assert c.listen == "127.0.0.1:6060" and c.limit is not None and c.limit >= 4
    assert settings.from_env({settings.CONFIG_ENV: c.to_env()}) == c
    assert c.summary()["origins"][1] == "clair+postgresql://u@db/clair"
    for bad, named in (
        ({"REDIS_STORE_WORKERS": "0"}, "REDIS_STORE_WORKERS"),
        ({"REDIS_STORE_PSK": "not base64!"}, "REDIS_STORE_PSK"),
        ({"REDIS_STORE_ORIGIN": "ftp://x"}, "--origin"),
        ({"REDIS_STORE_ORIGIN": "http://a,http://b"}, "--origin"),
    ):
        with pytest.raises(settings.ConfigError, match=named):
            settings.resolve({}, {"REDIS_STORE_ORIGIN": "http://clair", **bad})
    with pytest.raises(settings.ConfigError, match="at least one origin"):
        settings.resolve({}, {})


def test_addresses() -> None:
    assert settings.split_address(":6060") == ("0.0.0.0", 6060)
    assert settings.split_address("[::1]:8089") == ("::1", 8089)
    with pytest.raises(ValueError):
        settings.split_address("localhost")


def test_the_settings_table_names_every_option_and_variable() -> None:
    table = settings.table()
    for s in settings.SETTINGS:
        assert s.option in table and s.env in table


def test_the_mirror_mark_follows_every_deletion(store: Any) -> None:
    """On every backend: complete after a fill, incomplete after a deletion made here
    only, complete again when the deletion was the origin's too."""
    assert not mirror.status(store).complete
    start = mirror.begin_fill(store)
    for raw in list(REPORTS.values())[:2]:
        store.import_report(IndexReport.from_json(raw))
    marked = mirror.mark_complete(store, start, origin="http://clair")
    assert marked.complete and marked.origin == "http://clair" and marked.manifests_at_mark == 2
    first = next(iter(REPORTS))
    store.delete_manifests(first)
    gone = mirror.status(store)
    assert not gone.complete and "1 manifests deleted" in gone.reason
    assert mirror.note_mirrored(store, 1).complete  # the origin deleted it as well
    store.persist_manifest(Manifest(hash="sha256:" + "12" * 32))  # more held: still complete
    assert mirror.status(store).complete
    assert not mirror.clear(store).complete


def test_a_fill_that_saw_a_deletion_is_not_complete(store: Any) -> None:
    start = mirror.begin_fill(store)
    raws = list(REPORTS.values())[:2]
    for raw in raws:
        store.import_report(IndexReport.from_json(raw))
    store.delete_manifests(IndexReport.from_json(raws[0]).hash)  # evicted during the fill
    assert not mirror.mark_complete(store, start, origin="x").complete


def test_nothing_in_the_library_imports_the_server() -> None:
    for module, imports in import_graph().items():
        if module.startswith("redis_store.serve") or module in (
            "redis_store.cli",
            "redis_store.cli.serve",
        ):
            continue
        assert not any(m.startswith("redis_store.serve") for m in imports), module
    # and the command line loads without the server's dependencies
    cli_serve = import_graph()["redis_store.cli.serve"]
    assert {m for m in cli_serve if m.startswith("redis_store.serve")} <= {
        "redis_store.serve",
        "redis_store.serve.config",
        "redis_store.serve.listener",
    } | {f"redis_store.serve.config.{n}" for n in dir(settings)} | {
        "redis_store.serve.listener.Introspection"
    }
