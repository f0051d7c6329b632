"""The claircore JSON codec the models' ``from_json`` and ``to_json`` go through.

The codec (:mod:`redis_store.codec.wire`) builds the models, so the models cannot import it:
the dependency runs one way, codec on models. The codec registers its named entry points
here when it is loaded, which importing :mod:`redis_store` always does first, and the
models' JSON methods call them through :func:`codec`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis_store.models.entities import AffectedManifests, IndexReport, Manifest, Vulnerability

Source = bytes | bytearray | memoryview | str


class Codec(Protocol):
    """The codec's named entry points (a module implements it)."""

    def decode_index_report(self, data: Source) -> IndexReport: ...
    def encode_index_report(self, report: IndexReport) -> bytes: ...
    def decode_manifest(self, data: Source) -> Manifest: ...
    def encode_manifest(self, manifest: Manifest) -> bytes: ...
    def decode_vulnerability(self, data: Source) -> Vulnerability: ...
    def encode_vulnerability(self, vulnerability: Vulnerability) -> bytes: ...
    def decode_affected_manifests(self, data: Source) -> AffectedManifests: ...
    def encode_affected_manifests(self, affected: AffectedManifests) -> bytes: ...


_codec: Codec | None = None


def register(wire: Codec) -> None:
    """Called by the codec when it is loaded."""
    global _codec
    _codec = wire


def codec() -> Codec:
    """The registered codec."""
    if _codec is None:
        raise RuntimeError("claircore's JSON codec is not loaded: import redis_store first")
    return _codec


__all__ = ["Codec", "codec", "register"]
