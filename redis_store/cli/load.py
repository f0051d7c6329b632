"""``import`` and ``export``: moving claircore IndexReports into a store and out of it.

Import reads documents lazily and hands each to :func:`redis_store.replay.import_report`,
which writes it whole or not at all; what is left here is finding the documents, naming
them in messages, Ctrl-C and the summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store import ops, replay
from redis_store.cli.connection import open_store
from redis_store.cli.console import print_json, stdin_lines, warn
from redis_store.cli.errors import FAILED, INTERRUPTED, CommandError, UsageError
from redis_store.cli.interrupts import finish_first
from redis_store.cli.options import Subparsers, add_command, digest
from redis_store.cli.progress import Progress
from redis_store.models import Digest, IndexReport

# -- import ------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did, per report source."""

    imported: list[Digest] = field(default_factory=list)
    skipped: list[Digest] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    aborted: str = ""

    @property
    def handled(self) -> int:
        return len(self.imported) + len(self.skipped) + len(self.failed)

    @property
    def rate(self) -> float:
        return self.handled / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": len(self.imported),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "seconds": round(self.seconds, 3),
            "reports_per_second": round(self.rate, 1),
            "interrupted": self.interrupted,
            "aborted": self.aborted or None,
            "digests": {"imported": self.imported, "skipped": self.skipped},
            "failures": [{"source": s, "error": e} for s, e in self.failed],
        }


Source = tuple[str, bytes | OSError]
#: Files read as JSON lines (one report a line) rather than as one report.
JSON_LINES = (".jsonl", ".ndjson")


def import_sources(paths: Sequence[str]) -> tuple[Iterator[Source], int | None]:
    """Every report document to import, named for messages, and how many (None: unknown).

    A directory contributes its ``*.json`` files (sorted); ``-`` contributes stdin's JSON
    lines, and a ``*.jsonl`` / ``*.ndjson`` file its lines. Read lazily, one at a time.
    """
    plan: list[str | Path] = []
    for p in paths:
        path = Path(p)
        if p != "-" and path.is_dir():
            plan += sorted(f for f in path.glob("*.json") if f.is_file())
        else:
            plan.append(p)

    def lines(source: Iterable[bytes], name: str) -> Iterator[Source]:
        for n, line in enumerate(source, 1):
            if line.strip():
                yield f"{name}:{n}", line

    def items() -> Iterator[Source]:
        for p in plan:
            if p == "-":
                yield from lines(stdin_lines(), "<stdin>")
                continue
            try:
                if str(p).endswith(JSON_LINES):
                    with open(p, "rb") as f:
                        yield from lines(f, str(p))
                else:
                    yield str(p), Path(p).read_bytes()
            except OSError as e:
                yield str(p), e

    counted = all(p != "-" and not str(p).endswith(JSON_LINES) for p in plan)
    return items(), len(plan) if counted else None


def cmd_import(args: argparse.Namespace) -> int:
    """Load Clair IndexReports into the store, as claircore's controller would write them."""
    sources, total = import_sources(args.sources)
    result = ImportResult()
    progress = Progress(sys.stderr)
    start = time.perf_counter()
    with open_store(args) as store:
        try:
            for name, data in sources:
                try:
                    if isinstance(data, OSError):
                        raise ValueError(data.strerror or str(data))
                    report = IndexReport.from_json(data)
                    with finish_first():
                        done = replay.import_report(
                            store, report, force=args.force, lock_timeout=args.lock_timeout
                        )
                        (result.imported if done else result.skipped).append(Digest(report.hash))
                except (RedisConnectionError, RedisTimeoutError):
                    raise
                except Exception as e:  # a bad document, or a replay that failed and undid itself
                    msg = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
                    result.failed.append((name, msg))
                    progress.clear()
                    warn("import", f"{name}: {msg}")
                progress.update("importing", result.handled, total)
        except KeyboardInterrupt:
            result.interrupted = True
        except (RedisConnectionError, RedisTimeoutError) as e:
            result.aborted = f"cannot reach Redis: {e}"
        finally:
            progress.clear()
    result.seconds = time.perf_counter() - start
    if args.json:
        print_json(result.as_dict())
    else:
        print(
            f"imported {len(result.imported)}, skipped {len(result.skipped)} (already indexed),"
            f" failed {len(result.failed)} in {result.seconds:.2f} s ({result.rate:.1f} reports/s)"
        )
    if result.interrupted:
        warn("import", "interrupted; every report is either imported whole or not at all")
        return INTERRUPTED
    if result.aborted:
        warn("import", result.aborted)
        return FAILED
    return FAILED if result.failed else 0


def add_import_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        "import",
        cmd_import,
        common,
        help="load Clair IndexReport JSON (files, directories, or JSON lines on stdin)",
        description="Replay finished Clair IndexReports through the store in claircore's"
        " controller call order (the store assigns its own IDs), each under its manifest"
        " lock. Reports already indexed are skipped unless --force; invalid documents are"
        " reported by name and skipped, and nothing is written for them.",
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="FILE|DIR|-",
        help="a report JSON file, a directory of *.json reports, a *.jsonl file of JSON"
        " lines, or - for JSON lines on stdin",
    )
    p.add_argument(
        "--force", action="store_true", help="delete and re-import reports already indexed"
    )
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for a manifest an indexer holds locked (default: 10)",
    )


# -- export ------------------------------------------------------------------------------------


def export_name(d: Digest) -> str:
    """``sha256-<hex>.json``: no ':' so the name works on every filesystem."""
    return d.replace(":", "-", 1) + ".json"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write then rename, so an interrupted export never leaves half a report."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def cmd_export(args: argparse.Namespace) -> int:
    """Write stored reports as claircore JSON: stdout (JSON lines) or one file each."""
    if bool(args.digests) == args.all:
        raise UsageError("give either DIGEST... or --all")
    out_dir: Path | None = args.out
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CommandError(f"cannot create {out_dir}: {e.strerror}") from None
    progress = Progress(sys.stderr)
    written: list[str] = []
    missing: list[Digest] = []
    with open_store(args) as store:
        digests = [d for _, d in ops.manifests(store)] if args.all else args.digests
        try:
            for i, d in enumerate(dict.fromkeys(digests), 1):
                report = store.index_report(d)
                if report is None:
                    missing.append(d)
                    progress.clear()
                    warn("export", f"no report for {d}")
                    continue
                data = report.to_json()
                if out_dir is None:
                    sys.stdout.write(data.decode() + "\n")
                else:
                    path = out_dir / export_name(d)
                    _write_atomically(path, data + b"\n")
                    written.append(str(path))
                progress.update("exporting", i, len(digests))
        finally:
            progress.clear()
    if out_dir is not None:
        if args.json:
            print_json({"written": written, "missing": missing})
        else:
            print(f"wrote {len(written)} reports to {out_dir}")
    return FAILED if missing else 0


def add_export_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        "export",
        cmd_export,
        common,
        help="write stored reports as claircore JSON",
        description="Write stored IndexReports in claircore's JSON: to stdout (one per line)"
        " or, with --out, one file per manifest (sha256-<hex>.json), which import reads back."
        " --json only changes the summary printed with --out.",
    )
    p.add_argument("digests", nargs="*", type=digest, metavar="DIGEST")
    p.add_argument("--all", action="store_true", help="every manifest in the namespace")
    p.add_argument("--out", type=Path, metavar="DIR", help="write one file per manifest here")
