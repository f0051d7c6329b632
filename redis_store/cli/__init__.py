"""The ``redis-store`` command line.

One module per command family, each with small ``cmd_*`` functions taking the parsed
arguments and returning the exit status; the work itself is done by the library
(:mod:`redis_store.replay`, :mod:`redis_store.ops`, :mod:`redis_store.demo`). ``main``
returns the status instead of exiting, so tests can call it in-process.

- :mod:`~redis_store.cli.demo`: ``demo``
- :mod:`~redis_store.cli.load`: ``import``, ``export``
- :mod:`~redis_store.cli.inspect`: ``report``, ``layers``, ``scanners``, ``stats``
- :mod:`~redis_store.cli.affected`: ``affected``
- :mod:`~redis_store.cli.maintain`: ``delete``, ``expire``, ``gc``, ``fsck``

What they share: :mod:`~redis_store.cli.options` (argument types, --url/--namespace/--json),
:mod:`~redis_store.cli.connection` (the one way to open the store),
:mod:`~redis_store.cli.console` (stdin, JSON, warnings), :mod:`~redis_store.cli.errors`
(exit statuses), :mod:`~redis_store.cli.interrupts` (Ctrl-C) and
:mod:`~redis_store.cli.progress` (the progress bar).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from contextlib import suppress

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store.cli import affected, demo, inspect, load, maintain
from redis_store.cli.connection import connect
from redis_store.cli.errors import FAILED, INTERRUPTED, USAGE, CommandError, Interrupted, UsageError
from redis_store.cli.options import Command, Subparsers, common_options
from redis_store.errors import StoreError

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
    inspect.add_stats_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redis-store", description="claircore's indexer Store on Redis: tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_options()
    for add in COMMANDS:
        add(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``redis-store`` command; returns the exit status (2 for usage errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help (0) and on usage errors (2)
        return e.code if isinstance(e.code, int) else USAGE
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("redis-store: error: a command is required", file=sys.stderr)
        return USAGE
    func: Command = args.func
    try:
        return func(args)
    except UsageError as e:
        print(f"redis-store {args.command}: error: {e}", file=sys.stderr)
        return USAGE
    except CommandError as e:
        print(f"redis-store {args.command}: {e}", file=sys.stderr)
    except (RedisConnectionError, RedisTimeoutError) as e:
        print(f"redis-store {args.command}: cannot reach Redis: {e}", file=sys.stderr)
    except StoreError as e:
        print(f"redis-store {args.command}: store error: {type(e).__name__}: {e}", file=sys.stderr)
    except Interrupted:  # the command has said where it stopped
        return INTERRUPTED
    except KeyboardInterrupt:
        print(f"\nredis-store {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # stdout closed early (| head): not worth a traceback
        with suppress(OSError, ValueError):  # and keep the interpreter's exit flush quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return FAILED


__all__ = ["build_parser", "connect", "main"]
