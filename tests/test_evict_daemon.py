"""``evict --watch`` as a daemon, through the real command line on real servers: it rides
out a Redis restart and a Sentinel failover (saying on stderr, at once, that the budget is
not enforced meanwhile, and when it is again), prints a line at least every --heartbeat
seconds, rewrites --metrics-file after every pass, and SIGINT / SIGTERM end it with 130 /
143. Also the budget's guard rails: a unit is required, a budget below an empty server's
memory is refused, and a pass that would take every manifest of the namespace (other data
holding the rest of the server) asks first or needs --yes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from redis_store import RedisStore, ops
from redis_store.demo import workload
from redis_store.errors import InvalidInputError
from redis_store.ops.evict import EvictionRefused, memory_used
from redis_store.ops.nodes import memory_floor
from tests.conftest import _require
from tests.support.inspect import snapshot
from tests.support.sentinel import SentinelTopology
from tests.support.servers import RedisServer, redis_server_binary, start_redis
from tests.test_cli_operators import env, on_a_terminal, redis_store
from tests.test_sentinel import topology  # noqa: F401 - the fixture

NS = "ops"  # the namespace test_cli_operators' helpers run commands in
MAXMEMORY = "64mb"


class Daemon:
    """``redis-store evict --watch`` in a subprocess, its lines collected as they come."""

    def __init__(self, url: str, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "redis_store", "evict", *argv, "--namespace", NS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env(url),
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line.rstrip("\n"))

    def wait_for(self, what: str, found: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not found():
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.err}"
            assert time.monotonic() < deadline, f"no {what}: out {self.out}, err {self.err}"
            time.sleep(0.05)

    def evicted_lines(self, start: int = 0) -> list[str]:
        return [x for x in self.out[start:] if x.startswith("evicted ") and " 0 manifests" not in x]

    def stop(self, sig: signal.Signals) -> int:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        time.sleep(0.1)  # the readers' last lines
        return self.proc.returncode


def fill(store: RedisStore, n: int, seed: int) -> list[str]:
    out = []
    for r in workload.generate(n, seed=seed):
        store.import_report(r)
        out.append(str(r.hash))
    return out


def figures(path: Path) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            if s.name.startswith("redis_store_evict_budget_enforced") or s.name in (
                "redis_store_job_last_run_timestamp_seconds",
                "redis_store_evict_used_memory_bytes",
            ):
                out[s.name] = s.value
    return out


@pytest.fixture
def server() -> Iterator[RedisServer]:
    _require({"redis-server": redis_server_binary()}, "real backend")
    s = start_redis("--maxmemory", MAXMEMORY)
    yield s
    s.stop()


def budget_for(store: RedisStore) -> int:
    """A budget a quarter of the data below what the store uses now."""
    used, floor = memory_used(store), memory_floor(store.client)
    return used - (used - floor) // 4


def test_watch_rides_out_a_redis_restart(server: RedisServer, tmp_path: Path) -> None:
    """Redis stops under the daemon and comes back empty on the same port: the daemon says
    the budget is not enforced, keeps trying, says when Redis answers, and evicts again."""
    with RedisStore(server.client(), NS, local_cache=False) as store:
        fill(store, 40, seed=3)
        budget = budget_for(store)
    prom = tmp_path / "evict.prom"
    daemon = Daemon(
        server.url,
        *("--max-memory", f"{budget}B", "--watch", "0.2", "--heartbeat", "0.5"),
        *("--metrics-file", str(prom)),
    )
    try:
        daemon.wait_for("first eviction", lambda: bool(daemon.evicted_lines()))
        daemon.wait_for("a heartbeat", lambda: any(" 0 manifests" in x for x in daemon.out))
        assert figures(prom)["redis_store_evict_budget_enforced"] == 1
        port = server.port
        server.stop()
        daemon.wait_for(
            "the outage said", lambda: any("budget is not enforced" in x for x in daemon.err)
        )
        down = daemon.err[-1]
        assert "cannot reach Redis" in down and "retrying" in down, daemon.err
        daemon.wait_for(
            "the outage in the metrics",
            lambda: figures(prom)["redis_store_evict_budget_enforced"] == 0,
        )
        # still running; said again while it lasts (every --heartbeat), saying how long
        daemon.wait_for("a reminder", lambda: any("(for " in x for x in daemon.err))
        seen = len(daemon.out)
        again = start_redis("--maxmemory", MAXMEMORY, port=port)
        try:
            with RedisStore(again.client(), NS, local_cache=False) as store:
                fill(store, 40, seed=4)  # over the budget again, on the new server
            daemon.wait_for("Redis back", lambda: any("answers again" in x for x in daemon.err))
            daemon.wait_for("an eviction after", lambda: bool(daemon.evicted_lines(seen)))
            daemon.wait_for(
                "enforced again", lambda: figures(prom)["redis_store_evict_budget_enforced"] == 1
            )
            status = daemon.stop(signal.SIGTERM)  # fsck checks a store at rest (see below)
            with RedisStore(again.client(), NS, local_cache=False) as store:
                assert memory_used(store) <= budget + 64 * 1024
                assert ops.check(store) == []
        finally:
            if daemon.proc.poll() is None:
                status = daemon.stop(signal.SIGTERM)
            again.stop()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert status == 143, daemon.err
    assert not any("Traceback" in x for x in daemon.err)
    assert all(x.startswith("redis-store evict: ") for x in daemon.err if x), daemon.err


@pytest.mark.slow
def test_watch_follows_a_sentinel_failover(topology: SentinelTopology) -> None:  # noqa: F811
    """The primary dies: the daemon follows the sentinels to the promoted replica and keeps
    the budget there."""
    with RedisStore.from_url(topology.url, namespace=NS, local_cache=False) as store:
        fill(store, 30, seed=5)
        budget = budget_for(store)
    daemon = Daemon(topology.url, "--max-memory", f"{budget}B", "--watch", "0.2")
    try:
        daemon.wait_for("first eviction", lambda: bool(daemon.evicted_lines()))
        old = topology.kill_primary()
        new = topology.wait_failover(old)
        seen = len(daemon.out)
        with RedisStore.from_url(topology.url, namespace=NS, local_cache=False) as store:
            fill(store, 30, seed=6)  # through the sentinels: onto the new primary
        daemon.wait_for(
            "an eviction on the new primary to the budget",
            lambda: any("(under)" in x for x in daemon.evicted_lines(seen)),
        )
        # fsck reads the namespace in batches, not as one snapshot: a pass deleting meanwhile
        # would show as transient damage, so the store is checked at rest, once stopped
        status = daemon.stop(signal.SIGINT)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert status == 130, daemon.err
    with RedisStore(_at(topology, new).client(), NS, local_cache=False) as store:
        assert ops.check(store) == []
        assert memory_used(store) <= budget + 256 * 1024, (daemon.out, daemon.err)
    assert not any("Traceback" in x for x in daemon.err)


def _at(top: SentinelTopology, port: int) -> RedisServer:
    return next(s for s in [top.primary, *top.replicas] if s.port == port)


# -- the budget's guard rails ---------------------------------------------------------------


def test_sizes_need_a_unit_and_ages_and_sizes_cannot_be_negative(server: RedisServer) -> None:
    for argv, said in (
        (["evict", "--max-memory", "1536"], "needs a unit"),
        (["evict", "--max-memory", "1.5"], "needs a unit"),
        (["evict", "--max-memory", "-5MiB"], "cannot be negative"),
        (["expire", "--older-than", "-3d"], "cannot be negative"),
        (["list", "--older-than", "-1h"], "cannot be negative"),
        (["demo", "--manifests", "-3"], "must be at least 1"),
        (["evict", "--max-memory", "1GiB", "--watch", "-1"], "above 0"),
    ):
        run = redis_store(*argv, url=server.url)
        assert run.returncode == 2, (argv, run.stderr)
        assert said in run.stderr and "expected one argument" not in run.stderr, run.stderr
    helped = redis_store("evict", "--help", url=server.url)
    assert "whole server's used_memory" in " ".join(helped.stdout.split())


def test_a_budget_below_an_empty_server_is_refused(server: RedisServer) -> None:
    with RedisStore(server.client(), NS, local_cache=False) as store:
        fill(store, 5, seed=7)
        before = snapshot(server.client(), NS)
        with pytest.raises(InvalidInputError, match="used_memory_startup"):
            ops.evict(store, 100 * 1024)
        run = redis_store("evict", "--max-memory", "100KiB", "--yes", url=server.url)
        assert run.returncode == 2 and "holding no data" in run.stderr, run.stderr
        assert snapshot(server.client(), NS) == before


def test_a_budget_other_data_keeps_out_of_reach_takes_nothing_without_asking(
    server: RedisServer,
) -> None:
    """Another namespace holds most of the server: meeting the budget would take every
    manifest of this one and still leave the server over it. Refused off a terminal (exit
    2), declined on one (exit 1), nothing deleted either way; --yes or "y" goes ahead."""
    with RedisStore(server.client(), "other", local_cache=False) as other:
        fill(other, 60, seed=8)
        alone = memory_used(other)
    with RedisStore(server.client(), NS, local_cache=False) as store:
        mine = fill(store, 10, seed=9)
        budget = alone - (1 << 20)  # well below what the other namespace takes by itself
        before = snapshot(server.client(), NS)
        with pytest.raises(EvictionRefused, match="over the budget by itself"):
            ops.evict(store, budget)
        assert snapshot(server.client(), NS) == before
        run = redis_store("evict", "--max-memory", f"{budget}B", url=server.url)
        assert run.returncode == 2 and "every manifest" in run.stderr, run.stderr
        assert "--yes" in run.stderr and snapshot(server.client(), NS) == before
        code, _, err = on_a_terminal(
            "evict", "--max-memory", f"{budget}B", url=server.url, answer=b"n\n"
        )
        assert code == 1 and "Evict them all?" in err and snapshot(server.client(), NS) == before
        code, out, err = on_a_terminal(
            "evict", "--max-memory", f"{budget}B", url=server.url, answer=b"y\n"
        )
        assert code == 1 and "OVER" in out, err  # everything went, and still over
        assert not any(ops.manifests_exist(store, mine))
        assert ops.check(store) == []


def test_a_daemon_refused_a_pass_says_so_and_keeps_watching(server: RedisServer) -> None:
    with RedisStore(server.client(), "other", local_cache=False) as other:
        fill(other, 40, seed=10)
        alone = memory_used(other)
    with RedisStore(server.client(), NS, local_cache=False) as store:
        mine = fill(store, 5, seed=11)
    daemon = Daemon(server.url, "--max-memory", f"{alone - 128 * 1024}B", "--watch", "0.2")
    try:
        daemon.wait_for("the refusal", lambda: any("not evicting" in x for x in daemon.err))
        assert "the budget is not enforced" in daemon.err[-1] and "--yes" in daemon.err[-1]
        time.sleep(1)
        assert daemon.proc.poll() is None
        with RedisStore(server.client(), NS, local_cache=False) as store:
            assert all(ops.manifests_exist(store, mine))
        status = daemon.stop(signal.SIGINT)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert status == 130


def test_a_pass_stopped_midway_says_what_it_deleted(server: RedisServer) -> None:
    with RedisStore(server.client(), NS, local_cache=False) as store:
        digests = fill(store, 40, seed=12)
        stop = threading.Event()
        res = ops.evict(
            store, budget_for(store), progress=lambda done, total: stop.set(), stop=stop
        )
        assert res.interrupted and res.rounds == 1 and len(res.evicted) == 10
        gone = set(res.evicted)
        assert [not e for e in ops.manifests_exist(store, digests)] == [d in gone for d in digests]
        assert ops.check(store) == []
