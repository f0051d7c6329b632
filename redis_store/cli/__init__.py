"""The ``redis-store`` command line.

One module per command family, each with small ``cmd_*`` functions taking the parsed
arguments and returning the exit status; the work itself is done by the library
(:mod:`redis_store.replay`, :mod:`redis_store.ops`, :mod:`redis_store.tier`,
:mod:`redis_store.demo`). ``main``
returns the status instead of exiting, so tests can call it in-process.

- :mod:`~redis_store.cli.demo`: ``demo``
- :mod:`~redis_store.cli.load`: ``import``, ``export``; :mod:`~redis_store.cli.fill`:
  ``import --from`` (filling from a Clair)
- :mod:`~redis_store.cli.inspect`: ``report``, ``layers``, ``scanners``, ``stats``
- :mod:`~redis_store.cli.affected`: ``affected``
- :mod:`~redis_store.cli.maintain`: ``delete``, ``expire``, ``gc``, ``fsck``
- :mod:`~redis_store.cli.evict`: ``evict`` (a cache tier's memory budget)
- :mod:`~redis_store.cli.serve`: ``serve`` (Clair's indexer API from the tier)

What they share: :mod:`~redis_store.cli.options` (argument types, --url/--namespace/--json,
-v/-q/--log-level), :mod:`~redis_store.cli.connection` (the one way to open the store, checked
before use), :mod:`~redis_store.cli.console` (stdin, JSON, warnings, logging),
:mod:`~redis_store.cli.errors` (exit statuses), :mod:`~redis_store.cli.interrupts` (Ctrl-C and
SIGTERM), :mod:`~redis_store.cli.confirm` (asking before deleting everything),
:mod:`~redis_store.cli.jobfile` (--metrics-file) and :mod:`~redis_store.cli.progress` (the
progress bar).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from contextlib import suppress

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store.cli import (
    affected,
    console,
    demo,
    evict,
    inspect,
    interrupts,
    load,
    maintain,
    serve,
)
from redis_store.cli.connection import connect, explained, store_label
from redis_store.cli.errors import (
    FAILED,
    INTERRUPTED,
    USAGE,
    CommandError,
    Interrupted,
    Misconfigured,
    UsageError,
)
from redis_store.cli.options import Command, Subparsers, add_output_options, common_options
from redis_store.errors import OriginError, StoreError
from redis_store.version import __version__

#: Each command module contributes its subparser(s), in the order ``--help`` lists them;
#: add new commands here.
COMMANDS: tuple[Callable[[Subparsers, argparse.ArgumentParser], None], ...] = (
    demo.add_demo_parser,
    load.add_import_parser,
    load.add_export_parser,
    inspect.add_look_parsers,
    affected.add_affected_parser,
    maintain.add_delete_parser,
    maintain.add_maintenance_parsers,
    evict.add_evict_parser,
    inspect.add_stats_parser,
    serve.add_serve_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redis-store", description="claircore's indexer Store on Redis: tools."
    )
    parser.add_argument("--version", action="version", version=f"redis-store {__version__}")
    add_output_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_options()
    for add in COMMANDS:
        add(sub, common)
    return parser


def main(argv: list[str] | None = None, *, final: bool = False) -> int:
    """Run one ``redis-store`` command; returns the exit status (2 for usage errors).

    ``final``: the process exits right after (the console script), so signals arriving
    once the command is done end it at once (see :mod:`redis_store.cli.interrupts`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help (0) and on usage errors (2)
        return e.code if isinstance(e.code, int) else USAGE
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("redis-store: error: a command is required", file=sys.stderr)
        return USAGE
    try:
        with (
            interrupts.terminate_as_interrupt(final=final),
            interrupts.redeliver_lost_interrupts(),
            console.output(args),
        ):
            status = run(args)
    except KeyboardInterrupt:  # a second signal while the command was saying it stopped
        status = INTERRUPTED
    return interrupts.exit_status(status)


def program() -> None:
    """The ``redis-store`` console script (and ``python -m redis_store``)."""
    try:
        status = main(final=True)
    except KeyboardInterrupt:  # before the command's own handling began (parsing)
        status = INTERRUPTED
    raise SystemExit(status)


def run(args: argparse.Namespace) -> int:
    """The command's exit status; every failure it may meet is one line on stderr."""
    func: Command = args.func
    name = args.command
    try:
        status = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return status
    except UsageError as e:
        print(f"redis-store {name}: error: {e}", file=sys.stderr)
        return USAGE
    except Misconfigured as e:
        print(f"redis-store {name}: {e}", file=sys.stderr)
        return USAGE
    except CommandError as e:
        print(f"redis-store {name}: {e}", file=sys.stderr)
    except (RedisConnectionError, RedisTimeoutError, RedisError, RedisClusterException) as e:
        return _redis_failure(args, e)
    except OriginError as e:  # a read through an origin: said as a Redis failure is
        print(f"redis-store {name}: {e}", file=sys.stderr)
        return USAGE if e.misconfigured else FAILED
    except StoreError as e:
        print(f"redis-store {name}: store error: {type(e).__name__}: {e}", file=sys.stderr)
    except Interrupted:  # the command has said where it stopped
        return INTERRUPTED
    except KeyboardInterrupt:
        print(f"\nredis-store {name}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # stdout closed early (| head): the reader has what it wanted
        with suppress(OSError, ValueError):  # and keep the interpreter's exit flush quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return FAILED


def _redis_failure(args: argparse.Namespace, error: BaseException) -> int:
    """A Redis error met during the command: explained in one line (exit 2 when the setup
    is wrong), else reported as Redis said it."""
    url = store_label(args)
    found = explained(error, url)
    if isinstance(found, CommandError):
        print(f"redis-store {args.command}: {found}", file=sys.stderr)
        return USAGE if isinstance(found, Misconfigured) else FAILED
    text = str(error).splitlines()[0] if str(error) else ""
    print(
        f"redis-store {args.command}: Redis error: {type(error).__name__}: {text}", file=sys.stderr
    )
    return FAILED


__all__ = ["build_parser", "connect", "main", "program"]
