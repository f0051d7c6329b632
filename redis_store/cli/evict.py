"""``evict``: keep a cache tier within a memory budget (:mod:`redis_store.ops.evict`).

One pass, or with ``--watch`` a pass every few seconds until stopped, as a daemon
(:mod:`redis_store.cli.watch`: Redis out of reach is said and retried, never fatal). Each
deletion is atomic per manifest, so stopping anywhere leaves a whole store, and the line
of a pass stopped midway says what it deleted. A pass that would take every manifest of
the namespace asks first, or needs ``--yes``.
"""

from __future__ import annotations

import argparse
import time
from threading import Event

from redis_store import ops
from redis_store.cli import console
from redis_store.cli.confirm import confirm
from redis_store.cli.connection import open_store
from redis_store.cli.console import fmt_bytes, print_json, warn
from redis_store.cli.errors import FAILED, INTERRUPTED, UsageError
from redis_store.cli.jobfile import JobRun, job_metrics
from redis_store.cli.options import (
    Subparsers,
    add_command,
    add_metrics_file_option,
    add_yes_option,
    positive_float,
    size,
)
from redis_store.cli.watch import run_passes
from redis_store.errors import InvalidInputError
from redis_store.ops.evict import EvictionRefused, EvictionResult
from redis_store.store import RedisStore


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
    if res.interrupted:
        text += "; interrupted"
    if res.error is not None:
        text += f"; stopped by a Redis error: {type(res.error).__name__}"
    return text


def _evict(
    store: RedisStore, args: argparse.Namespace, stop: Event | None, allow_all: bool
) -> EvictionResult:
    progress = console.progress()
    try:
        return ops.evict(
            store,
            args.max_memory,
            dry_run=args.dry_run,
            progress=progress.callback("evicting"),
            stop=stop,
            allow_all=allow_all,
        )
    except InvalidInputError as e:  # a budget no eviction can meet
        raise UsageError(f"--max-memory: {e}") from None
    finally:
        progress.clear()


def _show(res: EvictionResult, args: argparse.Namespace) -> None:
    if args.json:
        print_json({"at": round(time.time(), 3), **res.as_dict()})
        return
    print(_line(res), flush=True)
    if res.dry_run and args.verbose:
        for d in res.evicted:
            print(f"  would evict   {d}")


def _figures(job: JobRun, res: EvictionResult | None, budget: int) -> bool:
    """Set the pass's figures for --metrics-file (None: the pass did not run); whether
    the budget is enforced."""
    enforced = res is not None and res.error is None and res.under_budget
    job.completed = enforced
    if job.file is not None:
        job.file.evict(
            used=0 if res is None else res.used_after,
            budget=budget,
            evicted=0 if res is None else len(res.evicted),
            locked=0 if res is None else len(res.skipped_locked),
            enforced=enforced,
        )
    return enforced


def _publish(job: JobRun, res: EvictionResult | None, budget: int, seconds: float) -> None:
    """Write --metrics-file after a pass of --watch (a failed pass: budget not enforced)."""
    enforced = _figures(job, res, budget)
    try:
        job.publish(seconds, success=enforced)
    except OSError as e:
        warn("evict", f"cannot write --metrics-file {job.path}: {e.strerror or e}")


def cmd_evict(args: argparse.Namespace) -> int:
    """Delete least recently used manifests until the server is under the budget."""
    with job_metrics(args, "evict") as job:
        job.dry_run = args.dry_run
        if args.watch is not None:
            return _watch(args, job)
        with open_store(args) as store:
            try:
                res = _evict(store, args, None, allow_all=args.yes)
            except EvictionRefused as e:
                confirm(args, f"{e}. Evict them all?")
                res = _evict(store, args, None, allow_all=True)
        _show(res, args)
        _figures(job, res, args.max_memory)
        if res.interrupted:
            warn("evict", "interrupted; manifests evicted so far are gone whole")
            return INTERRUPTED
        if res.error is not None:
            raise res.error
        return 0 if res.under_budget else FAILED


def _watch(args: argparse.Namespace, job: JobRun) -> int:
    """A pass every --watch seconds; a line per pass that evicts, stays over or is
    refused, and at least one every --heartbeat seconds."""
    last_line = time.monotonic()
    refused_said = 0.0

    def one_pass(store: RedisStore, stop: Event) -> None:
        nonlocal last_line, refused_said
        start = time.monotonic()
        try:
            res = _evict(store, args, stop, allow_all=args.yes)
        except EvictionRefused as e:
            _publish(job, None, args.max_memory, time.monotonic() - start)
            if time.monotonic() - refused_said >= args.heartbeat:
                warn("evict", f"{e}: not evicting (--yes allows it); the budget is not enforced")
                refused_said = time.monotonic()
            return
        refused_said = 0.0
        _publish(job, res, args.max_memory, time.monotonic() - start)
        due = time.monotonic() - last_line >= args.heartbeat
        if args.json or res.evicted or not res.under_budget or res.interrupted or due:
            _show(res, args)
            last_line = time.monotonic()
        if res.error is not None:  # said, and retried as Redis out of reach is
            raise res.error

    def outage(reason: str) -> None:
        _publish(job, None, args.max_memory, 0.0)

    return run_passes(
        args,
        "evict",
        args.watch,
        one_pass,
        what="the budget is not enforced",
        on_outage=outage,
        remind=args.heartbeat,
    )


def add_evict_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        "evict",
        cmd_evict,
        common,
        help="keep used_memory under a budget by deleting least recently used manifests",
        description="Delete, through delete_manifests, the manifests least recently indexed"
        " or read (a manifest with no recorded use first) until the server's used_memory is"
        " at most --max-memory. The budget is the whole server's used_memory (on a cluster,"
        " the sum over its primaries), what Redis compares with maxmemory, whatever other"
        " namespaces or data share it; only this namespace's manifests are evicted. A pass"
        " that would take every manifest of the namespace (its keys, estimated, are no more"
        " than what must be freed) asks first on a terminal, or needs --yes. Manifests an"
        " indexer holds locked are skipped. Exit 1 when the budget cannot be reached.",
    )
    p.add_argument(
        "--max-memory",
        type=size,
        required=True,
        metavar="SIZE",
        help="the budget, with a unit: 2GiB, 512MiB, 1.5G, 800KiB (units are powers of"
        " 1024, as Redis reads maxmemory; B for bytes)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="delete nothing; say how many manifests would go, by their own keys' size",
    )
    p.add_argument(
        "--watch",
        type=positive_float,
        metavar="SECONDS",
        help="keep doing it: a pass every SECONDS until stopped (Ctrl-C, SIGTERM); Redis out"
        " of reach is said on stderr and retried with a growing pause",
    )
    p.add_argument(
        "--heartbeat",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="with --watch: print a pass's line at least this often, even when it evicted"
        " nothing (default: 60)",
    )
    add_yes_option(p, "evicting every manifest of the namespace")
    add_metrics_file_option(p)
