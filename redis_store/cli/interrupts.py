"""Ctrl-C and SIGTERM in a command: stop cleanly, saying what state the store was left in.

Either finish the step under way first (:func:`finish_first`: one report, one delete call),
or stop at once where every step is atomic (:func:`stop_on_ctrl_c`). The library's
:func:`~redis_store.interrupts.no_interrupts` covers an undo; this is the command line's
side, which tells the operator what a Ctrl-C did. SIGTERM (``kill``, a container stopping)
is handled exactly as SIGINT is (:func:`terminate_as_interrupt`); the exit status then says
which signal it was (130, or 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from redis_store.cli.console import warn
from redis_store.cli.errors import INTERRUPTED, Interrupted
from redis_store.cli.progress import Progress
from redis_store.interrupts import sigint_handler

#: The signal that stopped the command, when it was SIGTERM.
_terminated = False


def _as_sigint(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: do whatever SIGINT does now (raise KeyboardInterrupt, hold it until the
    current step is done, or nothing while an undo must complete)."""
    global _terminated
    _terminated = True
    handler = signal.getsignal(signal.SIGINT)
    if handler is signal.SIG_IGN:  # an undo must complete
        return
    if handler is _inherited_ignore:  # SIGINT ignored by who started us; SIGTERM stops
        raise KeyboardInterrupt
    if callable(handler):
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


def _inherited_ignore(signum: int, frame: FrameType | None) -> None:
    """SIGINT ignored from the start (a shell's background job without job control): it
    stays ignored, told apart from the SIG_IGN of an undo, so that SIGTERM still stops."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM as SIGINT for the block (in the main thread; elsewhere as it is).

    Where SIGINT was ignored when the command started, it stays ignored, and SIGTERM
    stops the command as an unignored SIGINT would."""
    global _terminated
    _terminated = False
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigint = signal.getsignal(signal.SIGINT)
    if sigint is signal.SIG_IGN:
        signal.signal(signal.SIGINT, _inherited_ignore)
    previous = signal.signal(signal.SIGTERM, _as_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        if sigint is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def exit_status(status: int) -> int:
    """The command's exit status, 143 (128 + SIGTERM) rather than 130 when SIGTERM
    stopped it."""
    return 128 + signal.SIGTERM if status == INTERRUPTED and _terminated else status


@contextmanager
def finish_first() -> Iterator[None]:
    """Hold a Ctrl-C until the block (one report, one delete call) is done, then raise it.

    The block's store state is then whole rather than undone; a second Ctrl-C does not wait.
    """
    pending = False

    def hold(signum: int, frame: object) -> None:
        nonlocal pending
        if pending:
            raise KeyboardInterrupt
        pending = True
        print("\nstopping after the current step (Ctrl-C again: abandon it)", file=sys.stderr)

    try:
        with sigint_handler(hold):
            yield
    finally:
        if pending:  # even if the block failed: the operator asked to stop
            raise KeyboardInterrupt


@contextmanager
def stop_asked(stop: threading.Event, message: str) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) in the block sets ``stop`` and says ``message``, for work that
    checks ``stop`` between its steps; a second one raises KeyboardInterrupt (abandon
    them)."""

    def ask(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(f"\n{message} (Ctrl-C again: abandon it)", file=sys.stderr)

    with sigint_handler(ask):
        yield


@contextmanager
def stop_on_ctrl_c(progress: Progress, command: str, message: str) -> Iterator[None]:
    """Turn Ctrl-C in the block into the warning ``message`` and exit status 130.

    For the commands whose every step is atomic, so that stopping anywhere leaves a whole
    store and running them again finishes the job. The progress bar is cleared either way.
    """
    try:
        yield
    except KeyboardInterrupt:
        progress.clear()
        warn(command, message)
        raise Interrupted from None
    finally:
        progress.clear()
