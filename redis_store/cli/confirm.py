"""Asking before a command deletes every manifest of a namespace.

``delete --all`` and an ``expire`` that would take everything ask on the terminal; off a
terminal (a pipe, cron, CI) nobody can answer, so they refuse unless given ``--yes``, rather
than guess either way.
"""

from __future__ import annotations

import argparse
import sys

from redis_store.cli.errors import CommandError, UsageError


class Declined(CommandError):
    """The operator answered no: nothing was changed (exit 1)."""


def confirm(args: argparse.Namespace, question: str) -> None:
    """Go ahead with --yes or a "y" typed on the terminal; else raise (nothing done yet)."""
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Refusing without --yes: stdin is not a terminal to ask on")
    sys.stderr.write(f"redis-store {args.command}: {question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        raise Declined("not confirmed: nothing deleted")
