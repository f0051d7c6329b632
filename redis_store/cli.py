"""The ``redis-store`` command line.

One subcommand per task, each a small ``cmd_*`` function taking the parsed arguments and
returning the exit status, so new commands slot in beside ``demo`` without touching the
others. ``main`` returns the status instead of exiting, so tests can call it in-process.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_store import replay, workload
from redis_store.errors import StoreError
from redis_store.keys import KeyLayout
from redis_store.models import IndexReport
from redis_store.store import RedisStore

#: Exit status of a command that ran but failed (argparse uses 2 for usage errors).
FAILED = 1


class CommandError(Exception):
    """A command failed in a way worth one clear line on stderr, not a traceback."""


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
    """A single self-rewriting status line, shown only when the stream is a terminal."""

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.interval = interval
        self._last = 0.0

    def update(self, what: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(f"\r\x1b[K{what} {done}/{total}")
        self.stream.flush()

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
    """The whole server's ``used_memory`` (other namespaces included)."""
    if client is None:
        return None
    value = client.info("memory").get("used_memory")
    return value if isinstance(value, int) else None


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


# -- entry point -------------------------------------------------------------------------------

#: Each command contributes its subparser; add new commands here.
COMMANDS: tuple[Callable[[Any], None], ...] = (add_demo_parser,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redis-store", description="claircore's indexer Store on Redis: tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``redis-store`` command; returns the exit status (2 for usage errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help (0) and on usage errors (2)
        return e.code if isinstance(e.code, int) else 2
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("redis-store: error: a command is required", file=sys.stderr)
        return 2
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CommandError as e:
        print(f"redis-store {args.command}: {e}", file=sys.stderr)
    except (RedisConnectionError, RedisTimeoutError) as e:
        print(f"redis-store {args.command}: cannot reach Redis: {e}", file=sys.stderr)
    except StoreError as e:
        print(f"redis-store {args.command}: store error: {type(e).__name__}: {e}", file=sys.stderr)
    return FAILED


__all__ = ["build_parser", "main"]
