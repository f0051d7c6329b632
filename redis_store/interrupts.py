"""Ctrl-C around steps that must run to the end, such as undoing a half-written report.

Python delivers SIGINT as :class:`KeyboardInterrupt` at any bytecode; a step that cleans up
after a failure must not itself be cut short, or it leaves the half it meant to remove.
Signal handlers belong to the main thread, so elsewhere these run the block unchanged.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: What :func:`signal.signal` accepts: a function, ``SIG_IGN`` or ``SIG_DFL``.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers


@contextmanager
def sigint_handler(handler: Handler) -> Iterator[None]:
    """Run the block with ``handler`` for SIGINT, then put the previous handler back.

    Outside the main thread (where handlers cannot be set) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C while undoing a half-done step, so that the undo itself completes."""
    with sigint_handler(signal.SIG_IGN):
        yield
