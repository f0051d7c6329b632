"""``delete``, ``expire``, ``gc`` and ``fsck``: removing manifests and keeping a store sound.

All of them go through the library's safe paths (``delete_manifests``, :mod:`redis_store.ops`),
which skip manifests an indexer holds locked and change the store atomically per item; the
commands add reading digests, Ctrl-C and reporting.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from redis_store import ops
from redis_store.cli.connection import open_store
from redis_store.cli.console import print_json, stdin_lines, warn
from redis_store.cli.errors import FAILED, INTERRUPTED, UsageError
from redis_store.cli.interrupts import finish_first, stop_on_ctrl_c
from redis_store.cli.options import Subparsers, add_command, duration
from redis_store.cli.progress import Progress
from redis_store.errors import DigestError
from redis_store.interrupts import no_interrupts
from redis_store.models import Digest

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
    if not out:
        raise UsageError("no digests given")
    return list(dict.fromkeys(out))


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete manifests through ``delete_manifests``, which skips those being indexed."""
    wanted = read_digests(args)
    progress = Progress(sys.stderr)
    deleted: list[Digest] = []
    interrupted = False
    with open_store(args) as store:
        known = [d for d, e in zip(wanted, ops.manifests_exist(store, wanted), strict=True) if e]
        try:
            for i in range(0, len(known), 100):  # each call is atomic per manifest
                with finish_first():
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
    failed = not lists["deleted"] or lists["locked"] or lists["not_deleted"]
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
        " Exit 1 when nothing was deleted or a manifest was skipped.",
    )
    p.add_argument("digests", nargs="*", metavar="DIGEST|-", help="digests, or - for stdin")
    p.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE|-",
        help="read digests from FILE (one a line; blank lines and # comments ignored)",
    )


# -- expire, gc, fsck --------------------------------------------------------------------------


def cmd_expire(args: argparse.Namespace) -> int:
    """The cache-tier policy: delete manifests nobody indexed or read for a while."""
    progress = Progress(sys.stderr)
    stopped = "interrupted; manifests expired so far are gone whole, run again"
    with open_store(args) as store, stop_on_ctrl_c(progress, "expire", stopped):
        res = ops.expire(
            store,
            args.older_than.seconds,
            dry_run=args.dry_run,
            progress=progress.callback("expiring"),
        )
    if args.json:
        print_json({"older_than_seconds": args.older_than.seconds, **asdict(res)})
        return 0
    verb = "would expire" if args.dry_run else "expired"
    print(
        f"{verb} {len(res.expired)} manifests unused for {args.older_than.text};"
        f" skipped {len(res.skipped_locked)} (locked); kept {res.unknown} with no recorded use"
    )
    for d in res.expired:
        print(f"  {'expired':<12}{d}")
    for d in res.skipped_locked:
        print(f"  {'locked':<12}{d}")
    return 0


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
    progress = Progress(sys.stderr)
    stopped = "interrupted; each item reclaimed so far went atomically, run again"
    with open_store(args) as store, stop_on_ctrl_c(progress, "gc", stopped):
        res = ops.collect(store, dry_run=args.dry_run, progress=progress.callback("reading"))
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
    progress = Progress(sys.stderr)
    start = time.perf_counter()
    repaired: list[ops.Violation] = []
    stopped = "interrupted" + ("; each repair applied so far is whole" if args.repair else "")
    with open_store(args) as store, stop_on_ctrl_c(progress, "fsck", stopped):
        found = ops.check(store, progress=progress.callback("checking"))
        progress.clear()
        remaining = found
        if args.repair and found:
            repaired = ops.repair(store, found)
            remaining = ops.check(store, progress=progress.callback("re-checking"))
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
        " locked are skipped; manifests with no recorded use are kept.",
    )
    p.add_argument(
        "--older-than",
        type=duration,
        required=True,
        metavar="AGE",
        help="e.g. 30d, 12h, 90m, 2w",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be expired")

    p = add_command(
        sub,
        "gc",
        cmd_gc,
        common,
        help="reclaim what interrupted operations left (safe while indexers run)",
    )
    p.add_argument("--dry-run", action="store_true", help="count what would be reclaimed")

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
