"""Version schemes of claircore's default matchers, ported to Python.

Each module parses and compares one scheme exactly as claircore does, quirks included, so
that a record is found vulnerable here exactly when claircore would find it so. Every
scheme's parse raises :class:`InvalidVersion` on input claircore rejects.
"""

from __future__ import annotations

__all__ = ["InvalidVersion"]


class InvalidVersion(ValueError):
    """A version string the scheme cannot parse; the message names the scheme and the version.

    claircore's matchers return an error here, which aborts ``AffectedManifests``; callers
    decide whether to propagate it (most matchers) or to treat it as "not vulnerable".
    """
