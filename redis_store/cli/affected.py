"""``affected``: which stored manifests claircore vulnerabilities affect.

Every vulnerability in every file is read and checked before the store is asked anything,
so a typo in a feed fails at once instead of after half the answers.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from redis_store.cli.connection import open_store
from redis_store.cli.console import note, print_json, stdin_lines
from redis_store.cli.errors import CommandError, UsageError
from redis_store.cli.options import Subparsers, add_command
from redis_store.errors import MatcherError
from redis_store.matchers import DEFAULT_MATCHERS
from redis_store.matchers.engine import applicable, constraints_of
from redis_store.models import Vulnerability
from redis_store.store import validate


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


#: The keys of claircore's Vulnerability JSON: any other is ignored, as claircore ignores it,
#: so one is most likely a misspelt field (``dist`` for ``distribution``) and is named.
VULNERABILITY_KEYS = frozenset(
    {
        *("id", "updater", "name", "description", "issued", "links", "severity"),
        *("normalized_severity", "package", "distribution", "repository"),
        *("fixed_in_version", "range", "arch_op", "Self", "Aliases", "Invert"),
    }
)


def read_vulnerabilities(paths: Sequence[str]) -> list[Vulnerability]:
    """Every vulnerability in the files, all checked before any is asked about: a file
    that cannot be read or holds something else is a usage error (exit 2), nothing asked."""
    out: list[Vulnerability] = []
    for p in paths:
        try:
            data = b"".join(stdin_lines()) if p == "-" else Path(p).read_bytes()
        except OSError as e:
            raise UsageError(f"{p}: {e.strerror}") from None
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
                unknown = sorted(set(doc) - VULNERABILITY_KEYS) if isinstance(doc, dict) else []
                if unknown:
                    shown = ", ".join(repr(k) for k in unknown)
                    note("affected", f"{p}: vulnerability {i}: unknown keys {shown}, ignored")
        except ValueError as e:
            raise UsageError(f"{p}: {e}") from None
    return out


def warn_inapplicable(vulns: Sequence[Vulnerability]) -> None:
    """Name each vulnerability no matcher applies to: it can only answer "not affected",
    which is right for an advisory no matcher knows, and wrong for a misspelt field."""
    for v in vulns:
        if v.invert or any(applicable(constraints_of(m), v) for m in DEFAULT_MATCHERS):
            continue
        label = v.name or v.id or v.package.name  # type: ignore[union-attr]  # validated
        note(
            "affected",
            f"warning: no matcher applies to vulnerability {label!r}: each needs a"
            " distribution, a repository or a fixed version it does not have (a misspelt"
            " key?); counted as not affected",
        )


def cmd_affected(args: argparse.Namespace) -> int:
    """The manifests claircore vulnerabilities affect: one (digests) or a batch (digests
    with the names of the vulnerabilities affecting each; IDs in the JSON)."""
    vulns = read_vulnerabilities(args.files)
    warn_inapplicable(vulns)
    with open_store(args) as store:
        before = sum(store.undecided.values())
        try:
            if len(vulns) == 1:
                digests = store.affected_manifests(vulns[0], strict=args.strict)
            else:
                ids = [v.id for v in vulns]
                if len(set(ids)) < len(ids):
                    note("affected", "vulnerability IDs repeat; answers for the same ID are merged")
                result = store.affected_manifests_batch(vulns, strict=args.strict)
        except MatcherError as e:
            raise CommandError(f"cannot decide (--strict): {e}") from None
        undecided = sum(store.undecided.values()) - before
    if undecided:
        note(
            "affected",
            f"{undecided} {'comparison' if undecided == 1 else 'comparisons'} could not be"
            " decided, counted as not affected (each is named above; --strict makes that an"
            " error)",
        )
    if len(vulns) == 1:
        if args.json:
            print_json(digests)
        else:
            for d in digests:
                print(d)
        return 0
    if args.json:
        print(result.to_json().decode())
    else:
        names = {i: v.name or i for i, v in result.vulnerabilities.items()}
        for d, found in sorted(result.vulnerable_manifests.items()):
            print(f"{d}  {' '.join(names.get(i, i) for i in found)}")
    return 0


def add_affected_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        "affected",
        cmd_affected,
        common,
        help="the manifests claircore vulnerabilities affect",
        description="Read claircore Vulnerability JSON (an object, a list, or JSON lines; - for"
        " stdin). One vulnerability: the affected manifests' digests. Several: each affected"
        " manifest with the names of the vulnerabilities affecting it, most severe first"
        " (--json: libindex's AffectedManifests, by vulnerability ID). A comparison that"
        " cannot be decided (an unparsable version) is named on stderr and counts as not"
        " affected, or with --strict fails the command. A vulnerability no matcher applies to"
        " (a misspelt key leaves it without the distribution or repository they need) and"
        " keys claircore does not know are named on stderr. A file that cannot be read or"
        " holds no vulnerabilities is a usage error (exit 2).",
    )
    p.add_argument("files", nargs="+", metavar="VULN.json|-")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1) when a comparison cannot be decided, instead of counting it as"
        " not affected",
    )
