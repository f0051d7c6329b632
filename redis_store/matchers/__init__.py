"""claircore's AffectedManifests matchers, on the store's reverse index.

:data:`DEFAULT_MATCHERS` are claircore's 13 defaults (``matchers/defaults``), unconfigured as
claircore's indexer uses them. Any object following :class:`Matcher` can be passed instead.
"""

from __future__ import annotations

from typing import Final

from redis_store.matchers.base import Constraint, Matcher, is_version_authoritative
from redis_store.matchers.distributions import (
    AlpineMatcher,
    AwsMatcher,
    DebianMatcher,
    OracleMatcher,
    PhotonMatcher,
    SuseMatcher,
    UbuntuMatcher,
)
from redis_store.matchers.engine import Candidate, Outcome, evaluate
from redis_store.matchers.languages import (
    GobinMatcher,
    JavaMavenMatcher,
    PythonMatcher,
    RubyGemMatcher,
)
from redis_store.matchers.redhat import RhccMatcher, RhelMatcher

DEFAULT_MATCHERS: Final[tuple[Matcher, ...]] = (
    AlpineMatcher(),
    AwsMatcher(),
    DebianMatcher(),
    GobinMatcher(),
    JavaMavenMatcher(),
    OracleMatcher(),
    PhotonMatcher(),
    PythonMatcher(),
    RhccMatcher(),
    RhelMatcher(),
    RubyGemMatcher(),
    SuseMatcher(),
    UbuntuMatcher(),
)

__all__ = [
    "DEFAULT_MATCHERS",
    "AlpineMatcher",
    "AwsMatcher",
    "Candidate",
    "Constraint",
    "DebianMatcher",
    "GobinMatcher",
    "JavaMavenMatcher",
    "Matcher",
    "OracleMatcher",
    "Outcome",
    "PhotonMatcher",
    "PythonMatcher",
    "RhccMatcher",
    "RhelMatcher",
    "RubyGemMatcher",
    "SuseMatcher",
    "UbuntuMatcher",
    "evaluate",
    "is_version_authoritative",
]
