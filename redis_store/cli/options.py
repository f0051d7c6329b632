"""Argument types and the options every command shares, so that each means one thing.

An argument type turns a bad value into argparse's usage error (exit 2) naming the value,
before any command touches the store.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from redis_store.cli.connection import DEFAULT_URL
from redis_store.errors import DigestError
from redis_store.keys import KeyLayout
from redis_store.models import Digest

#: What a command module's ``add_*`` functions receive: the subparsers and the shared options.
Subparsers = Any
Command = Callable[[argparse.Namespace], int]


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def positive_float(text: str) -> float:
    """Seconds and the like: a number above zero."""
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not n > 0 or n == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return n


def namespace(text: str) -> str:
    """A namespace the store accepts (its own rule), so a bad one is a usage error."""
    try:
        KeyLayout(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def digest(text: str) -> Digest:
    """A digest argument; a bad one is a usage error naming the value."""
    try:
        return Digest(text)
    except DigestError as e:
        raise argparse.ArgumentTypeError(f"bad digest {text!r}: {e}") from None


class Duration(NamedTuple):
    text: str
    seconds: float


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration(text: str) -> Duration:
    """``30d``, ``12h``, ``90m``: a number and one of the units s, m, h, d, w."""
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)([smhdw])", text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (a number and a unit s, m, h, d or w, e.g. 30d)"
        )
    if m[1].startswith("-"):
        raise argparse.ArgumentTypeError(f"an age cannot be negative: {text!r}")
    return Duration(text.strip(), float(m[1]) * _UNITS[m[2]])


def size(text: str) -> int:
    """Bytes: ``2GiB``, ``512MiB``, ``1.5G``, ``800mb``, ``4096B``; every unit is a power of
    1024 (as Redis reads ``maxmemory 2gb``). The unit is required: a bare ``1536`` could mean
    bytes or a slip of MiB, and either reading deletes data when it is the wrong one."""
    value = text.strip().lower()
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(?:([kmgt])(?:ib|b)?|(b))?", value)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2GiB, 512MiB, 1.5G)")
    if m[1].startswith("-"):
        raise argparse.ArgumentTypeError(f"a size cannot be negative: {text!r}")
    if m[2] is None and m[3] is None:
        raise argparse.ArgumentTypeError(
            f"a size needs a unit: {text!r} (B, KiB, MiB, GiB or TiB, e.g. {m[1]}MiB)"
        )
    n = int(float(m[1]) * 1024 ** (1 + "kmgt".index(m[2]) if m[2] else 0))
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least one byte, got {text!r}")
    return n


#: Option values that begin with a minus and a digit (``-5MiB``, ``-3d``, ``-1``) are read as
#: values, so that the argument's type names what is wrong with them, rather than argparse
#: taking them for an unknown option ("expected one argument"). No option of the command
#: line begins with a digit.
NEGATIVE_VALUES = re.compile(r"^-\.?\d")


def read_negative_values(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` read ``-5MiB`` as a value (see :data:`NEGATIVE_VALUES`)."""
    parser._negative_number_matcher = NEGATIVE_VALUES


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def add_output_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """-v/-q/--log-level, before the command or after it (``top``: the main parser, which
    sets the defaults; a subcommand only overrides what is given there)."""
    default: Any = argparse.SUPPRESS
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else default,
        help="more log output: -v the library's info messages, -vv debug messages",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top else default,
        help="no progress bar, notes or warnings: results and errors only",
    )
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=None if top else default,
        metavar="LEVEL",
        help="the library's log level: debug, info, warning (default), error, critical",
    )


def add_yes_option(parser: argparse.ArgumentParser, what: str) -> None:
    """--yes: go ahead without asking (needed off a terminal) when ``what`` happens."""
    parser.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help=f"do not ask before {what} (needed when stdin is not a terminal)",
    )


def add_mark_used_option(parser: argparse.ArgumentParser) -> None:
    """--mark-used: let a read count as a use of the manifest, as an indexer's read does."""
    parser.add_argument(
        "--mark-used",
        action="store_true",
        help="count this read as a use of the manifest (as an indexer's read is), which"
        " keeps it from expire and moves it to the back of evict's order; by default"
        " inspecting changes nothing",
    )


def add_metrics_file_option(parser: argparse.ArgumentParser) -> None:
    """--metrics-file: the job's figures for node_exporter's textfile collector."""
    parser.add_argument(
        "--metrics-file",
        metavar="PATH.prom",
        help="write what the job did for node_exporter's textfile collector (atomically;"
        " needs prometheus_client: pip install 'redis-store[metrics]')",
    )


def add_store_options(
    parser: argparse.ArgumentParser, *, url_help: str, default_namespace: str, in_process: bool
) -> None:
    """--url, --namespace and --json; ``in_process``: without --url, a private fakeredis
    rather than $REDIS_URL or the default URL (see ``connection.store_url``)."""
    parser.add_argument("--url", default=None, help=url_help)
    parser.add_argument(
        "--namespace",
        type=namespace,
        default=default_namespace,
        metavar="NS",
        help=f"key namespace in Redis (default: {default_namespace})",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_output_options(parser)
    parser.set_defaults(in_process=in_process)


def common_options() -> argparse.ArgumentParser:
    """The parent parser of every command that works on an existing store."""
    common = argparse.ArgumentParser(add_help=False)
    add_store_options(
        common,
        url_help=f"Redis URL (default: $REDIS_URL, else {DEFAULT_URL})",
        default_namespace="claircore",
        in_process=False,
    )
    return common


def add_command(
    sub: Subparsers,
    name: str,
    func: Command,
    common: argparse.ArgumentParser | None,
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """One subcommand running ``func``, with the shared options when ``common`` is given."""
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        parents=[] if common is None else [common],
        help=help,
        description=description or _sentence(help),
    )
    read_negative_values(p)
    p.set_defaults(func=func)
    return p


def _sentence(help: str) -> str:
    """A command's one-line help as the description ``--help`` shows."""
    return help[:1].upper() + help[1:] + "."
