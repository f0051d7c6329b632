"""``evict``: keep a cache tier within a memory budget (:mod:`redis_store.ops.evict`).

One pass, or with ``--watch`` a pass every few seconds until Ctrl-C; each deletion is atomic
per manifest, so stopping anywhere leaves a whole store.
"""

from __future__ import annotations

import argparse
import time

from redis_store import ops
from redis_store.cli import console
from redis_store.cli.connection import open_store
from redis_store.cli.console import fmt_bytes, print_json
from redis_store.cli.errors import INTERRUPTED
from redis_store.cli.options import Subparsers, add_command, size
from redis_store.ops.evict import EvictionResult


def _line(res: EvictionResult) -> str:
    verb = "would evict" if res.dry_run else "evicted"
    text = (
        f"{verb} {len(res.evicted)} manifests: used_memory {fmt_bytes(res.used_before)}"
        f" -> {fmt_bytes(res.used_after)}{' (estimated)' if res.dry_run else ''},"
        f" budget {fmt_bytes(res.budget)}"
        f" ({'under' if res.under_budget else 'OVER'})"
    )
    if res.skipped_locked:
        text += f"; skipped {len(res.skipped_locked)} (locked)"
    if res.evicted and not res.dry_run:
        text += f" in {res.seconds:.2f} s ({1000 * res.seconds / len(res.evicted):.2f} ms each)"
    return text


def cmd_evict(args: argparse.Namespace) -> int:
    """Delete least recently used manifests until the server is under the budget."""
    progress = console.progress()
    with open_store(args) as store:
        try:
            while True:
                res = ops.evict(
                    store,
                    args.max_memory,
                    dry_run=args.dry_run,
                    progress=progress.callback("evicting"),
                )
                progress.clear()
                if args.json:
                    print_json({"at": round(time.time(), 3), **res.as_dict()})
                elif args.watch is None or res.evicted or not res.under_budget:
                    print(_line(res), flush=True)
                    if args.dry_run and args.verbose:
                        for d in res.evicted:
                            print(f"  would evict   {d}")
                if args.watch is None:
                    return 0 if res.under_budget else 1
                time.sleep(args.watch)
        except KeyboardInterrupt:
            progress.clear()
            if args.watch is None:
                console.warn("evict", "interrupted; manifests evicted so far are gone whole")
                return INTERRUPTED
            return 0  # --watch runs until stopped


def add_evict_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        "evict",
        cmd_evict,
        common,
        help="keep used_memory under a budget by deleting least recently used manifests",
        description="Delete, through delete_manifests, the manifests least recently indexed"
        " or read (a manifest with no recorded use first) until the server's used_memory"
        " (on a cluster, the sum over its primaries) is at most --max-memory. Manifests an"
        " indexer holds locked are skipped. Exit 1 when the budget cannot be reached.",
    )
    p.add_argument(
        "--max-memory",
        type=size,
        required=True,
        metavar="SIZE",
        help="the budget: 2GiB, 512MiB, 1.5G... (units are powers of 1024)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="delete nothing; say how many manifests would go, by their own keys' size",
    )
    p.add_argument(
        "--watch",
        type=float,
        metavar="SECONDS",
        help="keep doing it: a pass every SECONDS until Ctrl-C (a line per pass that evicts)",
    )
