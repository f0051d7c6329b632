"""``import --from``: filling the store from a Clair (its database or its indexer API).

The work is :func:`redis_store.fill.fill_from_origin`; here are the origin's options,
reading ``--digests``, progress, Ctrl-C (every worker finishes the report it holds; a second
Ctrl-C abandons them) and the summary.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from redis_store.cli import console
from redis_store.cli.connection import open_store, store_url
from redis_store.cli.console import print_json, warn
from redis_store.cli.errors import FAILED, INTERRUPTED, Misconfigured, UsageError
from redis_store.cli.interrupts import stop_asked
from redis_store.cli.jobfile import job_metrics
from redis_store.cli.options import positive_int
from redis_store.cli.origins import checked
from redis_store.fill import fill_from_origin
from redis_store.store import RedisStore
from redis_store.store.validate import digest as as_digest
from redis_store.tier import Origin, origin_from_url

#: Where a token for Clair's API is read when --token is not given.
TOKEN_ENV = "CLAIR_TOKEN"


def origin_options(p: argparse.ArgumentParser) -> None:
    """``--from`` and what goes with it, on ``import``."""
    p.add_argument(
        "--from",
        dest="origin",
        metavar="URL",
        help="fill from a Clair: clair+postgresql://USER@HOST/DB (its indexer database,"
        " read-only) or https://CLAIR (its indexer API)",
    )
    p.add_argument(
        "--digests",
        metavar="FILE|-",
        help="with --from: import these manifests (one digest a line; - for stdin) rather"
        " than every one the database lists (the API cannot list: required there)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="with --from: fetch and import N reports at a time, in N worker processes"
        " (default: 1, in this process)",
    )
    p.add_argument(
        "--origin-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="with --from: seconds one fetch may take (default: 10)",
    )
    p.add_argument(
        "--token",
        metavar="JWT",
        help=f"with an https:// --from: the Authorization bearer token (default: ${TOKEN_ENV})",
    )
    p.add_argument(
        "--ca-file",
        metavar="PEM",
        help="with an https:// --from: trust this CA for the Clair's certificate",
    )


def open_origin(
    url: str,
    flag: str,
    *,
    timeout: float = 10.0,
    token: str | None = None,
    ca_file: str | None = None,
) -> Origin:
    """The origin ``flag`` names (the token defaults to ``$CLAIR_TOKEN``), checked."""
    try:
        origin = origin_from_url(
            url,
            timeout=timeout,
            token=token or os.environ.get(TOKEN_ENV) or None,
            ca_file=ca_file,
        )
    except ValueError as e:
        raise Misconfigured(f"{flag}: {e}") from None
    return checked(origin)


def _origin(args: argparse.Namespace) -> Origin:
    return open_origin(
        args.origin, "--from", timeout=args.origin_timeout, token=args.token, ca_file=args.ca_file
    )


def _digests(path: str) -> list[str]:
    """The digests of a --digests file, checked (a bad one names its line)."""
    if path == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as e:
            raise UsageError(f"--digests {path}: {e.strerror or e}") from None
    out: list[str] = []
    for n, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            out.append(as_digest(text, "digest"))
        except ValueError as e:
            raise UsageError(f"--digests {path}, line {n}: {e}") from None
    return out


def cmd_import_from(args: argparse.Namespace) -> int:
    origin = _origin(args)  # opened here first: a bad --from is said before any work
    digests: Iterator[str] | list[str] | None = None
    if args.digests is not None:
        digests = _digests(args.digests)
    elif not args.origin.startswith(("clair+", "postgres")):
        origin.close()
        raise UsageError("Clair's indexer API cannot list its manifests: give --digests FILE")
    progress = console.progress()
    jobs = args.jobs
    url = store_url(args)
    if url is None:  # one in-process server: one worker, here
        jobs = 1
    if jobs == 1:
        open_store_: Any = lambda: open_store(args)  # noqa: E731
        open_origin_: Any = lambda: origin  # noqa: E731
    else:  # worker processes: openers that pickle
        assert url is not None
        open_store(args).close()  # a misconfigured --url is said here, once, as everywhere
        # no local cache in a worker: it only writes
        open_store_ = functools.partial(
            RedisStore.from_url, url, namespace=args.namespace, local_cache=False
        )
        open_origin_ = functools.partial(
            origin_from_url,
            args.origin,
            timeout=args.origin_timeout,
            token=args.token or os.environ.get(TOKEN_ENV) or None,
            ca_file=args.ca_file,
        )
    stop = threading.Event()
    try:
        with (
            job_metrics(args, "import") as job,
            stop_asked(stop, "redis-store import: stopping after the reports in hand"),
        ):
            result = fill_from_origin(
                open_store_,
                open_origin_,
                digests,
                jobs=jobs,
                lock_timeout=args.lock_timeout,
                on_progress=lambda done, total: progress.update("importing", done, total),
                stop=stop,
            )
            job.completed = not (result.interrupted or result.aborted)
            if job.file is not None:
                job.file.imports(
                    {
                        "imported": len(result.imported),
                        "unchanged": len(result.skipped),
                        "missing": len(result.missing),
                        "failed": len(result.failed),
                    }
                )
    finally:
        progress.clear()
        origin.close()
    for d, error in result.failed:
        warn("import", error if d in error else f"{d}: {error}")
    summary = result.summary()
    if result.complete_mirror:
        summary += f"\nthe store now holds every finished report {origin.name} holds"
    return finish_import(
        {"origin": origin.name, "jobs": jobs, **result.as_dict()},
        summary,
        as_json=args.json,
        interrupted=result.interrupted,
        aborted=result.aborted,
        failed=bool(result.failed),
    )


def finish_import(
    doc: dict[str, Any],
    summary: str,
    *,
    as_json: bool,
    interrupted: bool,
    aborted: str,
    failed: bool,
) -> int:
    """Print an import's outcome (``doc`` with --json, else ``summary``); its exit status."""
    if as_json:
        print_json(doc)
    else:
        print(summary)
    if interrupted:
        warn("import", "interrupted; every report is either imported whole or not at all")
        return INTERRUPTED
    if aborted:
        warn("import", aborted)
        return FAILED
    return FAILED if failed else 0


__all__ = ["cmd_import_from", "finish_import", "open_origin", "origin_options"]
