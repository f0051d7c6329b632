"""What a matcher is: claircore's ``driver.Matcher`` as a Python protocol.

A matcher names the constraints a candidate record must share with the vulnerability
(:class:`Constraint`, claircore's ``MatchConstraint``), filters records it understands, and
decides whether a record is vulnerable. ``version_authoritative`` matchers (gobin) are decided
by the vulnerability's normalized-version range instead of ``vulnerable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

from redis_store.models import IndexRecord, Vulnerability


class Constraint(StrEnum):
    """claircore's ``driver.MatchConstraint`` names."""

    PACKAGE_MODULE = "PackageModule"
    PACKAGE_NAME = "PackageName"
    PACKAGE_SOURCE_NAME = "PackageSourceName"
    DISTRIBUTION_DID = "DistributionDID"
    DISTRIBUTION_NAME = "DistributionName"
    DISTRIBUTION_VERSION = "DistributionVersion"
    DISTRIBUTION_VERSION_CODE_NAME = "DistributionVersionCodeName"
    DISTRIBUTION_VERSION_ID = "DistributionVersionID"
    DISTRIBUTION_ARCH = "DistributionArch"
    DISTRIBUTION_CPE = "DistributionCPE"
    DISTRIBUTION_PRETTY_NAME = "DistributionPrettyName"
    REPOSITORY_NAME = "RepositoryName"
    REPOSITORY_KEY = "RepositoryKey"
    HAS_FIXED_IN_VERSION = "HasFixedInVersion"


@runtime_checkable
class Matcher(Protocol):
    """Any object with these members can be passed in ``affected_manifests(matchers=...)``.

    ``filter`` and ``vulnerable`` receive a record as claircore's AffectedManifests builds it:
    the package has name, version, kind, normalized version and arch (no module, source or
    IDs); distribution and repository are never ``None`` (empty strings when the record has
    none). ``vulnerable`` raises :class:`~redis_store.matchers.versions.InvalidVersion` when a
    version cannot be parsed; it must not modify its arguments.
    """

    @property
    def name(self) -> str: ...

    @property
    def query(self) -> Sequence[Constraint | str]: ...

    def filter(self, record: IndexRecord) -> bool: ...

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool: ...


def is_version_authoritative(matcher: object) -> bool:
    """claircore's ``VersionFilter`` + ``VersionAuthoritative()``; absent means False."""
    return bool(getattr(matcher, "version_authoritative", False))
