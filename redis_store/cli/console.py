"""What commands read from the terminal and print to it: stdin lines, JSON, warnings, notes,
the library's log lines, and sizes, times and scanners written the same way by every
command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from redis_store.cli.progress import Progress
from redis_store.models import VersionedScanner

#: -q: no progress bar, notes or warnings (set for the command's run by :func:`output`).
QUIET = False


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
    """An error about one item (a file that failed): printed even with -q."""
    print(f"redis-store {command}: {message}", file=sys.stderr)


def progress() -> Progress:
    """The command's progress bar on stderr: drawn on a terminal, never with -q."""
    return Progress(sys.stderr, enabled=False if QUIET else None)


def note(command: str, message: str) -> None:
    """Something worth knowing that is not an error (what a directory held besides
    reports): not printed with -q."""
    if not QUIET:
        print(f"redis-store {command}: {message}", file=sys.stderr)


class _Lines(logging.Formatter):
    """``redis-store CMD: warning: message`` (with the logger's name from -v on)."""

    def __init__(self, command: str, names: bool) -> None:
        super().__init__()
        self.command, self.names = command, names

    def format(self, record: logging.LogRecord) -> str:
        where = f"{record.name}: " if self.names else ""
        level = record.levelname.lower()
        return f"redis-store {self.command}: {level}: {where}{record.getMessage()}"


def log_level(args: argparse.Namespace) -> int:
    """--log-level, else -q (errors only), -v (info) or -vv (debug); warnings by default."""
    if args.log_level:
        return int(getattr(logging, args.log_level.upper()))
    if args.quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)


@contextmanager
def output(args: argparse.Namespace) -> Iterator[None]:
    """The command's output settings: -q, and the library's log lines on stderr at the
    level asked, for the command's run only."""
    global QUIET
    level = log_level(args)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Lines(args.command, names=level < logging.WARNING))
    logger = logging.getLogger("redis_store")
    saved = logger.level, logger.propagate, QUIET
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    QUIET = bool(args.quiet)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        QUIET = saved[2]


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
