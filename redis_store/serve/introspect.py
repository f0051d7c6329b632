"""Operators' side: each worker's metrics, and the files the introspection listener serves.

Every worker counts into a registry of its own: the store's series under claircore's names
(``metrics=`` of the store), and the server's (:class:`ServeMetrics`): requests by route,
method and status, their latency, requests in flight, calls to the origin by route and
outcome, where answers came from (the tier or the origin), requests refused by the
concurrency limit, imports, and whether the tier is a complete mirror. Once a second each
worker writes its exposition and a status line (Redis answering, the origin's state, the
mirror) to files in the run directory the command made (:class:`Snapshots`).

The introspection listener (:mod:`redis_store.serve.listener`) serves them.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from redis_store.observe.metrics import BUCKETS


class ServeMetrics:
    """The server's own series in a worker's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "redis_store_serve_requests_total",
            "Requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "redis_store_serve_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route.",
            ["route"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "redis_store_serve_requests_in_flight",
            "Requests being answered now, by route.",
            ["route"],
            registry=registry,
        )
        self.origin = Counter(
            "redis_store_serve_origin_requests_total",
            "Requests sent to the origin, by route and outcome (its status, unreachable or"
            " timeout).",
            ["route", "outcome"],
            registry=registry,
        )
        self.origin_latency = Histogram(
            "redis_store_serve_origin_request_duration_seconds",
            "Time the origin took to answer, by route.",
            ["route"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.answers = Counter(
            "redis_store_serve_answers_total",
            "Answers by route and where they came from (tier, origin, absent).",
            ["route", "source"],
            registry=registry,
        )
        self.limited = Counter(
            "redis_store_serve_concurrency_limited_total",
            "Requests refused with 429 by the concurrency limit, by route and method.",
            ["route", "method"],
            registry=registry,
        )
        self.imports = Counter(
            "redis_store_serve_imports_total",
            "Finished reports from the origin written into the tier, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.mirror_complete = Gauge(
            "redis_store_serve_mirror_complete",
            "1 while the tier holds every finished manifest its origin holds (affected"
            " manifests answered here), else 0.",
            registry=registry,
        )
        self.gzip = Gauge(
            "redis_store_serve_gzip_cache_bytes",
            "Bytes held by the gzip answers of held reports.",
            registry=registry,
        )


class Snapshots:
    """A worker's files in the run directory: its metrics and its status."""

    def __init__(self, rundir: str, registry: CollectorRegistry) -> None:
        self.dir = Path(rundir)
        self.registry = registry
        self.pid = os.getpid()

    def write(self, status: dict[str, Any]) -> None:
        self._put(f"metrics-{self.pid}.prom", generate_latest(self.registry))
        self._put(f"status-{self.pid}.json", json.dumps({**status, "at": time.time()}).encode())

    def _put(self, name: str, data: bytes) -> None:
        tmp = self.dir / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.dir / name)

    def remove(self) -> None:
        for name in (f"metrics-{self.pid}.prom", f"status-{self.pid}.json"):
            with contextlib.suppress(OSError):
                (self.dir / name).unlink()


__all__ = ["ServeMetrics", "Snapshots"]
