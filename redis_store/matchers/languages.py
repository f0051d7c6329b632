"""Language-package matchers: Go binaries, Maven, Python and RubyGems.

gobin is version-authoritative: its answer is the vulnerability's normalized-version range,
applied to the package's stored normalized version. The others use the OSV rule over
``fixed_in_version`` (``introduced=…&fixed=…&lastAffected=…``) with their version scheme.
"""

from __future__ import annotations

from typing import ClassVar

from redis_store.matchers.base import Constraint
from redis_store.matchers.versions import maven, osv, pep440, ruby
from redis_store.models import IndexRecord, Vulnerability

_REPO_NAME = (Constraint.REPOSITORY_NAME,)


class _LanguageMatcher:
    name: ClassVar[str]
    query: ClassVar[tuple[Constraint, ...]] = _REPO_NAME

    def __repr__(self) -> str:
        return f"<matcher {self.name}>"


class GobinMatcher(_LanguageMatcher):
    """Go modules found in binaries: decided by ``vulnerability.range`` (see the engine)."""

    name = "gobin"
    version_authoritative: ClassVar[bool] = True

    def filter(self, record: IndexRecord) -> bool:
        return record.repository is not None and record.repository.uri == "https://pkg.go.dev/"

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        return False  # never called: the range decides, as in claircore


class JavaMavenMatcher(_LanguageMatcher):
    name = "java-maven"

    def filter(self, record: IndexRecord) -> bool:
        return record.repository is not None and record.repository.name == "maven"

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        return osv.vulnerable(_version(record), vulnerability.fixed_in_version, maven.compare)


class PythonMatcher(_LanguageMatcher):
    name = "python"

    def filter(self, record: IndexRecord) -> bool:
        return record.package is not None and record.package.normalized_version.kind == "pep440"

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        return osv.vulnerable(_version(record), vulnerability.fixed_in_version, pep440.compare)


class RubyGemMatcher(_LanguageMatcher):
    name = "ruby-gem"

    def filter(self, record: IndexRecord) -> bool:
        return record.repository is not None and record.repository.name == "rubygems"

    def vulnerable(self, record: IndexRecord, vulnerability: Vulnerability) -> bool:
        return osv.vulnerable(_version(record), vulnerability.fixed_in_version, ruby.compare)


def _version(record: IndexRecord) -> str:
    return record.package.version if record.package else ""
