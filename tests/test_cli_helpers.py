"""What the ``tests/test_cli_*.py`` files share (no tests here): run ``redis-store`` in-process.

On fakeredis the command's store comes from ``redis_store.cli.connection.connect``, replaced
by one on the test's in-process server (no URL can reach it); on the real and cluster
backends the command gets ``--url`` to the test's redis-server (``redis://``) or cluster
(``redis+cluster://``), exactly as an operator would run it.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from redis_store import IndexReport, RedisStore, cli, ops, replay
from redis_store.cli import connection
from redis_store.demo import workload
from tests.conftest import SHARED_TESTDATA

SHARED_REPORTS = sorted(SHARED_TESTDATA.glob("*.index.json")) if SHARED_TESTDATA.is_dir() else []
needs_shared = pytest.mark.skipif(
    not SHARED_REPORTS, reason=f"no real claircore reports in {SHARED_TESTDATA}"
)


@dataclass
class Run:
    """One command's exit status and output."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``main()`` against the test's backend, in namespace ``cli`` unless told."""

    namespace = "cli"

    def __init__(
        self, backend: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.backend, self.monkeypatch, self.capsys = backend, monkeypatch, capsys
        self.url = backend.url
        self._hooks: list[Callable[[RedisStore], None]] = []
        original = connection.connect

        def connect(url: str, namespace: str) -> RedisStore:
            if backend.real:
                store = original(url, namespace)
            else:
                store = RedisStore(backend.client(), namespace=namespace)
            for hook in self._hooks:
                hook(store)
            return store

        monkeypatch.setattr(connection, "connect", connect)

    def __call__(self, *argv: str, stdin: bytes | None = None) -> Run:
        args = list(argv)
        if "--namespace" not in args:
            args += ["--namespace", self.namespace]
        if self.url is not None and "--url" not in args:
            args += ["--url", self.url]
        if stdin is not None:
            self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        self.capsys.readouterr()
        code = cli.main(args)
        cap = self.capsys.readouterr()
        return Run(code, cap.out, cap.err)

    def on_connect(self, hook: Callable[[RedisStore], None]) -> None:
        """Run ``hook`` on every store a command opens (to inject faults)."""
        self._hooks.append(hook)

    def store(self, namespace: str | None = None) -> RedisStore:
        return RedisStore(self.backend.client(), namespace=namespace or self.namespace)


def make_cli(
    backend: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    return Cli(backend, monkeypatch, capsys)


def reports(n: int, seed: int = 7) -> list[IndexReport]:
    return list(workload.generate(n, seed))


def write_reports(directory: Path, items: Iterable[IndexReport]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in items:
        path = directory / (str(r.hash).replace(":", "-") + ".json")
        path.write_bytes(r.to_json())
        paths.append(path)
    return paths


def populate(store: RedisStore, items: Iterable[IndexReport]) -> list[str]:
    """Index reports directly through the library; their digests."""
    return [str(replay.replay(store, r).hash) for r in items]


#: Why tests that interrupt a store call at a given round trip run on a single server only.
INTERRUPTED_STEP = (
    "the round trip it interrupts is one atomic script on a single server; on a cluster a"
    " call is several per-slot steps, and an interrupted one leaves what fsck --repair"
    " finishes (docs/design.md)"
)


def interrupt_at(c: Cli, batch: int, *, after: bool) -> None:
    """Raise KeyboardInterrupt at the ``batch``-th round trip of the command's store: before
    sending it, or once Redis has run it but before its reply is used (once only)."""

    def hook(store: RedisStore) -> None:
        send = store._send
        count = 0

        def wrapped(b: Any) -> list[Any]:
            nonlocal count
            count += 1
            if count == batch:
                if after:
                    send(b)
                raise KeyboardInterrupt
            return send(b)

        store._send = wrapped  # type: ignore[method-assign,assignment]

    c.on_connect(hook)


def assert_consistent(store: RedisStore) -> None:
    """fsck finds nothing, no lock is left behind, and every manifest is finished."""
    assert ops.check(store) == []
    assert list(store.client.scan_iter(match=f"{store.keys.namespace}:*:lock")) == []
    for _, d in ops.manifests(store):
        got = store.index_report(d)
        assert got is not None and got.state == "IndexFinished", d
