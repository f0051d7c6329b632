#!/usr/bin/env python3
"""What ``wait_replicas=1`` costs: store latency with and without WAIT on a primary+replica.

    python scripts/wait_cost.py                      # starts a local primary and replica
    python scripts/wait_cost.py --url redis://primary:6379/0   # a primary with a replica

Times ``set_index_report`` (one script) and a whole index round (claircore's controller
sequence for one manifest, ``redis_store.replay``: ~10 writes) with ``wait_replicas=0`` and
``wait_replicas=1``, alternating, and prints the medians.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from redis_store import RedisStore, replay
from redis_store.demo import workload


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_pair() -> Iterator[str]:
    """A primary and one replica on loopback (no persistence); yields the primary's URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (or pass --url)")
    workdir = tempfile.mkdtemp(prefix="wait-cost-")
    primary, replica = _free_port(), _free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir]
    procs = [
        subprocess.Popen([binary, "--port", str(primary), *common], stdout=subprocess.DEVNULL),
        subprocess.Popen(
            [binary, "--port", str(replica), "--replicaof", "127.0.0.1", str(primary), *common],
            stdout=subprocess.DEVNULL,
        ),
    ]
    try:
        client = redis.Redis(port=primary)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.info("replication").get("slave0", {}).get("state") == "online":
                    break
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                sys.exit("the replica did not come online")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{primary}/0"
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def measure(url: str, runs: int) -> dict[str, dict[int, float]]:
    reports = list(workload.generate(runs * 2, seed=1))
    stores = {
        n: RedisStore.from_url(url, namespace=f"wait-cost-{n}", wait_replicas=n) for n in (0, 1)
    }
    first = reports[0]
    for store in stores.values():
        replay.replay(store, first)  # scanners registered, the manifest exists
    out: dict[str, dict[int, float]] = {"set_index_report": {}, "index round (replay)": {}}
    rest = iter(reports[1:])
    for _ in range(3):  # alternate, so drift hits both settings alike
        for n, store in stores.items():
            t = median_ms(lambda s=store: s.set_index_report(first), runs)
            out["set_index_report"][n] = min(out["set_index_report"].get(n, t), t)
            batch = [next(rest) for _ in range(max(1, runs // 6))]
            it = iter(batch)
            t = median_ms(lambda s=store, i=it: replay.replay(s, next(i)), len(batch))
            out["index round (replay)"][n] = min(out["index round (replay)"].get(n, t), t)
    for store in stores.values():
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a primary with at least one replica (default: start both)")
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args(argv)
    if args.url:
        results = measure(args.url, args.runs)
    else:
        with local_pair() as url:
            results = measure(url, args.runs)
    print(f"{'median latency (ms)':<24}{'wait_replicas=0':>16}{'wait_replicas=1':>16}")
    for name, by in results.items():
        print(f"{name:<24}{by[0]:>16.3f}{by[1]:>16.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
