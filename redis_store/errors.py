"""Errors raised by the store.

Every error for bad input or bad state derives from :class:`StoreError`, so callers can catch
one type. Connection errors from redis-py are deliberately not wrapped.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises for bad input or bad state."""


class InvalidInputError(StoreError, ValueError):
    """Malformed input: not JSON, a wrong type, an ID the store never assigned, ..."""


class DigestError(StoreError, ValueError):
    """A digest that does not parse as claircore parses it (sha256/sha512, hex, exact length)."""


class UnknownScannerError(StoreError):
    """A scanner that was never registered with ``register_scanners``."""


class UnknownManifestError(StoreError):
    """A manifest that was never persisted with ``persist_manifest``."""


class UnknownLayerError(StoreError):
    """A layer that no persisted manifest references."""


class LockError(StoreError):
    """A manifest lock that could not be acquired (or released by its owner)."""


class MatcherError(StoreError):
    """A matcher could not decide (``strict=True`` in ``affected_manifests``)."""


class DurabilityError(StoreError):
    """Fewer replicas than ``wait_replicas`` acknowledged a write within ``wait_timeout``.

    The write was applied on the primary (it is not rolled back) but may be lost if the
    primary fails now; writes are idempotent, so the caller may simply retry the call.
    """

    def __init__(self, message: str, *, acknowledged: int = 0, wanted: int = 0) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.wanted = wanted


class OriginError(StoreError):
    """The cache tier's origin (Clair's indexer API or database) failed to answer, or gave
    a report that cannot be imported; nothing was imported. ``misconfigured``: the origin's
    URL or setup is wrong (not Clair's database, a refused token), so retrying cannot help."""

    def __init__(
        self, message: str, *, origin: str = "", digest: str = "", misconfigured: bool = False
    ) -> None:
        super().__init__(message)
        self.origin = origin
        self.digest = digest
        self.misconfigured = misconfigured


class SentinelSetupError(StoreError):
    """The sentinels of a ``redis+sentinel://`` URL answered that the setup can never work
    (a Redis server given as a sentinel, a service none monitors, refused credentials):
    raised at once rather than retried for the failover budget."""


__all__ = [
    "DigestError",
    "DurabilityError",
    "InvalidInputError",
    "LockError",
    "MatcherError",
    "OriginError",
    "SentinelSetupError",
    "StoreError",
    "UnknownLayerError",
    "UnknownManifestError",
    "UnknownScannerError",
]
