"""The one progress bar: a self-rewriting line, drawn only where someone watches it.

Output piped to a file or another program stays clean (the bar is off unless the stream is
a terminal, or the caller says otherwise), and redrawing at most every ``interval`` seconds
keeps the bar's cost negligible next to the work it reports. Nothing in it is particular to
one command, so long-running scripts (the benchmark) can draw the same bar.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from redis_store.ops.scan import ProgressCallback


class Progress:
    """A progress bar on ``stream`` (default: stderr), one line per task ``what``."""

    WIDTH = 24

    def __init__(
        self, stream: TextIO | None = None, interval: float = 0.1, *, enabled: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        #: Whether anything is drawn; by default, when the stream is a terminal.
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self._last = 0.0
        self._started: dict[str, float] = {}

    def update(self, what: str, done: int, total: int | None = None) -> None:
        """Show ``done`` of ``total`` (a bar), or a bare count when the total is unknown."""
        if not self.enabled:
            return
        now = time.monotonic()
        start = self._started.setdefault(what, now)
        if (total is None or done < total) and now - self._last < self.interval:
            return
        self._last = now
        rate = f"  {done / (now - start):.0f}/s" if now - start > 0.5 else ""
        if total:
            filled = min(self.WIDTH, self.WIDTH * done // total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            line = f"{what} [{bar}] {done}/{total}{rate}"
        else:
            line = f"{what} {done}{rate}"
        self.stream.write(f"\r\x1b[K{line}")
        self.stream.flush()

    def callback(self, what: str) -> ProgressCallback:
        """An ``ops`` progress callback (done, total) drawing this bar."""
        return lambda done, total: self.update(what, done, total)

    def note(self, text: str) -> None:
        """A timestamped line between phases, written whether or not anyone watches the bar."""
        self.clear()
        self.stream.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the bar, before printing a result or a warning."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
