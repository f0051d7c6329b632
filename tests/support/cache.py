"""Helpers for tests of the local cache."""

from __future__ import annotations

import time
from typing import Any


def start_cache(store: Any, timeout: float = 5.0) -> None:
    """Start the store's invalidation listener now (it starts on the first cached read
    otherwise) and, on one server, wait until it is live."""
    tracking = store.tracking
    if tracking is None:
        return
    tracking._start()
    if tracking.cluster:
        return  # one listener per node, connected when a read first goes there
    deadline = time.monotonic() + timeout
    while tracking.state != "live":
        assert time.monotonic() < deadline, f"the cache did not go live: {tracking.reason}"
        time.sleep(0.005)
