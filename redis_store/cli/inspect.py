"""``list``, ``report``, ``layers``, ``scanners`` and ``stats``: looking inside a store,
changing nothing.

The reading is done by :mod:`redis_store.ops` and the store's own methods; these commands
lay the answers out for a terminal, or print them as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import asdict
from typing import Any

from redis_store import ops
from redis_store.cli import console
from redis_store.cli.connection import open_store
from redis_store.cli.console import fmt_bytes, fmt_time, print_json, scanner_text
from redis_store.cli.errors import CommandError
from redis_store.cli.fill import open_origin
from redis_store.cli.options import (
    Subparsers,
    add_command,
    add_mark_used_option,
    digest,
    duration,
    positive_int,
)
from redis_store.models import IndexReport
from redis_store.tier.origins import ReadThrough


def report_summary(report: IndexReport, info: ops.ManifestInfo | None) -> dict[str, Any]:
    """What ``report`` shows about a report (and, where stored, its manifest), as data:
    ``report --json --summary`` prints it, the text summary lays it out."""
    pkgs = list((report.packages or {}).values())
    sources = {(p.source.name, p.source.version) for p in pkgs if p.source and p.source.name}
    return {
        "manifest": str(report.hash),
        "state": report.state,
        "success": report.success,
        "err": report.err or None,
        "layers": None if info is None else len(info.layers),
        "packages": len(pkgs),
        "source_packages": len(sources),
        "distributions": [
            d.pretty_name or f"{d.name} {d.version}".strip()
            for d in (report.distributions or {}).values()
        ],
        "repositories": [r.name or r.uri for r in (report.repositories or {}).values()],
        "index_records": len(report.index_records()),
        "stored_records": None if info is None else info.records,
        "scanners": None if info is None else [asdict(s) for s in info.scanners],
        "stored_bytes": None if info is None else info.report_bytes,
        "last_used": None if info is None else info.last_used,
    }


def _report_text(summary: dict[str, Any], info: ops.ManifestInfo | None) -> str:
    state = f"{summary['state'] or '(none)'} ({'success' if summary['success'] else 'failed'})"
    rows = [
        ("manifest", summary["manifest"]),
        ("state", state + (f": {summary['err']}" if summary["err"] else "")),
        ("packages", f"{summary['packages']} (from {summary['source_packages']} source packages)"),
        ("distributions", ", ".join(summary["distributions"]) or "(none)"),
        ("repositories", ", ".join(summary["repositories"]) or "(none)"),
        ("index records", str(summary["index_records"])),
    ]
    if info is not None:
        rows.insert(2, ("layers", str(len(info.layers))))
        rows[-1] = ("index records", f"{rows[-1][1]} ({info.records} stored, with source packages)")
        rows += [
            ("scanners", ", ".join(scanner_text(s) for s in info.scanners) or "(none)"),
            ("stored", f"{fmt_bytes(info.report_bytes)} (compressed report)"),
            ("last used", fmt_time(info.last_used)),
        ]
    return "\n".join(f"{k:<15}{v}" for k, v in rows)


def cmd_list(args: argparse.Namespace) -> int:
    """The manifests, one digest a line (fit for ``delete -``), filtered."""
    finished = True if args.finished else False if args.unfinished else None
    progress = console.progress()
    with open_store(args) as store:
        try:
            entries = ops.list_manifests(
                store,
                finished=finished,
                unused_for=None if args.older_than is None else args.older_than.seconds,
                layer=args.layer,
                states=args.long or args.json,
                progress=progress.callback("listing"),
            )
        finally:
            progress.clear()
    if args.json:
        print_json([{**asdict(e), "finished": e.finished} for e in entries])
    elif args.long:
        for e in entries:
            state = e.state or "(no report)"
            print(f"{e.digest}  {state:<14} {e.layers:>3} layers  used {fmt_time(e.last_used)}")
    else:
        for e in entries:
            print(e.digest)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Show one stored report: claircore JSON with --json, else a summary. Reading it is not
    a use of the manifest (``expire``, ``evict``) unless --mark-used."""
    through = None if args.through is None else open_origin(args.through, "--through")
    took = 0.0
    with open_store(args) as store, contextlib.ExitStack() as stack:
        info = ops.manifest_info(store, args.digest)
        source: bytes | None = None
        if not args.mark_used:
            ((_, source),) = ops.stored_reports(store, [args.digest])
        if source is None and (args.mark_used or through is not None):
            if through is not None:
                stack.callback(through.close)
                store.tier = ReadThrough(through)
            start = time.perf_counter()
            source = store.index_report_json(args.digest)  # a use, or an import
            took = time.perf_counter() - start
            if info is None and source is not None:  # read through
                info = ops.manifest_info(store, args.digest)
    if through is not None and store.tier is not None and store.tier.stats().imported:
        console.note(
            "report",
            f"not in Redis: read through {through.name} and imported in {1000 * took:.0f} ms",
        )
    if source is None:
        where = "" if through is None else f" (nor at {through.name})"
        raise CommandError(f"no report for {args.digest}{where}")
    if args.json and not args.summary:
        print(source.decode())
        return 0
    summary = report_summary(IndexReport.from_json(source), info)
    if args.json:
        print_json(summary)
    else:
        print(_report_text(summary, info))
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    """A manifest's layers and, per layer, the registered scanners that scanned it."""
    with open_store(args) as store:
        info = ops.manifest_info(store, args.digest)
        if info is None:
            raise CommandError(f"unknown manifest {args.digest}")
        registry = list(ops.scanners(store).values())
        layers = [
            (layer, [s for s in registry if store.layer_scanned(layer, s)]) for layer in info.layers
        ]
    if args.json:
        print_json(
            {
                "manifest": info.digest,
                "layers": [
                    {"digest": layer, "scanned_by": [asdict(s) for s in scanned]}
                    for layer, scanned in layers
                ],
            }
        )
        return 0
    print(f"manifest {info.digest}: {len(layers)} layers")
    for i, (layer, scanned) in enumerate(layers, 1):
        print(f"{i:>3}  {layer}")
        for s in scanned:
            print(f"       {scanner_text(s)}")
        if not scanned:
            print("       (not scanned)")
    return 0


def cmd_scanners(args: argparse.Namespace) -> int:
    """The scanner registry: every scanner any indexer registered, by ID."""
    with open_store(args) as store:
        registry = ops.scanners(store)
    if args.json:
        print_json([{"id": i, **asdict(s)} for i, s in registry.items()])
        return 0
    rows = [("ID", "NAME", "VERSION", "KIND")] + [
        (str(i), s.name, s.version, s.kind) for i, s in registry.items()
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for r in rows:
        print("  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Counts per entity, memory by key family, and the largest manifests."""
    with open_store(args) as store:
        st = ops.store_stats(store, sample=args.sample)
    if args.json:
        print_json(asdict(st))
        return 0
    print("counts")
    for name, n in st.counts.items():
        print(f"  {name:<20}{n:>10}")
    if st.memory is None:
        print("memory: not available (the server has no MEMORY USAGE)")
    else:
        print(f"memory (estimated from MEMORY USAGE on up to {args.sample} keys per family)")
        for fam, n in sorted(st.memory.items(), key=lambda kv: -kv[1]):
            print(f"  {fam:<20}{fmt_bytes(n):>10}")
        print(f"  {'total':<20}{fmt_bytes(sum(st.memory.values())):>10}")
    print("largest manifests (by index records)")
    for d, records, size in st.largest:
        print(f"  {d}  {records:>6} records  {fmt_bytes(size):>10} report")
    return 0


def add_look_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """``list``, ``report``, ``layers`` (each of one manifest) and ``scanners``."""
    p = add_command(
        sub,
        "list",
        cmd_list,
        common,
        help="the manifests, one digest a line (filters: finished, unused, by layer)",
        description="List the namespace's manifests in the order they were first stored,"
        " one digest a line (so that `redis-store list ... | redis-store delete --from -`"
        " works). Filters combine.",
    )
    state = p.add_mutually_exclusive_group()
    state.add_argument(
        "--finished", action="store_true", help="only manifests with a finished index report"
    )
    state.add_argument(
        "--unfinished",
        action="store_true",
        help="only manifests without one (being indexed, failed, or never reported)",
    )
    p.add_argument(
        "--older-than",
        type=duration,
        metavar="AGE",
        help="only manifests not indexed or read for longer than AGE (what expire"
        " --older-than AGE would expire), e.g. 30d",
    )
    p.add_argument("--layer", type=digest, metavar="DIGEST", help="only manifests using this layer")
    p.add_argument("-l", "--long", action="store_true", help="with state, layer count and last use")
    for name, func, help, description in (
        (
            "report",
            cmd_report,
            "one stored report: a summary, or its claircore JSON with --json",
            "Show a manifest's stored report: a summary (state, packages, distributions,"
            " repositories, index records, scanners, size, last use); --json the report in"
            " claircore's JSON, --json --summary the summary as JSON. Reading it is not a use"
            " of the manifest (expire, evict) unless --mark-used. --through reads a report"
            " Redis does not hold through a Clair and keeps it. Exit 1 when there is none.",
        ),
        (
            "layers",
            cmd_layers,
            "a manifest's layers and which scanners scanned each",
            "A manifest's layers in order and, for each, the registered scanners that scanned"
            " it (layer_scanned). Exit 1 for a manifest the store does not know.",
        ),
    ):
        p = add_command(sub, name, func, common, help=help, description=description)
        p.add_argument("digest", type=digest, metavar="DIGEST")
        if name == "report":
            p.add_argument(
                "--summary",
                action="store_true",
                help="with --json: the summary (state, counts, scanners, size, last use) as"
                " JSON, rather than the report in claircore's JSON",
            )
            add_mark_used_option(p)
            p.add_argument(
                "--through",
                metavar="URL",
                help="on a miss, read the report through a Clair (clair+postgresql://... or"
                " https://...; token from $CLAIR_TOKEN) and keep it, as a cache tier does",
            )
    add_command(
        sub,
        "scanners",
        cmd_scanners,
        common,
        help="the scanner registry",
        description="The scanner registry: every scanner (name, version, kind) an indexer"
        " registered in the namespace, by the ID the store gave it.",
    )


def add_stats_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        "stats",
        cmd_stats,
        common,
        help="counts, memory by key family, largest manifests",
        description="Counts per entity, memory by key family (MEMORY USAGE on a sample of"
        " each family's keys, scaled up; not on fakeredis) and the largest manifests by"
        " index records. Reads the whole namespace (SCAN).",
    )
    p.add_argument(
        "--sample",
        type=positive_int,
        default=50,
        metavar="N",
        help="keys per family sampled with MEMORY USAGE (default: 50)",
    )
