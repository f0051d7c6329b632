"""What the harness measures with: latency samples and their summaries, a
proxy that times every call of a store, and round trips counted at the connection."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.connection

# -- timing and round trips ---------------------------------------------------------------------


class RoundTrips:
    """Counts writes to a Redis socket (one per command or pipeline) from this thread."""

    def __init__(self) -> None:
        self.n = 0

    @contextmanager
    def counting(self) -> Iterator[RoundTrips]:
        original: Any = redis.connection.AbstractConnection.send_packed_command
        main = threading.get_ident()
        counter = self

        def send(conn: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == main:
                counter.n += 1
            return original(conn, *args, **kwargs)

        setattr(redis.connection.AbstractConnection, "send_packed_command", send)  # noqa: B010
        try:
            yield self
        finally:
            setattr(redis.connection.AbstractConnection, "send_packed_command", original)  # noqa: B010


@dataclass
class OpSamples:
    """Latencies (seconds) and round trips of one operation."""

    seconds: list[float] = field(default_factory=list)
    trips: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        s = self.seconds
        if not s:
            return {"calls": 0}
        total = sum(s)
        out: dict[str, Any] = {
            "calls": len(s),
            "median_ms": statistics.median(s) * 1e3,
            "p99_ms": percentile(s, 99) * 1e3,
            "mean_ms": total / len(s) * 1e3,
            "min_ms": min(s) * 1e3,
            "max_ms": max(s) * 1e3,
            "total_s": total,
            "throughput_per_s": len(s) / total if total > 0 else None,
        }
        if self.trips:
            out["round_trips_median"] = statistics.median(self.trips)
            out["round_trips_max"] = max(self.trips)
            out["round_trips_total"] = sum(self.trips)
        return out


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation (``statistics.quantiles``' inclusive)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class Recorder:
    """Collects timings per operation name."""

    def __init__(self, trips: RoundTrips | None) -> None:
        self.trips = trips
        self.ops: dict[str, OpSamples] = {}

    def add(self, name: str, seconds: float, trips: int | None = None) -> None:
        op = self.ops.get(name)
        if op is None:
            op = self.ops[name] = OpSamples()
        op.seconds.append(seconds)
        if trips is not None and self.trips is not None:
            op.trips.append(trips)

    def time(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        n0 = self.trips.n if self.trips is not None else 0
        t0 = time.perf_counter()
        result = fn(*args)
        dt = time.perf_counter() - t0
        self.add(name, dt, (self.trips.n - n0) if self.trips is not None else None)
        return result


class Timed:
    """A store whose public methods record their latency under ``prefix + name``."""

    def __init__(self, store: Any, recorder: Recorder, prefix: str = "") -> None:
        self._store = store
        self._recorder = recorder
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name.startswith("_") or not callable(attr):
            return attr
        rec, label = self._recorder, self._prefix + name
        trips = rec.trips

        def timed(*args: Any, **kwargs: Any) -> Any:
            n0 = trips.n if trips is not None else 0
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                rec.add(label, dt, (trips.n - n0) if trips is not None else None)

        self.__dict__[name] = timed
        return timed
