"""Content digests, validated exactly as claircore's ``ParseDigest``.

A :class:`Digest` is a ``str`` holding the canonical form ``algo:lowercasehex`` so it can be
used directly as a Redis key part, a dict key and a JSON value, and compares equal to the
canonical string.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from redis_store.errors import DigestError

__all__ = ["SHA256", "SHA512", "Digest", "as_digest", "parse_digest"]

SHA256: Final = "sha256"
SHA512: Final = "sha512"

#: Checksum size in bytes per supported algorithm.
_SIZES: Final[dict[str, int]] = {SHA256: 32, SHA512: 64}

#: Already-canonical digests: the fast path skips the step-by-step checks.
_CANONICAL: Final = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_HEX: Final = re.compile(r"[0-9a-fA-F]*")


def _canonicalise(s: str) -> str:
    """claircore's checks, in claircore's order, so the first problem reported is the same."""
    i = s.find(":")
    if i == -1:
        raise DigestError(f"invalid digest format: no ':' in {s!r}")
    algo, rest = s[:i], s[i + 1 :]
    # Hex decoding runs before the algorithm check (``md5:zz`` is a hex error).
    m = _HEX.match(rest)
    assert m is not None
    if m.end() != len(rest):
        bad = rest[m.end()]
        raise DigestError(
            f"unable to decode digest as hex: invalid byte {bad!r} at offset {m.end()}"
        )
    if len(rest) % 2:
        raise DigestError("unable to decode digest as hex: odd length hex string")
    size = _SIZES.get(algo)
    if size is None:
        raise DigestError(f"unknown algorithm {algo!r} (want sha256 or sha512)")
    if len(rest) // 2 != size:
        raise DigestError(f"bad checksum length: {len(rest) // 2} (want {size} for {algo})")
    return f"{algo}:{rest.lower()}"


class Digest(str):
    """A validated ``sha256:``/``sha512:`` digest in canonical (lower-case hex) form.

    ``Digest(s)`` raises :class:`DigestError` for anything claircore's ``ParseDigest`` rejects:
    no ``:``, non-hex or odd-length checksum, an algorithm other than exactly ``sha256`` or
    ``sha512`` (case-sensitive), or a checksum of the wrong length. Upper-case hex is accepted
    and normalised. Constructing from a ``Digest`` returns it unchanged.
    """

    __slots__ = ()

    def __new__(cls, value: object) -> Digest:
        if type(value) is Digest:
            return value
        if not isinstance(value, str):
            raise DigestError(f"expected a digest string, got {type(value).__name__}")
        if _CANONICAL.fullmatch(value) is None:
            value = _canonicalise(value)
        return str.__new__(cls, value)

    @classmethod
    def from_checksum(cls, algorithm: str, checksum: bytes) -> Digest:
        """claircore's ``NewDigest``: build from an algorithm name and raw checksum bytes."""
        size = _SIZES.get(algorithm)
        if size is None:
            raise DigestError(f"unknown algorithm {algorithm!r} (want sha256 or sha512)")
        if len(checksum) != size:
            raise DigestError(f"bad checksum length: {len(checksum)} (want {size})")
        return str.__new__(cls, f"{algorithm}:{checksum.hex()}")

    @property
    def algorithm(self) -> str:
        """``"sha256"`` or ``"sha512"``."""
        return self[: self.index(":")]

    @property
    def checksum(self) -> bytes:
        """The raw checksum bytes (32 or 64 of them)."""
        return bytes.fromhex(self[self.index(":") + 1 :])

    def __repr__(self) -> str:
        return f"Digest({str.__repr__(self)})"


@lru_cache(maxsize=4096)
def parse_digest(value: str) -> Digest:
    """``Digest(value)`` memoised: the same layer digests recur in every report."""
    return Digest(value)


def as_digest(value: object, field: str) -> Digest:
    """Coerce a ``Digest``, ``str`` or object with a ``.hash`` (Layer, Manifest) to a Digest.

    Errors are :class:`DigestError` whose message starts with ``field``, so callers can tell
    which argument was wrong.
    """
    if type(value) is Digest:
        return value
    if not isinstance(value, str):
        inner = getattr(value, "hash", None)
        if type(inner) is Digest:
            return inner
        if not isinstance(inner, str):
            raise DigestError(f"{field}: expected a digest string, got {type(value).__name__}")
        value = inner
    try:
        return Digest(value)
    except DigestError as e:
        raise DigestError(f"{field}: {e}") from None
