"""``import`` and ``export``: moving claircore IndexReports into a store and out of it.

Import reads documents lazily and hands each to the store's ``import_report``, which writes
it whole or not at all (one script call) and tells a conflict from a report already stored;
what is left here is finding the documents (one report, an array, JSON lines), naming
them in messages, Ctrl-C and SIGTERM, the summary and ``--metrics-file``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store import ops
from redis_store.cli import console
from redis_store.cli.connection import open_store
from redis_store.cli.console import note, print_json, stdin_lines, warn
from redis_store.cli.errors import FAILED, CommandError, UsageError
from redis_store.cli.fill import cmd_import_from, finish_import, origin_options
from redis_store.cli.interrupts import finish_first
from redis_store.cli.jobfile import job_metrics
from redis_store.cli.options import (
    Subparsers,
    add_command,
    add_mark_used_option,
    add_metrics_file_option,
    digest,
)
from redis_store.codec.wire import report_from_obj
from redis_store.models import Digest
from redis_store.store import RedisStore
from redis_store.store.importing import ImportOutcome
from redis_store.store.replies import out_of_memory

# -- import ------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did, per report source."""

    imported: list[Digest] = field(default_factory=list)
    skipped: list[Digest] = field(default_factory=list)
    replaced: list[Digest] = field(default_factory=list)
    conflicts: list[tuple[str, Digest]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    aborted: str = ""

    @property
    def handled(self) -> int:
        return (
            len(self.imported)
            + len(self.skipped)
            + len(self.replaced)
            + len(self.conflicts)
            + len(self.failed)
        )

    @property
    def rate(self) -> float:
        return self.handled / self.seconds if self.seconds > 0 else 0.0

    def outcomes(self) -> dict[str, int]:
        """Reports by outcome, as ``--metrics-file`` reports them."""
        return {
            "imported": len(self.imported),
            "unchanged": len(self.skipped),
            "replaced": len(self.replaced),
            "conflict": len(self.conflicts),
            "failed": len(self.failed),
        }

    def summary(self) -> str:
        text = f"imported {len(self.imported)}, skipped {len(self.skipped)} (already indexed)"
        if self.replaced:
            text += f", replaced {len(self.replaced)}"
        if self.conflicts:
            text += (
                f", conflicts {len(self.conflicts)} (stored with other content; --force replaces)"
            )
        text += f", failed {len(self.failed)}"
        if self.handled and self.seconds > 0:
            text += f" in {self.seconds:.2f} s"
            if self.imported:  # a rate of nothing imported says nothing
                text += f" ({len(self.imported) / self.seconds:.1f} imported/s)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": len(self.imported),
            "skipped": len(self.skipped),
            "replaced": len(self.replaced),
            "conflicts": len(self.conflicts),
            "failed": len(self.failed),
            "seconds": round(self.seconds, 3),
            "reports_per_second": round(self.rate, 1),
            "interrupted": self.interrupted,
            "aborted": self.aborted or None,
            "digests": {
                "imported": self.imported,
                "skipped": self.skipped,
                "replaced": self.replaced,
                "conflicts": [d for _, d in self.conflicts],
            },
            "conflicts_at": [{"source": s, "digest": d} for s, d in self.conflicts],
            "failures": [{"source": s, "error": e} for s, e in self.failed],
        }


#: What a source yields: a report document's name (for messages) and its decoded JSON
#: value, or the error that stopped it from being read.
Document = tuple[str, object]
#: Files read as JSON lines whatever their first line holds.
JSON_LINES = (".jsonl", ".ndjson")
#: The files a directory contributes.
REPORT_FILES = (".json", *JSON_LINES)


def documents(name: str, lines: Iterable[bytes], *, lines_only: bool = False) -> Iterator[Document]:
    """The reports in one source, read lazily: one JSON document (an IndexReport, or an
    array of them), or JSON lines (one report, or an array, a line). A source whose first
    line is a whole JSON value is JSON lines (``lines_only``: always); otherwise it is read
    whole, as one document."""
    it = iter(lines)
    read: list[bytes] = []
    n = 0
    for line in it:
        n += 1
        read.append(line)
        if line.strip():
            break
    else:
        yield name, ValueError("no reports in it (empty)")
        return
    try:
        first: object = orjson.loads(read[-1])
    except orjson.JSONDecodeError as e:
        if not lines_only:  # one document over many lines
            try:
                doc = orjson.loads(b"".join(read) + b"".join(it))
            except orjson.JSONDecodeError as whole:
                yield name, ValueError(f"index report: not JSON: {whole}")
                return
            yield from _items(name, doc)
            return
        first = ValueError(f"line {n}: not JSON: {e}")
    # JSON lines, each named by its line, unless the source is that one line
    held: Document | None = (f"{name}:{n}", first)
    for line in it:
        n += 1
        if not line.strip():
            continue
        if held is not None:
            yield from _items(*held)
            held = None
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            yield f"{name}:{n}", ValueError(f"line {n}: not JSON: {e}")
            continue
        yield from _items(f"{name}:{n}", value)
    if held is not None:
        yield from _items(name, held[1])


def _items(name: str, value: object) -> Iterator[Document]:
    """A decoded value's reports: an array's items, named by index, or the value itself."""
    if isinstance(value, list):
        if not value:
            yield name, ValueError("an empty JSON array: no reports in it")
        for i, item in enumerate(value):
            yield f"{name}[{i}]", item
    else:
        yield name, value


@dataclass
class Sources:
    """What an import reads: the documents, how many files, and what directories held
    besides reports."""

    documents: Iterator[Document]
    files: int
    #: The progress bar's total: a report per file, a line per JSON lines file (None with
    #: stdin among the sources).
    total: int | None
    skipped: list[str] = field(default_factory=list)


def import_sources(paths: Sequence[str]) -> Sources:
    """Every report document to import, named for messages, read lazily one at a time.

    A directory contributes its ``*.json``, ``*.jsonl`` and ``*.ndjson`` files (sorted; the
    rest is listed in ``skipped``); ``-`` contributes stdin. Every path is checked first:
    one that does not exist, or a directory with no report files, is a usage error.
    """
    plan: list[str | Path] = []
    skipped: list[str] = []
    for p in paths:
        path = Path(p)
        if p == "-":
            plan.append(p)
        elif path.is_dir():
            entries = sorted(path.iterdir())
            files = [f for f in entries if f.is_file() and f.suffix in REPORT_FILES]
            skipped += [f"{f.name}/" if f.is_dir() else f.name for f in entries if f not in files]
            if not files:
                raise UsageError(f"{p}: no report files in it (*.json, *.jsonl, *.ndjson)")
            plan += files
        elif not path.exists():
            raise UsageError(f"{p}: no such file or directory")
        else:
            plan.append(path)

    def items() -> Iterator[Document]:
        for p in plan:
            if p == "-":
                yield from documents("<stdin>", stdin_lines())
                continue
            try:
                with open(p, "rb") as f:
                    yield from documents(str(p), f, lines_only=str(p).endswith(JSON_LINES))
            except OSError as e:
                yield str(p), ValueError(e.strerror or str(e))

    return Sources(items(), len(plan), _total(plan), skipped)


def _total(plan: Sequence[str | Path]) -> int | None:
    """How many reports the sources hold, as far as it is known before reading them."""
    total = 0
    for p in plan:
        if p == "-":
            return None
        if not str(p).endswith(JSON_LINES):
            total += 1
            continue
        try:
            with open(p, "rb") as f:
                total += sum(1 for line in f if line.strip())
        except OSError:
            total += 1  # reported when it is read
    return total


def cmd_import(args: argparse.Namespace) -> int:
    """Load Clair IndexReports into the store, as claircore's controller would write them."""
    if args.origin is not None:
        if args.sources:
            raise UsageError("give report files or --from, not both")
        return cmd_import_from(args)
    if args.digests is not None or args.jobs != 1:
        raise UsageError("--digests and --jobs go with --from")
    if not args.sources:
        raise UsageError("give report files (or - for stdin), or --from URL")
    sources = import_sources(args.sources)
    if sources.skipped:
        shown = ", ".join(sources.skipped[:5]) + (", ..." if len(sources.skipped) > 5 else "")
        n = len(sources.skipped)
        what = (
            "entry that is not a *.json, *.jsonl or *.ndjson file"
            if n == 1
            else "entries that are not *.json, *.jsonl or *.ndjson files"
        )
        note("import", f"skipped {n} {what}: {shown}")
    total = sources.total
    result = ImportResult()
    progress = console.progress()
    start = time.perf_counter()
    with job_metrics(args, "import") as job, open_store(args) as store:
        try:
            for name, doc in sources.documents:
                if "[" in name:
                    total = None  # an array: more reports than files
                try:
                    if isinstance(doc, Exception):
                        raise doc
                    report = report_from_obj(doc)
                    with finish_first("import"):
                        try:
                            outcome = store.import_report(
                                report, force=args.force, lock_timeout=args.lock_timeout
                            )
                        except KeyboardInterrupt:  # abandoned: written whole, or not at all
                            if _stored(store, report.hash):
                                result.imported.append(Digest(report.hash))
                            raise
                        _count(result, outcome, name, Digest(report.hash))
                except (RedisConnectionError, RedisTimeoutError):
                    raise
                except ResponseError as e:
                    if out_of_memory(e):
                        raise
                    msg = f"{type(e).__name__}: {e}"
                    result.failed.append((name, msg))
                    progress.clear()
                    warn("import", f"{name}: {msg}")
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
        except ResponseError:  # out of memory: every later write would be refused too
            result.aborted = (
                "Redis is out of memory (maxmemory): it refused a write; nothing more was"
                " imported (redis-store evict frees room)"
            )
        finally:
            progress.clear()
            job.completed = not (result.interrupted or result.aborted)
            if job.file is not None:
                job.file.imports(result.outcomes())
    result.seconds = time.perf_counter() - start
    return finish_import(
        result.as_dict(),
        result.summary(),
        as_json=args.json,
        interrupted=result.interrupted,
        aborted=result.aborted,
        failed=bool(result.failed or result.conflicts),
    )


def _stored(store: RedisStore, d: object) -> bool:
    """Whether an import cut short (the second Ctrl-C) was written after all: the summary
    counts what the store holds."""
    try:
        return bool(ops.reports_exist(store, [Digest(str(d))])[0])
    except Exception:
        return False


def _count(result: ImportResult, outcome: ImportOutcome, name: str, d: Digest) -> None:
    Outcome = ImportOutcome
    if outcome is Outcome.IMPORTED:
        result.imported.append(d)
    elif outcome is Outcome.UNCHANGED:
        result.skipped.append(d)
    elif outcome is Outcome.REPLACED:
        result.replaced.append(d)
        note("import", f"{name}: replaced the stored report of {d} (--force)")
    else:
        result.conflicts.append((name, d))
        warn(
            "import",
            f"{name}: conflict: {d} is stored with different content; not replaced"
            " (--force replaces it)",
        )


def add_import_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        "import",
        cmd_import,
        common,
        help="load Clair IndexReport JSON (files, directories, or stdin)",
        description="Replay finished Clair IndexReports through the store in claircore's"
        " controller call order (the store assigns its own IDs), each under its manifest"
        " lock. A source holds one report, a JSON array of reports, or JSON lines. A report"
        " already stored with the same content is skipped; one stored with other content is"
        " a conflict, left alone unless --force (exit 1). Invalid documents are reported by"
        " name and skipped, and nothing is written for them. With --from, the reports come"
        " from a Clair: its database (clair+postgresql://...), every finished report it"
        " holds, or its indexer API (https://...), the digests named by --digests; reports"
        " already stored are skipped, so an interrupted fill is resumed by running it again.",
    )
    p.add_argument(
        "sources",
        nargs="*",
        metavar="FILE|DIR|-",
        help="a report file (one report, a JSON array, or JSON lines), a directory of"
        " *.json / *.jsonl / *.ndjson files, or - for stdin",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace reports already stored (conflicting or not): delete, then import",
    )
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for a manifest an indexer holds locked (default: 10)",
    )
    origin_options(p)
    add_metrics_file_option(p)


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
    progress = console.progress()
    written: list[str] = []
    missing: list[Digest] = []
    with open_store(args) as store:
        digests = [d for _, d in ops.manifests(store)] if args.all else args.digests
        wanted = list(dict.fromkeys(digests))
        # reading is not a use of the manifest (a nightly backup must not keep everything
        # from expire), unless --mark-used: then through index_report_json, which records it
        found = (
            ((d, store.index_report_json(d)) for d in wanted)
            if args.mark_used
            else ops.stored_reports(store, wanted)
        )
        try:
            for i, (d, data) in enumerate(found, 1):
                if data is None:
                    missing.append(d)
                    progress.clear()
                    warn("export", f"no report for {d}")
                    continue
                if out_dir is None:
                    sys.stdout.write(data.decode() + "\n")
                else:
                    path = out_dir / export_name(d)
                    _write_atomically(path, data + b"\n")
                    written.append(str(path))
                progress.update("exporting", i, len(wanted))
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
    add_mark_used_option(p)
