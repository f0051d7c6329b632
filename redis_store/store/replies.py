"""Script replies: the store errors behind REDIS_STORE error replies, and small decoders."""

from __future__ import annotations

from typing import Any, Final

import orjson
from redis.exceptions import OutOfMemoryError, ResponseError

from redis_store.errors import (
    InvalidInputError,
    LockError,
    StoreError,
    UnknownLayerError,
    UnknownManifestError,
    UnknownScannerError,
)


class StaleScannersError(StoreError):
    """The scanner IDs a store cached belong to a registry the server no longer has (it lost
    its data): the store drops what it cached and tries again."""


_ERRORS: Final[dict[str, type[StoreError]]] = {
    "UNKNOWN_SCANNER": UnknownScannerError,
    "UNKNOWN_LAYER": UnknownLayerError,
    "UNKNOWN_MANIFEST": UnknownManifestError,
    "UNKNOWN_ID": InvalidInputError,
    "NAME_MISMATCH": InvalidInputError,
    "LOCK_LOST": LockError,
    "STALE_SCANNERS": StaleScannersError,
}

_MESSAGES: Final = {
    "UNKNOWN_SCANNER": "scanner is not registered: {}",
    "UNKNOWN_LAYER": "layer {} was never persisted",
    "UNKNOWN_MANIFEST": "manifest {} was never persisted",
    "UNKNOWN_ID": "{}: no such ID was assigned by this store",
    "NAME_MISMATCH": "{}: the report's package name differs from the stored package",
    "LOCK_LOST": "{}: this store's lock on the manifest was lost (it expired or another"
    " indexer took it); nothing was written",
    "STALE_SCANNERS": "{}: the server's scanner registry changed (it lost its data)",
}


def unwrap(reply: Any, subject: str = "") -> Any:
    """A script reply, or the store error its REDIS_STORE error reply stands for."""
    if isinstance(reply, ResponseError):
        text = str(reply)
        marker = text.find("REDIS_STORE ")
        if marker < 0:
            raise reply
        code, _, detail = text[marker + 12 :].partition(" ")
        detail = detail.strip()
        if code == "UNKNOWN_SCANNER":
            detail = scanner_text(detail)
        elif not detail:
            detail = subject
        elif subject:
            detail = f"{subject}: {detail}"
        raise _ERRORS.get(code, StoreError)(_MESSAGES.get(code, code + " {}").format(detail))
    if isinstance(reply, Exception):
        raise reply
    return reply


def out_of_memory(error: BaseException) -> bool:
    """Whether Redis refused a write for want of memory: its error code (the reply's first
    word) is ``OOM``, which redis-py raises as ``OutOfMemoryError``."""
    return isinstance(error, OutOfMemoryError) or (
        isinstance(error, ResponseError) and str(error).startswith("OOM ")
    )


def scanner_text(ident: str) -> str:
    try:
        name, version, kind = orjson.loads(ident.split(" ")[0] if ident[:1] != "[" else ident)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return ident
    return f"name={name!r} version={version!r} kind={kind!r}"


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
