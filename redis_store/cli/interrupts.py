"""Ctrl-C and SIGTERM in a command: stop cleanly, saying what state the store was left in.

Either finish the step under way first (:func:`finish_first`: one report, one delete call;
:func:`stop_requested`: a loop's current pass), or stop at once where every step is atomic
(:func:`stop_on_ctrl_c`). The library's :func:`~redis_store.interrupts.no_interrupts`
covers an undo; this is the command line's side, which tells the operator what a Ctrl-C
did. SIGTERM (``kill``, a container stopping) is handled exactly as SIGINT is
(:func:`terminate_as_interrupt`); the exit status then says which signal it was (130, or
143 for SIGTERM).

Signals come at any moment, and in bursts (``timeout`` and a double-tapped Ctrl-C send two
within milliseconds), so two more cases are covered: a Ctrl-C that lands in a finalizer
(a ``__del__`` the garbage collector runs), which Python would print as "Exception ignored"
and drop, is delivered again (:func:`redeliver_lost_interrupts`); and one that arrives
after the command has finished, while the interpreter exits, ends the process at once with
the status it means (``final`` in :func:`terminate_as_interrupt`) instead of a traceback
or a wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

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
        handler(signum, frame)
        return
    raise KeyboardInterrupt


def _inherited_ignore(signum: int, frame: FrameType | None) -> None:
    """SIGINT ignored from the start (a shell's background job without job control): it
    stays ignored, told apart from the SIG_IGN of an undo, so that SIGTERM still stops."""


@contextmanager
def terminate_as_interrupt(*, final: bool = False) -> Iterator[None]:
    """Handle SIGTERM as SIGINT for the block (in the main thread; elsewhere as it is).

    Where SIGINT was ignored when the command started, it stays ignored, and SIGTERM
    stops the command as an unignored SIGINT would. ``final``: the process exits after the
    block, so a signal arriving later ends it at once (:func:`_exit_now`) rather than
    interrupting the interpreter's exit."""
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
        with _held(signal.SIGINT, signal.SIGTERM):  # no handler runs half-way through
            if final:
                signal.signal(signal.SIGTERM, _exit_now)
                if sigint is not signal.SIG_IGN:
                    signal.signal(signal.SIGINT, _exit_now)
            else:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
            if sigint is signal.SIG_IGN:
                signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _held(*signals: int) -> Iterator[None]:
    """Block ``signals`` for the block: one arriving meanwhile is delivered after it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    """A signal after the command finished: what it printed is flushed, and the process
    ends with the status the signal means, without waiting for anything to wind down."""
    global _terminated
    _terminated = _terminated or signum == signal.SIGTERM
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(exit_status(INTERRUPTED))


def exit_status(status: int) -> int:
    """The command's exit status, 143 (128 + SIGTERM) rather than 130 when SIGTERM
    stopped it."""
    return 128 + signal.SIGTERM if status == INTERRUPTED and _terminated else status


@contextmanager
def redeliver_lost_interrupts() -> Iterator[None]:
    """For the block: a KeyboardInterrupt raised inside a finalizer, which Python can only
    report ("Exception ignored in ...") and drop, is delivered again, as SIGINT a few
    milliseconds later (SIGALRM's timer: by then the finalizer has returned), so that the
    command still stops, and says so in one line. SIGTERM's handler has noted its signal."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return
    previous_hook = sys.unraisablehook
    previous_alarm = signal.getsignal(signal.SIGALRM)

    def again(signum: int, frame: FrameType | None) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    def hook(unraisable: Any) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            signal.signal(signal.SIGALRM, again)
            signal.setitimer(signal.ITIMER_REAL, LATER)
            return
        previous_hook(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm or signal.SIG_DFL)


#: Seconds after which a Ctrl-C lost in a finalizer is delivered again.
LATER = 0.005


def _say(text: str) -> None:
    """A line on stderr from a signal handler: the main thread may be writing there too,
    and a clash must not become an error at an arbitrary point."""
    with contextlib.suppress(Exception):
        print(text, file=sys.stderr, flush=True)


@contextmanager
def stop_requested(note: str, stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """The first Ctrl-C (or SIGTERM) in the block sets the event it yields (``stop``, or a
    new one), for the block to stop at its next step, and prints ``note``; a second raises
    KeyboardInterrupt."""
    stop = stop or threading.Event()
    # SIGINT ignored by who started us stays ignored; SIGTERM (passed on by _as_sigint) stops
    ignored = signal.getsignal(signal.SIGINT) is _inherited_ignore

    def first_then_raise(signum: int, frame: object) -> None:
        if ignored and signum == signal.SIGINT:
            return
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        _say(note)

    with sigint_handler(first_then_raise):
        yield stop


@contextmanager
def finish_first(command: str) -> Iterator[None]:
    """Hold a Ctrl-C until the block (one report, one delete call) is done, then raise it.

    The block's store state is then whole rather than undone; a second Ctrl-C does not wait.
    """
    note = f"\nredis-store {command}: stopping after the current step (again: abandon it)"
    stop = threading.Event()
    try:
        with stop_requested(note, stop):
            yield
    finally:
        # Looked at once the previous handler is back: a signal landing while the block's
        # handler is being taken down has set ``stop`` by now, or meets the previous handler.
        if stop.is_set():  # even if the block failed: the operator asked to stop
            raise KeyboardInterrupt


@contextmanager
def stop_asked(stop: threading.Event, message: str) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) in the block sets ``stop`` and says ``message``, for work that
    checks ``stop`` between its steps; a second one raises KeyboardInterrupt (abandon
    them)."""
    with stop_requested(f"\n{message} (again: abandon them)", stop):
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
