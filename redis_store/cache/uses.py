"""Uses of manifests that reads served from memory still owe ``expire``.

``expire`` deletes manifests by the ``used`` time the store records (the server's clock,
at most once a minute per manifest). A report read from the local cache never reaches the
server, so the store notes the use here and sends the due ones with its next round trip,
or on its own at most once a second: one small write per manifest and minute, as before.
"""

from __future__ import annotations

import threading
import time
from typing import Final

#: A manifest's use is recorded at most this often (seconds), as the server-side touch did.
USE_INTERVAL: Final = 60.0
#: Due uses are sent at most this often when no round trip carries them (seconds).
FLUSH_INTERVAL: Final = 1.0
#: Manifests remembered; past this the oldest are forgotten (their next use is sent again).
MAX_REMEMBERED: Final = 1 << 17


class Uses:
    """Which manifests' uses are due to be recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, float] = {}
        self._due: dict[str, None] = {}
        self._last_flush = 0.0
        #: Uses whose recording failed (e.g. a server out of memory); they are not retried.
        self.failed = 0

    def note(self, digest: str) -> None:
        """A read of the manifest's report."""
        now = time.monotonic()
        if now - self._sent.get(digest, -USE_INTERVAL) >= USE_INTERVAL:
            with self._lock:
                self._due[digest] = None

    def flush_due(self) -> bool:
        """Whether uses wait that are due to be sent on their own (``take(riding=False)``
        would return them)."""
        return bool(self._due) and time.monotonic() - self._last_flush >= FLUSH_INTERVAL

    def take(self, *, riding: bool) -> list[str]:
        """The uses to send now: all due ones when they ride on a round trip being made
        anyway (``riding``), else only if the last flush is a second old."""
        if not self._due:
            return []
        now = time.monotonic()
        if not riding and now - self._last_flush < FLUSH_INTERVAL:
            return []
        with self._lock:
            due, self._due = list(self._due), {}
            self._last_flush = now
            for d in due:
                self._sent[d] = now
            if len(self._sent) > MAX_REMEMBERED:
                for d in list(self._sent)[: len(self._sent) // 2]:
                    del self._sent[d]
        return due

    def forget(self, digest: str) -> None:
        """The manifest is gone (deleted): nothing more to record."""
        with self._lock:
            self._due.pop(digest, None)
            self._sent.pop(digest, None)


__all__ = ["Uses"]
