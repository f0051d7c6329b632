"""The ``redis-store`` command line.

One subcommand per task, each a small ``cmd_*`` function taking the parsed arguments and
returning the exit status, so new commands slot in beside ``demo`` without touching the
others. ``main`` returns the status instead of exiting, so tests can call it in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TextIO
from urllib.parse import urlsplit, urlunsplit

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store import ops, replay
from redis_store.demo import workload
from redis_store.errors import DigestError, StoreError
from redis_store.keys import KeyLayout
from redis_store.models import Digest, IndexReport, VersionedScanner, Vulnerability
from redis_store.ops.nodes import used_memory
from redis_store.store import RedisStore, validate

#: Exit status of a command that ran but failed, or found something (fsck).
FAILED = 1
#: Exit status of a usage error (argparse's own).
USAGE = 2
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130
#: Where the ops commands look for Redis without --url or $REDIS_URL.
DEFAULT_URL = "redis://localhost:6379/0"


class CommandError(Exception):
    """A command failed in a way worth one clear line on stderr, not a traceback."""


class UsageError(CommandError):
    """Bad arguments found after parsing (a bad digest in a list): exit 2, nothing done."""


# -- shared helpers ----------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _namespace(text: str) -> str:
    """A namespace the store accepts (its own rule), so a bad one is a usage error."""
    try:
        KeyLayout(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _redact(url: str) -> str:
    """The URL without its password, fit for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def open_store(url: str | None, namespace: str) -> tuple[RedisStore, str]:
    """A store on ``url``, or on a private in-process fakeredis; also a label to print."""
    if url is not None:
        try:
            return RedisStore.from_url(url, namespace=namespace), _redact(url)
        except ValueError as e:  # redis-py's verdict on a malformed URL
            raise CommandError(f"bad --url {_redact(url)!r}: {e}") from None
    try:
        import fakeredis
        import lupa  # noqa: F401 - fakeredis runs the store's Lua scripts with it
    except ImportError:
        raise CommandError(
            "the in-process store needs fakeredis with Lua support: "
            "pip install 'redis-store[fake]', or pass --url redis://HOST:PORT/DB"
        ) from None
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return RedisStore(client, namespace=namespace), "fakeredis (in-process)"


class Progress:
    """A self-rewriting progress bar on one line, shown only when the stream is a terminal.

    Output piped to a file or another program stays clean, and redrawing at most every
    ``interval`` seconds keeps the bar's cost negligible next to the work it reports.
    """

    WIDTH = 24

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.interval = interval
        self._last = 0.0
        self._started: dict[str, float] = {}

    def update(self, what: str, done: int, total: int | None = None) -> None:
        """Show ``done`` of ``total`` (a bar), or a bare count when the total is unknown."""
        if not self.enabled:
            return
        now = time.monotonic()
        start = self._started.setdefault(what, now)
        if (total is None or done < total) and now - self._last < self.interval:
            return
        self._last = now
        rate = f"  {done / (now - start):.0f}/s" if now - start > 0.5 else ""
        if total:
            filled = min(self.WIDTH, self.WIDTH * done // total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            line = f"{what} [{bar}] {done}/{total}{rate}"
        else:
            line = f"{what} {done}{rate}"
        self.stream.write(f"\r\x1b[K{line}")
        self.stream.flush()

    def callback(self, what: str) -> Callable[[int, int], None]:
        """An ``ops`` progress callback (done, total) drawing this bar."""
        return lambda done, total: self.update(what, done, total)

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# -- demo --------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds spent on one step and how many items it handled."""

    seconds: float = 0.0
    count: int = 0
    unit: str = "manifest"

    def as_dict(self) -> dict[str, Any]:
        per = self.seconds / self.count if self.count else 0.0
        return {
            "seconds": round(self.seconds, 6),
            "count": self.count,
            "unit": self.unit,
            f"ms_per_{self.unit}": round(per * 1000, 4),
        }


@dataclass
class DemoResult:
    """Everything the demo measured, printed as text or JSON."""

    backend: str
    namespace: str
    seed: int
    stored: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Timing] = field(default_factory=dict)
    states: dict[str, Timing] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "namespace": self.namespace,
            "seed": self.seed,
            "stored": self.stored,
            "timings": {k: v.as_dict() for k, v in self.timings.items()},
            "controller_states": {k: v.as_dict() for k, v in self.states.items()},
        }


@contextmanager
def _timed(
    timings: dict[str, Timing], step: str, count: int, unit: str = "manifest"
) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[step] = Timing(time.perf_counter() - start, count, unit)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise CommandError(f"demo check failed: {message}")


def _namespace_keys(client: Any, namespace: str) -> int | None:
    """How many keys the namespace holds (every store key starts with ``namespace:``)."""
    if client is None:
        return None
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in namespace) + ":*"
    return sum(1 for _ in client.scan_iter(match=pattern, count=1000))


def _used_memory(client: Any) -> int | None:
    """The whole server's ``used_memory``, summed over the primaries of a cluster (other
    namespaces included)."""
    if client is None:
        return None
    return sum(used_memory(client).values())


def run_demo(
    store: RedisStore,
    reports: Sequence[IndexReport],
    seed: int,
    progress: Progress,
    result: DemoResult,
    *,
    real: bool = False,
) -> None:
    """Index, read back, look up and partly delete ``reports``, checking every answer.

    Fills ``result`` as it goes; raises :class:`CommandError` when the store answers
    something the reports say it must not.
    """
    n = len(reports)
    t = result.timings
    digests = [r.hash for r in reports if r.hash is not None]
    _check(len(digests) == n, "a generated report has no manifest digest")
    plans = [replay.plan(r) for r in reports]

    # A rerun against the same Redis starts from scratch, using the public API only.
    with _timed(t, "clear earlier run", n):
        cleared = store.delete_manifests(*digests)
    result.stored["cleared_from_earlier_run"] = len(cleared)

    def on_step(state: str, seconds: float) -> None:
        s = result.states.setdefault(state, Timing())
        s.seconds += seconds
        s.count += 1

    indexed: list[IndexReport] = []
    with _timed(t, "index (replay)", n):
        for i, r in enumerate(reports, 1):
            indexed.append(replay.replay(store, r, on_step=on_step))
            progress.update("indexing", i, n)
    progress.clear()

    with _timed(t, "index_report", n):
        stored = [store.index_report(d) for d in digests]
    for d, orig, want, got in zip(digests, reports, indexed, stored, strict=True):
        _check(
            len(want.packages or {}) == len(orig.packages or {}),
            f"{d}: the store coalesced a different number of packages",
        )
        _check(got is not None, f"index_report({d}) found nothing")
        assert got is not None
        _check(got.state == "IndexFinished" and got.success, f"{d} is not finished")
        _check(got.to_json() == want.to_json(), f"{d}: stored report differs from the indexed one")

    with _timed(t, "manifest_scanned", n):
        scanned = [
            store.manifest_scanned(d, p.scanners) for d, p in zip(digests, plans, strict=True)
        ]
    _check(all(scanned), "a manifest is not scanned after indexing")

    layers = sorted({layer.hash for p in plans for layer in p.manifest.layers})
    pkg_scanners = list({s: None for p in plans for s in p.scanners if s.kind == "package"})
    with _timed(t, "packages_by_layer", len(layers), "layer"):
        artifacts = 0
        for i, layer in enumerate(layers, 1):
            artifacts += len(store.packages_by_layer(layer, pkg_scanners))
            progress.update("packages_by_layer", i, len(layers))
    progress.clear()
    expected = {
        (layer, s, pkg.name, pkg.version, str(pkg.kind), pkg.module, pkg.arch, pkg.package_db)
        for p in plans
        for layer, f in p.layers.items()
        for s, pkgs in f.packages.items()
        for pkg in pkgs
    }
    _check(
        artifacts == len(expected),
        f"{artifacts} package artifacts stored, expected {len(expected)}",
    )

    doomed = sorted(random.Random(f"demo delete {seed}").sample(range(n), n // 10))
    gone = [digests[i] for i in doomed]
    with _timed(t, "delete_manifests (10%)", len(gone)):
        deleted = store.delete_manifests(*gone)
    _check(deleted == gone, f"deleted {len(deleted)} of {len(gone)} manifests")
    _check(all(store.index_report(d) is None for d in gone), "a deleted report is still there")
    keep = set(range(n)) - set(doomed)
    survivors = [store.index_report(digests[i]) for i in sorted(keep)]
    _check(
        all(
            s is not None and s.to_json() == indexed[i].to_json()
            for i, s in zip(sorted(keep), survivors, strict=True)
        ),
        "deleting manifests changed another manifest's report",
    )

    stats = workload.describe(reports)
    result.stored.update(
        manifests=n,
        deleted=len(deleted),
        remaining=n - len(deleted),
        distinct_layers=stats.layers,
        shared_layers=stats.shared_layers,
        packages_in_reports=stats.packages,
        distinct_packages=stats.distinct_packages,
        index_records=stats.index_records,
        package_artifacts=artifacts,
        distributions=stats.distributions,
        repositories=stats.repositories,
        scanners=len({s for p in plans for s in p.scanners}),
    )
    client = getattr(store, "client", None)
    result.stored["redis_keys_after_delete"] = _namespace_keys(client, result.namespace)
    result.stored["server_used_memory"] = _used_memory(client) if real else None


def _fmt_seconds(s: float) -> str:
    return f"{s:8.3f} s" if s >= 0.1 else f"{s * 1000:8.2f} ms"


def format_demo(result: DemoResult, manifests: int) -> str:
    """The human-readable report of a demo run."""
    st = result.stored
    lines = [
        f"redis-store demo: {manifests} manifests (seed {result.seed}) into {result.backend},"
        f" namespace {result.namespace!r}",
        "",
        "stored",
        f"  manifests            {st['manifests']:>8}   ({st['deleted']} deleted,"
        f" {st['remaining']} remain)",
        f"  distinct layers      {st['distinct_layers']:>8}   ({st['shared_layers']} shared by"
        " several manifests)",
        f"  packages in reports  {st['packages_in_reports']:>8}   ({st['distinct_packages']}"
        " distinct)",
        f"  package artifacts    {st['package_artifacts']:>8}   (packages_by_layer, all layers)",
        f"  index records        {st['index_records']:>8}",
        f"  distributions        {st['distributions']:>8}",
        f"  repositories         {st['repositories']:>8}",
        f"  scanners             {st['scanners']:>8}",
    ]
    if st.get("redis_keys_after_delete") is not None:
        lines.append(
            f"  redis keys           {st['redis_keys_after_delete']:>8}   (in the"
            " namespace, after the deletes)"
        )
    if st.get("server_used_memory") is not None:
        lines.append(
            f"  server used_memory   {st['server_used_memory'] / 2**20:>8.1f}   MiB"
            " (the whole server)"
        )
    if st.get("cleared_from_earlier_run"):
        lines.append(
            f"  (first removed {st['cleared_from_earlier_run']} manifests left by an earlier run)"
        )
    lines += ["", f"{'timings':<26}{'total':>10} {'each':>10}"]
    for name, tm in result.timings.items():
        per = tm.seconds / tm.count if tm.count else 0.0
        lines.append(f"  {name:<24}{_fmt_seconds(tm.seconds)} {_fmt_seconds(per)} /{tm.unit}")
    if result.states:
        lines.append("  controller states (replay's on_step times, summed over manifests)")
        for name, tm in result.states.items():
            per = tm.seconds / tm.count if tm.count else 0.0
            lines.append(f"    {name:<22}{_fmt_seconds(tm.seconds)} {_fmt_seconds(per)} /manifest")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    """Index a generated registry into a store and show what it holds and what it cost."""
    store, label = open_store(args.url, args.namespace)
    result = DemoResult(backend=label, namespace=args.namespace, seed=args.seed)
    progress = Progress(sys.stderr)
    with store:
        with _timed(result.timings, "generate", args.manifests):
            reports = list(workload.generate(args.manifests, args.seed))
        try:
            run_demo(store, reports, args.seed, progress, result, real=args.url is not None)
        finally:
            progress.clear()
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(format_demo(result, args.manifests))
    return 0


def add_demo_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="index a generated registry and report sizes and timings",
        description="Generate a realistic registry of claircore IndexReports, index it in"
        " claircore's controller call order, read it back, delete 10%% of it, and print what"
        " was stored and how long each step took.",
    )
    p.add_argument(
        "--manifests",
        type=_positive_int,
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
    p.add_argument(
        "--url",
        default=None,
        help="a real Redis (redis://, rediss://, unix://); default: in-process fakeredis",
    )
    p.add_argument(
        "--namespace",
        type=_namespace,
        default="demo",
        metavar="NS",
        help="key namespace in Redis (default: demo)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_demo)


# -- shared by the ops commands ----------------------------------------------------------------


def connect(url: str, namespace: str) -> RedisStore:
    """The store an ops command works on.

    A module-level function so that tests can replace it and hand commands a store on an
    in-process fakeredis, which no URL can reach.
    """
    try:
        return RedisStore.from_url(url, namespace=namespace)
    except ValueError as e:  # redis-py's verdict on a malformed URL
        raise CommandError(f"bad --url {_redact(url)!r}: {e}") from None


def _open(args: argparse.Namespace) -> RedisStore:
    """The store named by --url / $REDIS_URL / the default, in --namespace."""
    url = args.url or os.environ.get("REDIS_URL") or DEFAULT_URL
    return connect(url, args.namespace)


def _digest_arg(text: str) -> Digest:
    """A digest argument; a bad one is a usage error naming the value."""
    try:
        return Digest(text)
    except DigestError as e:
        raise argparse.ArgumentTypeError(f"bad digest {text!r}: {e}") from None


class Duration(NamedTuple):
    text: str
    seconds: float


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration(text: str) -> Duration:
    """``30d``, ``12h``, ``90m``: a number and one of the units s, m, h, d, w."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw])", text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (a number and a unit s, m, h, d or w, e.g. 30d)"
        )
    return Duration(text.strip(), float(m[1]) * _UNITS[m[2]])


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _warn(command: str, message: str) -> None:
    print(f"redis-store {command}: {message}", file=sys.stderr)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _fmt_time(ts: float | None) -> str:
    if ts is None:
        return "never recorded"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _scanner_text(s: VersionedScanner) -> str:
    return f"{s.name} {s.version} ({s.kind})"


def _stdin_lines() -> Iterator[bytes]:
    """stdin as bytes lines (a test may swap in a text stream without ``.buffer``)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is not None:
        yield from stream
    else:
        for line in sys.stdin:
            yield line.encode()


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C while undoing a half-done step, so that the undo itself completes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def _finish_first() -> Iterator[None]:
    """Hold a Ctrl-C until the block (one report, one delete call) is done, then raise it.

    The block's store state is then whole rather than undone; a second Ctrl-C does not wait.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = False

    def hold(signum: int, frame: object) -> None:
        nonlocal pending
        if pending:
            raise KeyboardInterrupt
        pending = True
        print("\nstopping after the current step (Ctrl-C again: abandon it)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        if pending:  # even if the block failed: the operator asked to stop
            raise KeyboardInterrupt


def _exists(store: RedisStore, digests: Sequence[Digest]) -> list[bool]:
    """Whether each manifest exists (its hash does), pipelined."""
    pipe = store.client.pipeline(transaction=False)
    for d in digests:
        pipe.exists(store.keys.manifest(d))
    return [bool(x) for x in pipe.execute()] if digests else []


def _locked(store: RedisStore, digests: Sequence[Digest]) -> list[bool]:
    """Whether each manifest's index lock is held (by anyone)."""
    pipe = store.client.pipeline(transaction=False)
    for d in digests:
        pipe.exists(store.keys.lock(d))
    return [bool(x) for x in pipe.execute()] if digests else []


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


def _import_sources(paths: Sequence[str]) -> tuple[Iterator[Source], int | None]:
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
                yield from lines(_stdin_lines(), "<stdin>")
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


def _decode_report(data: bytes) -> IndexReport:
    """The whole document decoded and checked before anything is written for it."""
    report = IndexReport.from_json(data)
    if report.hash is None:
        raise ValueError("the report has no manifest_hash")
    if not report.success:
        raise ValueError(
            f"not a finished index report (state {report.state!r}, success false"
            + (f", err {report.err!r})" if report.err else ")")
        )
    validate.report(report)  # what the store would refuse, refused before the first write
    for pid, pkg in (report.packages or {}).items():
        if not pkg.name:  # claircore's index_packages drops it, so replay could not finish
            raise ValueError(f"packages[{pid!r}]: a package without a name")
    return report


def _import_one(
    store: RedisStore, report: IndexReport, *, force: bool, lock_timeout: float
) -> bool:
    """Index one report under its manifest lock; False when it was already indexed.

    A replay that fails or is interrupted part-way deletes what it wrote (still holding the
    lock), so a report is imported whole or not at all.
    """
    d = Digest(report.hash)
    with store.manifest_lock(d, timeout=lock_timeout):
        stored = store.index_report(d)
        if stored is not None and stored.state == "IndexFinished" and not force:
            return False
        if force:
            store.delete_manifests(d)  # we hold the lock, so our own delete goes through
        try:
            replay.replay(store, report)
        except BaseException:
            with _no_interrupts():
                store.delete_manifests(d)
            raise
    return True


def cmd_import(args: argparse.Namespace) -> int:
    """Load Clair IndexReports into the store, as claircore's controller would write them."""
    sources, total = _import_sources(args.sources)
    result = ImportResult()
    progress = Progress(sys.stderr)
    start = time.perf_counter()
    with _open(args) as store:
        try:
            for name, data in sources:
                try:
                    if isinstance(data, OSError):
                        raise ValueError(data.strerror or str(data))
                    report = _decode_report(data)
                    d = Digest(report.hash)
                    with _finish_first():
                        done = _import_one(
                            store, report, force=args.force, lock_timeout=args.lock_timeout
                        )
                        (result.imported if done else result.skipped).append(d)
                except (RedisConnectionError, RedisTimeoutError):
                    raise
                except Exception as e:  # a bad document, or a replay that failed and undid itself
                    msg = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
                    result.failed.append((name, msg))
                    progress.clear()
                    _warn("import", f"{name}: {msg}")
                progress.update("importing", result.handled, total)
        except KeyboardInterrupt:
            result.interrupted = True
        except (RedisConnectionError, RedisTimeoutError) as e:
            result.aborted = f"cannot reach Redis: {e}"
        finally:
            progress.clear()
    result.seconds = time.perf_counter() - start
    if args.json:
        _print_json(result.as_dict())
    else:
        print(
            f"imported {len(result.imported)}, skipped {len(result.skipped)} (already indexed),"
            f" failed {len(result.failed)} in {result.seconds:.2f} s ({result.rate:.1f} reports/s)"
        )
    if result.interrupted:
        _warn("import", "interrupted; every report is either imported whole or not at all")
        return INTERRUPTED
    if result.aborted:
        _warn("import", result.aborted)
        return FAILED
    return FAILED if result.failed else 0


def add_import_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "import",
        parents=[common],
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
    p.set_defaults(func=cmd_import)


# -- export ------------------------------------------------------------------------------------


def _export_name(d: Digest) -> str:
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
    with _open(args) as store:
        digests = [d for _, d in ops.manifests(store)] if args.all else args.digests
        try:
            for i, d in enumerate(dict.fromkeys(digests), 1):
                report = store.index_report(d)
                if report is None:
                    missing.append(d)
                    progress.clear()
                    _warn("export", f"no report for {d}")
                    continue
                data = report.to_json()
                if out_dir is None:
                    sys.stdout.write(data.decode() + "\n")
                else:
                    path = out_dir / _export_name(d)
                    _write_atomically(path, data + b"\n")
                    written.append(str(path))
                progress.update("exporting", i, len(digests))
        finally:
            progress.clear()
    if out_dir is not None:
        if args.json:
            _print_json({"written": written, "missing": missing})
        else:
            print(f"wrote {len(written)} reports to {out_dir}")
    return FAILED if missing else 0


def add_export_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "export",
        parents=[common],
        help="write stored reports as claircore JSON",
        description="Write stored IndexReports in claircore's JSON: to stdout (one per line)"
        " or, with --out, one file per manifest (sha256-<hex>.json), which import reads back."
        " --json only changes the summary printed with --out.",
    )
    p.add_argument("digests", nargs="*", type=_digest_arg, metavar="DIGEST")
    p.add_argument("--all", action="store_true", help="every manifest in the namespace")
    p.add_argument("--out", type=Path, metavar="DIR", help="write one file per manifest here")
    p.set_defaults(func=cmd_export)


# -- report, layers, scanners ------------------------------------------------------------------


def _report_summary(report: IndexReport, info: ops.ManifestInfo | None) -> str:
    pkgs = list((report.packages or {}).values())
    sources = {(p.source.name, p.source.version) for p in pkgs if p.source and p.source.name}
    dists = [
        d.pretty_name or f"{d.name} {d.version}".strip()
        for d in (report.distributions or {}).values()
    ]
    repos = [r.name or r.uri for r in (report.repositories or {}).values()]
    state = f"{report.state or '(none)'} ({'success' if report.success else 'failed'})"
    rows = [
        ("manifest", str(report.hash)),
        ("state", state + (f": {report.err}" if report.err else "")),
        ("packages", f"{len(pkgs)} (from {len(sources)} source packages)"),
        ("distributions", ", ".join(dists) or "(none)"),
        ("repositories", ", ".join(repos) or "(none)"),
        ("index records", str(len(report.index_records()))),
    ]
    if info is not None:
        rows.insert(2, ("layers", str(len(info.layers))))
        rows[-1] = ("index records", f"{rows[-1][1]} ({info.records} stored, with source packages)")
        rows += [
            ("scanners", ", ".join(_scanner_text(s) for s in info.scanners) or "(none)"),
            ("stored", f"{_fmt_bytes(info.report_bytes)} (compressed report)"),
            ("last used", _fmt_time(info.last_used)),
        ]
    return "\n".join(f"{k:<15}{v}" for k, v in rows)


def cmd_report(args: argparse.Namespace) -> int:
    """Show one stored report: claircore JSON with --json, else a summary."""
    with _open(args) as store:
        info = ops.manifest_info(store, args.digest)  # before the read updates last_used
        report = store.index_report(args.digest)
    if report is None:
        raise CommandError(f"no report for {args.digest}")
    if args.json:
        print(report.to_json().decode())
    else:
        print(_report_summary(report, info))
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    """A manifest's layers and, per layer, the registered scanners that scanned it."""
    with _open(args) as store:
        info = ops.manifest_info(store, args.digest)
        if info is None:
            raise CommandError(f"unknown manifest {args.digest}")
        registry = list(ops.scanners(store).values())
        layers = [
            (layer, [s for s in registry if store.layer_scanned(layer, s)]) for layer in info.layers
        ]
    if args.json:
        _print_json(
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
            print(f"       {_scanner_text(s)}")
        if not scanned:
            print("       (not scanned)")
    return 0


def cmd_scanners(args: argparse.Namespace) -> int:
    """The scanner registry: every scanner any indexer registered, by ID."""
    with _open(args) as store:
        registry = ops.scanners(store)
    if args.json:
        _print_json([{"id": i, **asdict(s)} for i, s in registry.items()])
        return 0
    rows = [("ID", "NAME", "VERSION", "KIND")] + [
        (str(i), s.name, s.version, s.kind) for i, s in registry.items()
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for r in rows:
        print("  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def add_look_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "report",
        parents=[common],
        help="one stored report: a summary, or its claircore JSON with --json",
    )
    p.add_argument("digest", type=_digest_arg, metavar="DIGEST")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser(
        "layers", parents=[common], help="a manifest's layers and which scanners scanned each"
    )
    p.add_argument("digest", type=_digest_arg, metavar="DIGEST")
    p.set_defaults(func=cmd_layers)
    p = sub.add_parser("scanners", parents=[common], help="the scanner registry")
    p.set_defaults(func=cmd_scanners)


# -- affected ----------------------------------------------------------------------------------


def _json_documents(data: bytes) -> list[Any]:
    """One JSON value, a JSON list of values, or JSON lines: the values."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        out = []
        for n, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError as e:
                raise ValueError(f"line {n}: not JSON: {e}") from None
        return out
    return doc if isinstance(doc, list) else [doc]


def _read_vulnerabilities(paths: Sequence[str]) -> list[Vulnerability]:
    """Every vulnerability in the files, all checked before any is asked about."""
    out: list[Vulnerability] = []
    for p in paths:
        try:
            data = b"".join(_stdin_lines()) if p == "-" else Path(p).read_bytes()
        except OSError as e:
            raise CommandError(f"{p}: {e.strerror}") from None
        try:
            docs = _json_documents(data)
            if not docs:
                raise ValueError("no vulnerabilities in it")
            for i, doc in enumerate(docs, 1):
                try:
                    v = Vulnerability.from_json(orjson.dumps(doc))
                    out.append(validate.vulnerability(v))
                except ValueError as e:
                    raise ValueError(f"vulnerability {i}: {e}") from None
        except ValueError as e:
            raise CommandError(f"{p}: {e}") from None
    return out


def cmd_affected(args: argparse.Namespace) -> int:
    """The manifests claircore vulnerabilities affect: one (digests) or a batch."""
    vulns = _read_vulnerabilities(args.files)
    with _open(args) as store:
        if len(vulns) == 1:
            digests = store.affected_manifests(vulns[0])
            if args.json:
                _print_json(digests)
            else:
                for d in digests:
                    print(d)
            return 0
        ids = [v.id for v in vulns]
        if len(set(ids)) < len(ids):
            _warn("affected", "vulnerability IDs repeat; answers for the same ID are merged")
        result = store.affected_manifests_batch(vulns)
    if args.json:
        print(result.to_json().decode())
    else:
        for d, found in sorted(result.vulnerable_manifests.items()):
            print(f"{d}  {' '.join(found)}")
    return 0


def add_affected_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "affected",
        parents=[common],
        help="the manifests claircore vulnerabilities affect",
        description="Read claircore Vulnerability JSON (an object, a list, or JSON lines; - for"
        " stdin). One vulnerability: the affected manifests' digests. Several: libindex's"
        " AffectedManifests (digest and vulnerability IDs, most severe first).",
    )
    p.add_argument("files", nargs="+", metavar="VULN.json|-")
    p.set_defaults(func=cmd_affected)


# -- delete ------------------------------------------------------------------------------------


def _read_digests(args: argparse.Namespace) -> list[Digest]:
    """Every digest asked for, validated before anything is deleted (a bad one: exit 2)."""
    given: list[tuple[str, str]] = []

    def lines(source: Iterable[bytes | str], where: str) -> None:
        for n, raw in enumerate(source, 1):
            text = (raw.decode() if isinstance(raw, bytes) else raw).strip()
            if text and not text.startswith("#"):
                given.append((text, f"{where} line {n}"))

    for value in args.digests:
        if value == "-":
            lines(_stdin_lines(), "stdin")
        else:
            given.append((value, "argument"))
    if args.from_file == "-":
        lines(_stdin_lines(), "stdin")
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
    wanted = _read_digests(args)
    progress = Progress(sys.stderr)
    deleted: list[Digest] = []
    interrupted = False
    with _open(args) as store:
        known = [d for d, e in zip(wanted, _exists(store, wanted), strict=True) if e]
        try:
            for i in range(0, len(known), 100):  # each call is atomic per manifest
                with _finish_first():
                    deleted += store.delete_manifests(*known[i : i + 100])
                progress.update("deleting", min(i + 100, len(known)), len(known))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.clear()
        with _no_interrupts():
            rest = [d for d in known if d not in set(deleted)]
            still = dict(zip(rest, _exists(store, rest), strict=True))
            deleted += [d for d in rest if not still[d]]  # the interrupted call got to them
            left = [d for d in rest if still[d]]
            held = dict(zip(left, _locked(store, left), strict=True))
    done, asked = set(deleted), set(known)
    lists: dict[str, list[Digest]] = {
        "deleted": [d for d in wanted if d in done],
        "locked": [d for d in left if held[d]],
        "unknown": [d for d in wanted if d not in asked],
        "not_deleted": [d for d in left if not held[d]],
    }
    if args.json:
        _print_json({**lists, "interrupted": interrupted})
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
        _warn("delete", "interrupted; each manifest is deleted whole or not at all")
        return INTERRUPTED
    failed = not lists["deleted"] or lists["locked"] or lists["not_deleted"]
    return FAILED if failed else 0


def add_delete_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "delete",
        parents=[common],
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
    p.set_defaults(func=cmd_delete)


# -- expire, gc, fsck, stats -------------------------------------------------------------------


def cmd_expire(args: argparse.Namespace) -> int:
    """The cache-tier policy: delete manifests nobody indexed or read for a while."""
    progress = Progress(sys.stderr)
    with _open(args) as store:
        try:
            res = ops.expire(
                store,
                args.older_than.seconds,
                dry_run=args.dry_run,
                progress=progress.callback("expiring"),
            )
        except KeyboardInterrupt:
            progress.clear()
            _warn("expire", "interrupted; manifests expired so far are gone whole, run again")
            return INTERRUPTED
        finally:
            progress.clear()
    if args.json:
        _print_json({"older_than_seconds": args.older_than.seconds, **asdict(res)})
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
    with _open(args) as store:
        try:
            res = ops.collect(store, dry_run=args.dry_run, progress=progress.callback("reading"))
        except KeyboardInterrupt:
            progress.clear()
            _warn("gc", "interrupted; each item reclaimed so far went atomically, run again")
            return INTERRUPTED
        finally:
            progress.clear()
    if args.json:
        _print_json(asdict(res))
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
    with _open(args) as store:
        try:
            found = ops.check(store, progress=progress.callback("checking"))
            progress.clear()
            remaining = found
            if args.repair and found:
                repaired = ops.repair(store, found)
                remaining = ops.check(store, progress=progress.callback("re-checking"))
        except KeyboardInterrupt:
            progress.clear()
            _warn(
                "fsck",
                "interrupted" + ("; each repair applied so far is whole" if args.repair else ""),
            )
            return INTERRUPTED
        finally:
            progress.clear()
    seconds = time.perf_counter() - start
    if args.json:
        _print_json(
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


def cmd_stats(args: argparse.Namespace) -> int:
    """Counts per entity, memory by key family, and the largest manifests."""
    with _open(args) as store:
        st = ops.store_stats(store, sample=args.sample)
    if args.json:
        _print_json(asdict(st))
        return 0
    print("counts")
    for name, n in st.counts.items():
        print(f"  {name:<20}{n:>10}")
    if st.memory is None:
        print("memory: not available (the server has no MEMORY USAGE)")
    else:
        print(f"memory (estimated from MEMORY USAGE on up to {args.sample} keys per family)")
        for fam, n in sorted(st.memory.items(), key=lambda kv: -kv[1]):
            print(f"  {fam:<20}{_fmt_bytes(n):>10}")
        print(f"  {'total':<20}{_fmt_bytes(sum(st.memory.values())):>10}")
    print("largest manifests (by index records)")
    for d, records, size in st.largest:
        print(f"  {d}  {records:>6} records  {_fmt_bytes(size):>10} report")
    return 0


def add_maintenance_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "expire",
        parents=[common],
        help="delete manifests not indexed or read for a while",
        description="Delete, through delete_manifests, every manifest not indexed or read"
        " for longer than --older-than (by the server's clock). Manifests an indexer holds"
        " locked are skipped; manifests with no recorded use are kept.",
    )
    p.add_argument(
        "--older-than",
        type=_duration,
        required=True,
        metavar="AGE",
        help="e.g. 30d, 12h, 90m, 2w",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be expired")
    p.set_defaults(func=cmd_expire)

    p = sub.add_parser(
        "gc",
        parents=[common],
        help="reclaim what interrupted operations left (safe while indexers run)",
    )
    p.add_argument("--dry-run", action="store_true", help="count what would be reclaimed")
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser(
        "fsck",
        parents=[common],
        help="check the store's invariants (exit 1 when violations remain)",
        description="Read the whole namespace and report every broken invariant. --repair"
        " fixes what can be fixed (run it on a quiet store) and checks again.",
    )
    p.add_argument("--repair", action="store_true", help="fix the repairable violations")
    p.set_defaults(func=cmd_fsck)

    p = sub.add_parser(
        "stats", parents=[common], help="counts, memory by key family, largest manifests"
    )
    p.add_argument(
        "--sample",
        type=_positive_int,
        default=50,
        metavar="N",
        help="keys per family sampled with MEMORY USAGE (default: 50)",
    )
    p.set_defaults(func=cmd_stats)


# -- entry point -------------------------------------------------------------------------------


def _common_options() -> argparse.ArgumentParser:
    """--url, --namespace and --json, shared by every ops command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=None,
        help=f"Redis URL (default: $REDIS_URL, else {DEFAULT_URL})",
    )
    common.add_argument(
        "--namespace",
        type=_namespace,
        default="claircore",
        metavar="NS",
        help="key namespace in Redis (default: claircore)",
    )
    common.add_argument("--json", action="store_true", help="print the results as JSON")
    return common


#: Each command contributes its subparser(s); add new commands here.
COMMANDS: tuple[Callable[[Any, argparse.ArgumentParser], None], ...] = (
    add_import_parser,
    add_export_parser,
    add_look_parsers,
    add_affected_parser,
    add_delete_parser,
    add_maintenance_parsers,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redis-store", description="claircore's indexer Store on Redis: tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_demo_parser(sub)
    common = _common_options()
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
    func: Callable[[argparse.Namespace], int] = args.func
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
    except KeyboardInterrupt:
        print(f"\nredis-store {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # stdout closed early (| head): not worth a traceback
        with suppress(OSError, ValueError):  # and keep the interpreter's exit flush quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return FAILED


__all__ = ["build_parser", "connect", "main"]
