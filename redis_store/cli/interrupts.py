"""Ctrl-C in a command: stop cleanly, saying what state the store was left in.

Either finish the step under way first (:func:`finish_first`: one report, one delete call),
or stop at once where every step is atomic (:func:`stop_on_ctrl_c`). The library's
:func:`~redis_store.interrupts.no_interrupts` covers an undo; this is the command line's
side, which tells the operator what a Ctrl-C did.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from redis_store.cli.console import warn
from redis_store.cli.errors import Interrupted
from redis_store.cli.progress import Progress
from redis_store.interrupts import sigint_handler


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
