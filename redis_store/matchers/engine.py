"""AffectedManifests' decision, as pure functions over candidate records.

claircore runs one SQL query per matcher (``datastore/postgres/affectedmanifest.go``); here the
candidates (every reverse-index record whose package has the vulnerability's name, binary or
source) come from Redis once, and each matcher's query constraints are applied in Python
with the same SQL semantics: a constraint whose vulnerability field is empty makes the matcher
not applicable; a record without a distribution or repository never satisfies a constraint on
it. Then ``filter``, then ``vulnerable`` (or, for version-authoritative matchers, the
vulnerability's normalized-version range).

Unlike claircore, every (matcher, record) pair is decided independently, so the answer does
not depend on iteration order, and a version that cannot be parsed makes that pair "not
affected" (reported in :class:`Outcome`) instead of aborting the call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from redis_store.errors import MatcherError
from redis_store.matchers.base import Constraint, Matcher, is_version_authoritative
from redis_store.models import (
    Distribution,
    IndexRecord,
    Package,
    Repository,
    Version,
    Vulnerability,
)

log = logging.getLogger("redis_store.matchers")

_EMPTY_DIST: Final = Distribution()
_EMPTY_REPO: Final = Repository()

# constraint -> (which side, field) compared for equality; PackageModule is special-cased
_DIST_FIELDS: Final = {
    Constraint.DISTRIBUTION_DID: "did",
    Constraint.DISTRIBUTION_NAME: "name",
    Constraint.DISTRIBUTION_VERSION: "version",
    Constraint.DISTRIBUTION_VERSION_CODE_NAME: "version_code_name",
    Constraint.DISTRIBUTION_VERSION_ID: "version_id",
    Constraint.DISTRIBUTION_ARCH: "arch",
    Constraint.DISTRIBUTION_CPE: "cpe",
    Constraint.DISTRIBUTION_PRETTY_NAME: "pretty_name",
}
_REPO_FIELDS: Final = {Constraint.REPOSITORY_NAME: "name", Constraint.REPOSITORY_KEY: "key"}
_SUPPORTED: Final = frozenset(
    {*_DIST_FIELDS, *_REPO_FIELDS, Constraint.PACKAGE_MODULE, Constraint.HAS_FIXED_IN_VERSION}
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One reverse-index record (package, distribution, repository) as a matcher sees it."""

    key: str
    record: IndexRecord
    #: The package's module: used by the PackageModule constraint, hidden from matchers.
    module: str = ""
    has_distribution: bool = False
    has_repository: bool = False

    @classmethod
    def of(
        cls,
        key: str,
        package: Package,
        distribution: Distribution | None,
        repository: Repository | None,
    ) -> Candidate:
        """The record claircore hands to Filter/Vulnerable: no module, IDs or source; an
        absent distribution or repository is all empty strings. The distribution and
        repository are used as given (the store passes them without IDs)."""
        p = Package(
            name=package.name,
            version=package.version,
            kind=package.kind,
            normalized_version=package.normalized_version,
            arch=package.arch,
        )
        return cls(
            key=key,
            record=IndexRecord(
                package=p,
                distribution=distribution or _EMPTY_DIST,
                repository=repository or _EMPTY_REPO,
            ),
            module=package.module,
            has_distribution=distribution is not None,
            has_repository=repository is not None,
        )


@dataclass
class Outcome:
    """Which candidate records each vulnerability affects, and what could not be decided."""

    matched: set[str] = field(default_factory=set)
    #: (matcher name, record key, reason) for each pair that could not be decided.
    undecided: list[tuple[str, str, str]] = field(default_factory=list)


def constraints_of(matcher: Matcher) -> list[Constraint]:
    """The matcher's distinct constraints; an unsupported one is an error, as in claircore."""
    out: list[Constraint] = []
    for c in matcher.query:
        try:
            constraint = Constraint(c)
        except ValueError:
            raise MatcherError(f"matcher {matcher.name!r}: unknown constraint {c!r}") from None
        if constraint not in _SUPPORTED:
            raise MatcherError(f"matcher {matcher.name!r}: unsupported constraint {c!r}")
        if constraint not in out:
            out.append(constraint)
    return out


def applicable(constraints: Iterable[Constraint], v: Vulnerability) -> bool:
    """claircore's ErrVulnNotApplicable: a constrained vulnerability field is empty."""
    dist = v.distribution or _EMPTY_DIST
    repo = v.repository or _EMPTY_REPO
    for c in constraints:
        if c in _DIST_FIELDS and getattr(dist, _DIST_FIELDS[c]) == "":
            return False
        if c in _REPO_FIELDS and getattr(repo, _REPO_FIELDS[c]) == "":
            return False
        if c is Constraint.HAS_FIXED_IN_VERSION and v.fixed_in_version == "":
            return False
    return True


def satisfies(constraints: Iterable[Constraint], v: Vulnerability, c: Candidate) -> bool:
    """The query's equality conditions on one row (SQL: a NULL join never matches)."""
    dist = v.distribution or _EMPTY_DIST
    repo = v.repository or _EMPTY_REPO
    for con in constraints:
        if con is Constraint.PACKAGE_MODULE:
            module = v.package.module if v.package else ""
            if c.module != module:
                return False
        elif con in _DIST_FIELDS:
            f = _DIST_FIELDS[con]
            if not c.has_distribution or getattr(c.record.distribution, f) != getattr(dist, f):
                return False
        elif con in _REPO_FIELDS:
            f = _REPO_FIELDS[con]
            if not c.has_repository or getattr(c.record.repository, f) != getattr(repo, f):
                return False
    return True


def range_check(v: Vulnerability) -> Callable[[Candidate], bool] | str:
    """The SQL range predicate of version-authoritative matchers, or why it cannot apply.

    No range, or bounds of different kinds: no condition (claircore then reports every row
    that passes the other constraints). Otherwise the package's normalized version must have
    the range's kind and lie in ``[lower, upper)``; a package without one never matches.
    """
    r = v.range
    if r is None or r.lower.kind != r.upper.kind:
        return lambda c: True
    if r.lower.v > r.upper.v:
        return f"range lower bound {r.lower} is above its upper bound {r.upper}"
    kind, lower, upper = r.lower.kind, r.lower.v, r.upper.v

    def check(c: Candidate) -> bool:
        nv: Version = c.record.package.normalized_version  # type: ignore[union-attr]
        return nv.kind != "" and nv.kind == kind and lower <= nv.v < upper

    return check


def evaluate(
    v: Vulnerability,
    candidates: Sequence[Candidate],
    matchers: Sequence[Matcher],
    *,
    strict: bool = False,
) -> Outcome:
    """Decide which candidates ``v`` affects under ``matchers``.

    ``strict=True`` raises :class:`MatcherError` for the first pair that cannot be decided
    (in matcher order, then candidate order); otherwise such pairs count as not affected and
    are listed in the outcome.
    """
    out = Outcome()
    if v.invert:  # an assertion of *not* affected never reports a manifest
        return out
    for m in matchers:
        constraints = constraints_of(m)
        if not applicable(constraints, v):
            continue
        rows = [c for c in candidates if satisfies(constraints, v, c) and m.filter(c.record)]
        if not rows:
            continue
        if is_version_authoritative(m):
            check = range_check(v)
            if isinstance(check, str):
                _undecided(out, m, rows[0], check, v, strict)
                continue
            out.matched.update(c.key for c in rows if check(c))
            continue
        for c in rows:
            if c.key in out.matched and not strict:
                continue
            try:
                if m.vulnerable(c.record, v):
                    out.matched.add(c.key)
            except (ValueError, MatcherError) as e:
                _undecided(out, m, c, str(e), v, strict)
    return out


def _undecided(
    out: Outcome, m: Matcher, c: Candidate, reason: str, v: Vulnerability, strict: bool
) -> None:
    """Say which comparison could not be decided in the user's terms: the matcher, the
    package and its version, the vulnerability (the record's IDs only in brackets)."""
    p = c.record.package
    package = "a package" if p is None else f"package {p.name} {p.version}".rstrip()
    what = f"{m.name}: {package} against vulnerability {v.name or v.id!r} (record {c.key})"
    if strict:
        raise MatcherError(f"{what}: {reason}")
    log.warning("%s: cannot decide, counted as not affected: %s", what, reason)
    out.undecided.append((m.name, c.key, reason))
