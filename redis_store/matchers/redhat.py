"""Red Hat matchers: ``rhel`` (RPMs from CPE-identified repositories) and
``rhel-container-matcher`` (container images from the Red Hat Container Catalog).

Both gate on the vulnerability's repository CPE, unbound from ``repository.name`` as
claircore does; unlike claircore they never write it back into the caller's vulnerability.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from redis_store.errors import InvalidInputError
from redis_store.matchers.base import Constraint
from redis_store.matchers.distributions import rpm_rule
from redis_store.matchers.versions import InvalidVersion, rpm
from redis_store.models import IndexRecord, Vulnerability, bind_cpe, is_superset, parse_cpe

RHEL_CPE_REPOSITORY = "rhel-cpe-repository"
RHCC_REPOSITORY = "rhcc-container-repository"
GOLD_REPOSITORY_NAME = "Red Hat Container Catalog"


def cpe_gate(record: IndexRecord, v: Vulnerability) -> bool:
    """The vulnerability's repository CPE covers the record's (superset, or the Red Hat
    prefix rule); a repository name that is not a CPE does not match."""
    name = v.repository.name if v.repository else ""
    return _covers(name, record.repository.cpe if record.repository else "")


@lru_cache(maxsize=4096)
def _covers(repository_name: str, record_cpe: str) -> bool:
    """The few distinct (vulnerability repository, record CPE) pairs recur: decide once."""
    try:
        vuln_cpe = parse_cpe(repository_name)
    except InvalidInputError:
        return False
    if is_superset(vuln_cpe, record_cpe):
        return True
    return record_cpe.startswith(bind_cpe(vuln_cpe).rstrip(":*"))


class RhelMatcher:
    """claircore's ``rhel`` matcher (the factory default: ``ignore_unpatched`` off)."""

    name: ClassVar[str] = "rhel"

    def __init__(self, *, ignore_unpatched: bool = False) -> None:
        self.ignore_unpatched = ignore_unpatched
        self.query: tuple[Constraint, ...] = (
            Constraint.PACKAGE_MODULE,
            Constraint.REPOSITORY_KEY,
            *((Constraint.HAS_FIXED_IN_VERSION,) if ignore_unpatched else ()),
        )

    def filter(self, record: IndexRecord) -> bool:
        return record.repository is not None and record.repository.key == RHEL_CPE_REPOSITORY

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        repo = vulnerability.repository
        if repo is None or record.repository is None or repo.key != RHEL_CPE_REPOSITORY:
            return False
        return cpe_gate(record, vulnerability) and rpm_rule(record, vulnerability)

    def __repr__(self) -> str:
        return f"<matcher {self.name}>"


class RhccMatcher:
    """claircore's ``rhel-container-matcher``: image versions below the fixed tag."""

    name: ClassVar[str] = "rhel-container-matcher"
    query: ClassVar[tuple[Constraint, ...]] = (Constraint.REPOSITORY_KEY,)
    #: claircore marks it a VersionFilter but not authoritative: ``vulnerable`` decides.
    version_authoritative: ClassVar[bool] = False

    def filter(self, record: IndexRecord) -> bool:
        return record.repository is not None and record.repository.key == RHCC_REPOSITORY

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        repo_name = record.repository.name if record.repository else ""
        if repo_name != GOLD_REPOSITORY_NAME and not cpe_gate(record, vulnerability):
            return False
        if vulnerability.invert:
            return True
        version = record.package.version if record.package else ""
        if version == "":
            raise InvalidVersion("rhcc: the record has an empty package version")
        if vulnerability.fixed_in_version == "":
            return True
        installed = rpm.parse(_ensure_evr(version))
        fixed = rpm.parse(_ensure_evr(vulnerability.fixed_in_version))
        return rpm.compare(installed, fixed) < 0

    def __repr__(self) -> str:
        return f"<matcher {self.name}>"


def _ensure_evr(version: str) -> str:
    """Image tags without a release (e.g. a timestamp) get ``-0``, as claircore does."""
    return version if "-" in version else version + "-0"
