"""``delete``, ``expire``, ``gc`` and ``fsck``: removing manifests and keeping a store sound.

All of them go through the library's safe paths (``delete_manifests``, :mod:`redis_store.ops`),
which skip manifests an indexer holds locked and change the store atomically per item; the
commands add reading digests, asking before everything goes, Ctrl-C, reporting and
``--metrics-file``. A manifest skipped because an indexer holds it locked is exit status 1
for ``delete`` and ``expire`` alike: something asked for was not done.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from redis_store import ops
from redis_store.cli import console
from redis_store.cli.confirm import confirm
from redis_store.cli.connection import open_store, store_label
from redis_store.cli.console import print_json, stdin_lines, warn
from redis_store.cli.errors import FAILED, INTERRUPTED, UsageError
from redis_store.cli.interrupts import finish_first, stop_on_ctrl_c
from redis_store.cli.jobfile import job_metrics
from redis_store.cli.options import (
    Subparsers,
    add_command,
    add_metrics_file_option,
    add_yes_option,
    duration,
)
from redis_store.errors import DigestError
from redis_store.interrupts import no_interrupts
from redis_store.models import Digest
from redis_store.store import RedisStore

# -- delete ------------------------------------------------------------------------------------


def read_digests(args: argparse.Namespace) -> list[Digest]:
    """Every digest asked for, validated before anything is deleted (a bad one: exit 2)."""
    given: list[tuple[str, str]] = []

    def lines(source: Iterable[bytes | str], where: str) -> None:
        for n, raw in enumerate(source, 1):
            text = (raw.decode() if isinstance(raw, bytes) else raw).strip()
            if text and not text.startswith("#"):
                given.append((text, f"{where} line {n}"))

    for value in args.digests:
        if value == "-":
            lines(stdin_lines(), "stdin")
        else:
            given.append((value, "argument"))
    if args.from_file == "-":
        lines(stdin_lines(), "stdin")
    elif args.from_file is not None:
        try:
            lines(Path(args.from_file).read_text().splitlines(), args.from_file)
        except OSError as e:
            raise UsageError(f"cannot read --from {args.from_file}: {e.strerror}") from None
    out: list[Digest] = []
    for value, where in given:
        try:
            out.append(Digest(value))
        except DigestError as e:
            raise UsageError(f"bad digest {value!r} ({where}): {e}") from None
    if not args.digests and args.from_file is None:
        raise UsageError("no digests given (DIGEST..., --from FILE, - for stdin, or --all)")
    return list(dict.fromkeys(out))  # a list read empty (nothing old to delete) is no error


def everything(store: RedisStore) -> int:
    """How many manifests the namespace holds."""
    return int(store.client.hlen(store.keys.manifests))


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete manifests through ``delete_manifests``, which skips those being indexed."""
    if args.all and (args.digests or args.from_file):
        raise UsageError("give DIGEST..., --from or --all, not several")
    wanted = [] if args.all else read_digests(args)
    progress = console.progress()
    deleted: list[Digest] = []
    interrupted = False
    with open_store(args) as store:
        if args.all:
            wanted = [d for _, d in ops.manifests(store)]
            if wanted:
                confirm(
                    args,
                    f"delete all {len(wanted)} manifests of namespace {args.namespace!r}"
                    f" at {store_label(args)}?",
                )
        known = [d for d, e in zip(wanted, ops.manifests_exist(store, wanted), strict=True) if e]
        try:
            for i in range(0, len(known), 100):  # each call is atomic per manifest
                with finish_first("delete"):
                    deleted += store.delete_manifests(*known[i : i + 100])
                progress.update("deleting", min(i + 100, len(known)), len(known))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.clear()
        with no_interrupts():
            rest = [d for d in known if d not in set(deleted)]
            still = dict(zip(rest, ops.manifests_exist(store, rest), strict=True))
            deleted += [d for d in rest if not still[d]]  # the interrupted call got to them
            left = [d for d in rest if still[d]]
            held = dict(zip(left, ops.manifests_locked(store, left), strict=True))
    done, asked = set(deleted), set(known)
    lists: dict[str, list[Digest]] = {
        "deleted": [d for d in wanted if d in done],
        "locked": [d for d in left if held[d]],
        "unknown": [d for d in wanted if d not in asked],
        "not_deleted": [d for d in left if not held[d]],
    }
    if args.json:
        print_json({**lists, "interrupted": interrupted})
    else:
        print(
            f"deleted {len(lists['deleted'])}, skipped {len(lists['locked'])} (locked),"
            f" unknown {len(lists['unknown'])}"
            + (f", not deleted {len(lists['not_deleted'])}" if lists["not_deleted"] else "")
        )
        for what, digests in lists.items():
            for d in digests:
                print(f"  {what:<12}{d}")
    if interrupted:
        warn("delete", "interrupted; each manifest is deleted whole or not at all")
        return INTERRUPTED
    # nothing asked (an empty list, an empty namespace with --all) is nothing left undone
    failed = (wanted and not lists["deleted"]) or lists["locked"] or lists["not_deleted"]
    return FAILED if failed else 0


def add_delete_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        "delete",
        cmd_delete,
        common,
        help="delete manifests (skipping those an indexer holds locked)",
        description="Delete manifests through delete_manifests: each with its report, layers"
        " no other manifest uses and entities nothing references, atomically; a manifest"
        " an indexer holds the lock of is skipped. All digests are read and checked first."
        " --all deletes every manifest of the namespace, after asking on a terminal (or with"
        " --yes). Exit 1 when none of the digests given was deleted, or a manifest was"
        " skipped; an empty list (from - or --from) deletes nothing and exits 0.",
    )
    p.add_argument("digests", nargs="*", metavar="DIGEST|-", help="digests, or - for stdin")
    p.add_argument("--all", action="store_true", help="every manifest of the namespace")
    add_yes_option(p, "deleting every manifest")
    p.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE|-",
        help="read digests from FILE (one a line; blank lines and # comments ignored)",
    )


# -- expire, gc, fsck --------------------------------------------------------------------------


def cmd_expire(args: argparse.Namespace) -> int:
    """The cache-tier policy: delete manifests nobody indexed or read for a while."""
    progress = console.progress()
    stopped = "interrupted; manifests expired so far are gone whole, run again"
    age = args.older_than
    with (
        job_metrics(args, "expire") as job,
        open_store(args) as store,
        stop_on_ctrl_c(progress, "expire", stopped),
    ):
        job.dry_run = args.dry_run
        if not args.dry_run and not args.yes:
            plan = ops.expire(store, age.seconds, dry_run=True)
            total = everything(store)
            if plan.expired and (age.seconds == 0 or len(plan.expired) >= total):
                confirm(
                    args,
                    f"expire {len(plan.expired)} of the {total} manifests of namespace"
                    f" {args.namespace!r} at {store_label(args)} (everything unused for"
                    f" {age.text})?",
                )
        res = ops.expire(
            store,
            age.seconds,
            dry_run=args.dry_run,
            progress=progress.callback("expiring"),
        )
        if job.file is not None:
            job.file.expire(
                expired=len(res.expired),
                locked=len(res.skipped_locked),
                no_recorded_use=res.unknown,
            )
    status = FAILED if res.skipped_locked else 0
    if args.json:
        print_json({"older_than_seconds": age.seconds, **asdict(res)})
        return status
    verb = "would expire" if args.dry_run else "expired"
    print(
        f"{verb} {len(res.expired)} manifests unused for {age.text};"
        f" skipped {len(res.skipped_locked)} (locked); kept {res.unknown} with no recorded use"
    )
    for d in res.expired:
        print(f"  {verb:<14}{d}")
    for d in res.skipped_locked:
        print(f"  {'locked':<14}{d}")
    return status


#: What gc reclaims, by kind: its result's fields, as --metrics-file labels them.
GC_KINDS = (
    "layers",
    "records",
    "packages",
    "distributions",
    "repositories",
    "files",
    "stale_links",
)


def _gc_rows(res: ops.GcResult) -> list[tuple[str, int]]:
    return [
        ("layers", res.layers),
        ("index records", res.records),
        ("packages", res.packages),
        ("distributions", res.distributions),
        ("repositories", res.repositories),
        ("files", res.files),
    ]


def cmd_gc(args: argparse.Namespace) -> int:
    """Reclaim what interrupted operations left behind (safe while indexers run)."""
    progress = console.progress()
    stopped = "interrupted; each item reclaimed so far went atomically, run again"
    with (
        job_metrics(args, "gc") as job,
        open_store(args) as store,
        stop_on_ctrl_c(progress, "gc", stopped),
    ):
        job.dry_run = args.dry_run
        res = ops.collect(store, dry_run=args.dry_run, progress=progress.callback("reading"))
        if job.file is not None:
            job.file.gc({kind: getattr(res, kind) for kind in GC_KINDS})
    if args.json:
        print_json(asdict(res))
        return 0
    print("would reclaim" if args.dry_run else "reclaimed")
    for name, n in _gc_rows(res):
        print(f"  {name:<16}{n:>8}")
    print(f"  {'stale links':<16}{res.stale_links:>8}   (to deleted manifests, unlinked)")
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    """Check every invariant the store relies on; --repair mends what it can."""
    progress = console.progress()
    start = time.perf_counter()
    repaired: list[ops.Violation] = []
    stopped = "interrupted" + ("; each repair applied so far is whole" if args.repair else "")
    with (
        job_metrics(args, "fsck") as job,
        open_store(args) as store,
        stop_on_ctrl_c(progress, "fsck", stopped),
    ):
        found = ops.check(store, progress=progress.callback("checking"))
        progress.clear()
        remaining = found
        if args.repair and found:
            repaired = ops.repair(store, found)
            remaining = ops.check(store, progress=progress.callback("re-checking"))
        if job.file is not None:
            job.file.fsck(found=len(found), repaired=len(repaired), remaining=len(remaining))
    seconds = time.perf_counter() - start
    if args.json:
        print_json(
            {
                "violations": [v.as_dict() for v in found],
                "repaired": [v.as_dict() for v in repaired],
                "remaining": [v.as_dict() for v in remaining],
                "seconds": round(seconds, 3),
            }
        )
    else:
        for v in found:
            mark = "" if v.repairable else "  (not repairable)"
            print(f"{v.kind}: {v.key}: {v.detail}{mark}")
        print(f"{len(found)} violations in {seconds:.2f} s", end="")
        if args.repair:
            print(f"; repaired {len(repaired)}, {len(remaining)} remain")
        else:
            print()
    return FAILED if remaining else 0


def add_maintenance_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """``expire``, ``gc`` and ``fsck``."""
    p = add_command(
        sub,
        "expire",
        cmd_expire,
        common,
        help="delete manifests not indexed or read for a while",
        description="Delete, through delete_manifests, every manifest not indexed or read"
        " for longer than --older-than (by the server's clock). Manifests an indexer holds"
        " locked are skipped (exit 1); manifests with no recorded use are kept. When that"
        " would delete every manifest of the namespace (or --older-than is 0), it asks first"
        " on a terminal, or needs --yes.",
    )
    p.add_argument(
        "--older-than",
        type=duration,
        required=True,
        metavar="AGE",
        help="e.g. 30d, 12h, 90m, 2w",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be expired")
    add_yes_option(p, "expiring every manifest")
    add_metrics_file_option(p)

    p = add_command(
        sub,
        "gc",
        cmd_gc,
        common,
        help="reclaim what interrupted operations left (safe while indexers run)",
        description="Reclaim what an interrupted operation or a hand edit left behind:"
        " layers no manifest uses, index records of deleted manifests, packages,"
        " distributions, repositories and files nothing references, links to deleted"
        " manifests. Each item is checked again atomically as it is reclaimed, so it is safe"
        " while indexers run; on a healthy store there is nothing to reclaim.",
    )
    p.add_argument("--dry-run", action="store_true", help="count what would be reclaimed")
    add_metrics_file_option(p)

    p = add_command(
        sub,
        "fsck",
        cmd_fsck,
        common,
        help="check the store's invariants (exit 1 when violations remain)",
        description="Read the whole namespace and report every broken invariant. --repair"
        " fixes what can be fixed (run it on a quiet store) and checks again.",
    )
    p.add_argument("--repair", action="store_true", help="fix the repairable violations")
    add_metrics_file_option(p)
