"""What commands read from the terminal and print to it: stdin lines, JSON, warnings, and
sizes, times and scanners written the same way by every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from redis_store.models import VersionedScanner


def stdin_lines() -> Iterator[bytes]:
    """stdin as bytes lines (a test may swap in a text stream without ``.buffer``)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is not None:
        yield from stream
    else:
        for line in sys.stdin:
            yield line.encode()


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def warn(command: str, message: str) -> None:
    print(f"redis-store {command}: {message}", file=sys.stderr)


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "never recorded"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def scanner_text(s: VersionedScanner) -> str:
    return f"{s.name} {s.version} ({s.kind})"
