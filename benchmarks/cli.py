"""The benchmark's command line (``python scripts/bench.py``): options, one run per N, the
results printed as Markdown or JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from benchmarks import report
from benchmarks.harness import STORES, TOPOLOGIES, BenchError, Options, run
from tests.support.servers import ServerError


def _positive(text: str) -> int:
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma list of reader counts, not {text!r}") from None
    if not counts or any(n < 0 for n in counts):
        raise argparse.ArgumentTypeError(f"reader counts are 0 or more, got {text!r}")
    return counts


def _writes(text: str) -> int:
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def _stores(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [x for x in names if x not in STORES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"stores are a comma list of {', '.join(STORES)}")
    return names


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``scripts/bench.py``."""
    p.add_argument(
        "--manifests",
        type=_positive,
        nargs="+",
        default=[1000],
        metavar="N",
        help="registry size(s); several values run one after another (default: 1000)",
    )
    p.add_argument("--seed", type=int, default=0, help="workload seed (default: 0)")
    p.add_argument(
        "--vulnerabilities",
        type=_positive,
        default=1000,
        metavar="V",
        help="vulnerabilities sampled for affected_manifests (default: 1000)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive,
        default=1000,
        metavar="B",
        help="vulnerabilities per affected_manifests batch (default: 1000)",
    )
    p.add_argument("--batches", type=_positive, default=3, help="timed Redis batches (default: 3)")
    p.add_argument(
        "--postgres-batches",
        type=_positive,
        default=1,
        help="timed PostgreSQL batches, each B sequential calls (default: 1)",
    )
    p.add_argument(
        "--reads",
        type=_positive,
        default=2000,
        metavar="R",
        help="manifests (and layers) sampled for the read paths (default: 2000)",
    )
    p.add_argument(
        "--stores",
        type=_stores,
        default=STORES,
        help="comma list of stores to measure: redis (local cache on), redis-nocache (cache"
        " off, on a private server of its own) and postgres (default: all three)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        help="directory for the JSON, Markdown and PNG files (default: bench-results)",
    )
    p.add_argument(
        "--redis-url",
        default=None,
        help="use this Redis instead of a private one (redis+cluster://HOST:PORT[,...] for a"
        " cluster, with --redis-topology cluster)",
    )
    p.add_argument(
        "--redis-topology",
        choices=TOPOLOGIES,
        default="single",
        help="run the Redis store on one redis-server or on a private Redis Cluster"
        " (default: single); cluster results are written as bench-n<N>-cluster.*",
    )
    p.add_argument(
        "--cluster-masters",
        type=_positive,
        default=3,
        metavar="M",
        help="primaries of the private cluster, at least 3 (default: 3)",
    )
    p.add_argument(
        "--postgres-dsn", default=None, help="use this PostgreSQL (an empty database) instead"
    )
    p.add_argument(
        "--install",
        action="store_true",
        help="apt-get install postgresql / redis-server when their binaries are missing",
    )
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="leave CPU placement to the scheduler (default: the benchmark on the first CPU,"
        " the servers on the others)",
    )
    p.add_argument(
        "--poll-seconds",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="length of each polling run: readers poll reports while a process indexes new"
        " manifests (default: 10; 0 skips the phase)",
    )
    p.add_argument(
        "--poll-readers",
        type=_counts,
        default=(0, 1, 2, 4),
        metavar="K,...",
        help="reader processes of the polling runs, one run per count and store; 0 is the"
        " indexer alone (default: 0,1,2,4)",
    )
    p.add_argument(
        "--poll-decode",
        action="store_true",
        help="polling readers touch every field of the reports they read (default: the"
        " report as returned; the Redis store decodes it lazily)",
    )
    p.add_argument(
        "--staleness-writes",
        type=_writes,
        default=500,
        metavar="W",
        help="writes per cross-process staleness measurement, for index_report_json and"
        " manifest_scanned (default: 500; 0 skips it)",
    )
    p.add_argument(
        "--previous",
        type=Path,
        default=None,
        metavar="FILE",
        help="a bench-n<N>.json to compare the cache-off store's medians with (default: the"
        " previous round's figures built in for N = 1000 and 10000)",
    )
    p.add_argument("--no-chart", action="store_true", help="do not draw the PNG chart")
    p.add_argument("--json", action="store_true", help="print the JSON results instead of Markdown")


def run_cli(args: argparse.Namespace) -> int:
    """Run what the parsed arguments ask for; 0 on success, 1 on failure."""
    docs = []
    try:
        for n in args.manifests:
            opts = Options(
                manifests=n,
                seed=args.seed,
                vulnerabilities=args.vulnerabilities,
                reads=args.reads,
                batch_size=args.batch_size,
                batches=args.batches,
                postgres_batches=args.postgres_batches,
                stores=args.stores,
                out=args.out,
                redis_url=args.redis_url,
                postgres_dsn=args.postgres_dsn,
                redis_topology=args.redis_topology,
                cluster_masters=args.cluster_masters,
                install=args.install,
                pin=not args.no_pin,
                chart=not args.no_chart,
                poll_seconds=args.poll_seconds,
                poll_readers=args.poll_readers,
                poll_decode=args.poll_decode,
                staleness_writes=args.staleness_writes,
                previous=args.previous,
            )
            docs.append(run(opts))
    except (BenchError, ServerError) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(
            orjson.dumps(docs if len(docs) > 1 else docs[0], option=orjson.OPT_INDENT_2).decode()
            + "\n"
        )
    else:
        for doc in docs:
            print(report.markdown(doc))
            print(f"\nwritten: {', '.join(doc['files'].values())}\n")
    failed = [d for d in docs if d["checks"] and not d["checks"].get("all_equal")]
    if failed:
        print("bench: the stores answered differently (see 'checks' in the JSON)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="redis-store against claircore's PostgreSQL schema and the Redis floor,"
        " side by side on private servers.",
    )
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


__all__ = ["add_arguments", "main", "run_cli"]
