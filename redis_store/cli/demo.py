"""``demo``: index a generated registry and show what the store holds and what it cost.

The run itself is :func:`redis_store.demo.run.generate_and_run`; this parses the
arguments, draws the progress bar and prints the result.
"""

from __future__ import annotations

import argparse
import json

from redis_store.cli import console
from redis_store.cli.connection import open_store, store_label, store_url
from redis_store.cli.errors import CommandError
from redis_store.cli.options import Subparsers, add_command, add_store_options, positive_int
from redis_store.demo.run import DemoCheckFailed, format_demo, generate_and_run


def cmd_demo(args: argparse.Namespace) -> int:
    """Index a generated registry into a store and show what it holds and what it cost."""
    store = open_store(args)
    backend = store_label(args)
    real = store_url(args) is not None
    progress = console.progress()
    with store:
        try:
            result = generate_and_run(
                store,
                args.manifests,
                args.seed,
                progress,
                backend=backend,
                real=real,
            )
        except DemoCheckFailed as e:
            raise CommandError(str(e)) from None
        finally:
            progress.clear()
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(format_demo(result, args.manifests))
    return 0


def add_demo_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """The demo brings its own store options: without --url it runs on a private fakeredis."""
    p = add_command(
        sub,
        "demo",
        cmd_demo,
        None,
        help="index a generated registry and report sizes and timings",
        description="Generate a realistic registry of claircore IndexReports, index it in"
        " claircore's controller call order, read it back, delete 10% of it, and print what"
        " was stored and how long each step took.",
    )
    p.add_argument(
        "--manifests",
        type=positive_int,
        default=200,
        metavar="N",
        help="how many manifests to generate (default: 200)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="workload seed; the same seed gives the same registry (default: 0)",
    )
    add_store_options(
        p,
        url_help="a real Redis (any URL the store takes); default: $REDIS_URL, else an"
        " in-process fakeredis",
        default_namespace="demo",
        in_process=True,
    )
