"""Matchers for distribution packages: Debian, Ubuntu, Alpine and the RPM family.

Each mirrors the claircore matcher of the same name (``<distro>/matcher.go``): the query
constraints, the ``Filter`` on the record's distribution, and the version rule.
"""

from __future__ import annotations

from typing import ClassVar

from redis_store.matchers.base import Constraint
from redis_store.matchers.versions import apk, deb, rpm
from redis_store.models import IndexRecord, Vulnerability

_DID, _NAME = Constraint.DISTRIBUTION_DID, Constraint.DISTRIBUTION_NAME


class _DistroMatcher:
    """A matcher whose Filter accepts records of some distribution IDs or names."""

    name: ClassVar[str]
    query: ClassVar[tuple[Constraint, ...]]
    dids: ClassVar[frozenset[str]] = frozenset()
    names: ClassVar[frozenset[str]] = frozenset()

    def filter(self, record: IndexRecord) -> bool:
        d = record.distribution
        return d is not None and (d.did in self.dids or d.name in self.names)

    def __repr__(self) -> str:
        return f"<matcher {self.name}>"


class _RpmMatcher(_DistroMatcher):
    """claircore's ``internal/rpm.MatchVulnerable``: EVR below the fix, arch operation."""

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        return rpm_rule(record, vulnerability)


def rpm_rule(record: IndexRecord, v: Vulnerability) -> bool:
    vp = v.package
    return rpm.match_vulnerable(
        record.package.version if record.package else "",
        record.package.arch if record.package else "",
        v.fixed_in_version,
        vp.version if vp else "",
        v.arch_op,
        vp.arch if vp else "",
    )


def dpkg_rule(record: IndexRecord, v: Vulnerability, *, zero_fix_affects: bool) -> bool:
    """Installed version below the fix in dpkg order; no fix means affected."""
    if v.fixed_in_version == "":
        return True
    installed = deb.parse(record.package.version if record.package else "")
    fixed = deb.parse(v.fixed_in_version)
    if zero_fix_affects and deb.is_zero(fixed):
        return True
    return deb.compare(installed, fixed) < 0


class DebianMatcher(_DistroMatcher):
    name = "debian-matcher"
    query = (_DID, _NAME, Constraint.DISTRIBUTION_VERSION_ID)
    dids = frozenset({"debian"})
    names = frozenset({"Debian GNU/Linux"})

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        if vulnerability.fixed_in_version == "0":
            return False
        return dpkg_rule(record, vulnerability, zero_fix_affects=False)


class UbuntuMatcher(_DistroMatcher):
    name = "ubuntu-matcher"
    query = (_DID, _NAME, Constraint.DISTRIBUTION_VERSION_ID)
    dids = frozenset({"ubuntu"})
    names = frozenset({"Ubuntu"})

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        # claircore's Ubuntu matcher: a fix in version "0" means every version is affected
        return dpkg_rule(record, vulnerability, zero_fix_affects=True)


class AlpineMatcher(_DistroMatcher):
    name = "alpine-matcher"
    query = (_DID, _NAME, Constraint.DISTRIBUTION_PRETTY_NAME)
    dids = frozenset({"alpine"})
    names = frozenset({"Alpine Linux"})

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        fixed = vulnerability.fixed_in_version
        if fixed == "":
            return True
        if fixed == "0":
            return False
        installed = record.package.version if record.package else ""
        # claircore: an unparsable version on either side is "not affected", not an error
        if not apk.valid(installed) or not apk.valid(fixed):
            return False
        return apk.compare(installed, fixed) < 0


class AwsMatcher(_RpmMatcher):
    name = "aws-matcher"
    query = (_DID, Constraint.DISTRIBUTION_VERSION_ID)
    dids = frozenset({"amzn"})
    names = frozenset({"Amazon Linux AMI", "Amazon Linux"})


class OracleMatcher(_RpmMatcher):
    name = "oracle"
    query = (_DID, _NAME, Constraint.DISTRIBUTION_VERSION)
    dids = frozenset({"ol"})
    names = frozenset({"Oracle Linux Server"})


class PhotonMatcher(_RpmMatcher):
    name = "photon"
    query = (_DID, _NAME, Constraint.DISTRIBUTION_VERSION)
    dids = frozenset({"photon"})


class SuseMatcher(_RpmMatcher):
    name = "suse"
    query = (_DID, _NAME, Constraint.DISTRIBUTION_VERSION)
    dids = frozenset({"sles", "opensuse", "opensuse-leap"})
    names = frozenset({"SLES", "openSUSE Leap"})
