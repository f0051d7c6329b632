#!/usr/bin/env python3
"""What metrics and tracing cost a store call: per-call latency off, with metrics, with both.

    python scripts/observe_cost.py                          # starts a local redis-server
    python scripts/observe_cost.py --url redis://127.0.0.1:6379/0

Times two calls at the extremes of what a store does: ``layer_scanned`` answered by the
local cache (no round trip: the cheapest call there is, where any per-call cost shows most)
and ``manifest_scanned`` with the cache off (one round trip). Each configuration runs in
alternating rounds, and the medians of the per-round means are printed, in microseconds.
"metrics" is ``metrics=CollectorRegistry()``; "tracing" adds ``tracing=`` an OpenTelemetry
SDK ``TracerProvider`` (spans recorded, none exported). Run it on a tree from before this
store had an observer to compare "off" with no observer code at all.
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
from typing import Any

import redis

from redis_store import Layer, Manifest, RedisStore, VersionedScanner

SCANNER = VersionedScanner("cost", "1", "package")
MANIFEST = "sha256:" + "ab" * 32
LAYER = "sha256:" + "cd" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (or pass --url)")
    workdir = tempfile.mkdtemp(prefix="observe-cost-")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = subprocess.Popen([*args, "--dir", workdir], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def configurations() -> dict[str, dict[str, Any]]:
    """Store options per configuration (only "off" on a tree without observers)."""
    out: dict[str, dict[str, Any]] = {"off": {}}
    try:
        from prometheus_client import CollectorRegistry

        RedisStore(redis.Redis(), metrics=CollectorRegistry()).close()
    except (ImportError, TypeError):
        return out
    out["metrics"] = {"metrics": CollectorRegistry()}
    try:
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        return out
    out["metrics+tracing"] = {"metrics": CollectorRegistry(), "tracing": TracerProvider()}
    return out


def per_call(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--url", help="a Redis to measure on (default: start a local one)")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=2000, help="calls per round (default: 2000)")
    args = ap.parse_args(argv)
    with local_server() if args.url is None else _given(args.url) as url:
        setup = RedisStore.from_url(url, namespace="cost", local_cache=False)
        setup.register_scanners([SCANNER])
        setup.persist_manifest(Manifest(hash=MANIFEST, layers=[Layer(hash=LAYER)]))
        setup.set_layer_scanned(LAYER, SCANNER)
        cases: dict[tuple[str, str], Callable[[], Any]] = {}
        stores = []
        for name, options in configurations().items():
            cached = RedisStore.from_url(url, namespace="cost", **options)
            uncached = RedisStore.from_url(url, namespace="cost", local_cache=False, **options)
            stores += [cached, uncached]
            deadline = time.monotonic() + 5
            while cached.local_cache.state != "live" and time.monotonic() < deadline:
                cached.layer_scanned(LAYER, SCANNER)  # starts the listener
                time.sleep(0.01)
            cases[("layer_scanned (local cache)", name)] = lambda s=cached: s.layer_scanned(
                LAYER, SCANNER
            )
            cases[("manifest_scanned (1 round trip)", name)] = lambda s=uncached: (
                s.manifest_scanned(MANIFEST, [SCANNER])
            )
        samples: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
        for fn in cases.values():
            per_call(fn, args.calls // 10)  # warm up
        for _ in range(args.rounds):
            for key, fn in cases.items():
                samples[key].append(per_call(fn, args.calls))
        for s in stores:
            s.close()
        setup.delete_manifests(MANIFEST)
        setup.close()
    names = list(dict.fromkeys(config for _, config in cases))
    calls = list(dict.fromkeys(call for call, _ in cases))
    print(f"median µs per call ({args.rounds} rounds of {args.calls} calls)")
    print(f"{'':34}" + "".join(f"{n:>18}" for n in names))
    for call in calls:
        cells = "".join(f"{statistics.median(samples[(call, n)]) * 1e6:>18.2f}" for n in names)
        print(f"{call:34}{cells}")
    return 0


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    raise SystemExit(main())
