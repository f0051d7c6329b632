"""Content types and encodings, negotiated as Clair's indexer negotiates them.

:func:`pick_content_type` is Clair's ``pickContentType`` (``httptransport/common.go``): no
``Accept`` takes the first allowed type; otherwise the listed types, stably sorted by ``q``
(1 when absent), and the first allowed type any of them matches (``*/*``, ``type/*``); none
is a 415, an unparsable entry a 400.

:func:`pick_encoding` is Clair's compression middleware (``middleware/compress``): the first
``Accept-Encoding`` entry after a stable sort by ``q`` (absent counts as 0, so listed order
wins), ``q=0`` forbids, ``*`` means gzip unless forbidden; nothing usable and identity
forbidden is a 415 with no body. Clair also offers zstd; this server offers gzip and
deflate (raw DEFLATE, as Go's ``compress/flate`` writes it), so an entry for zstd is passed
over like any encoding it does not know. Go's HTTP clients (Clair's matcher and notifier,
clairctl) ask for gzip.

Compressing a large report costs more than answering it (0.1 ms for 70 KB, 0.8 ms for
claircore's 326 KB report at gzip's fastest level, against tens of microseconds for a held
report), so :class:`GzipMemo` keeps the compressed answer of each held report, keyed by
the very bytes the local cache hands out: a hit costs no compression, and a report that
changed is compressed anew.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

#: What the answers of the indexer routes may be encoded with (the ``Accept-Encoding``
#: header of an answer that could not be encoded as asked).
ACCEPTABLE: Final = "gzip, deflate"


class NotAcceptable(Exception):
    """No common media type or encoding (415)."""


class BadAccept(ValueError):
    """An ``Accept`` header that does not parse (400)."""


def _media_type(text: str) -> tuple[str, dict[str, str]]:
    """Go's ``mime.ParseMediaType``, as far as negotiation needs it."""
    base, *params = text.split(";")
    mt = base.strip().lower()
    if not mt:
        raise BadAccept("mime: no media type")
    out: dict[str, str] = {}
    for p in params:
        key, sep, value = p.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            if p.strip():
                raise BadAccept(f"mime: invalid media parameter {p.strip()!r}")
            continue
        out[key] = value.strip().strip('"')
    return mt, out


def pick_content_type(accept: Iterable[str] | None, allow: tuple[str, ...]) -> str:
    """The answer's content type, given the request's ``Accept`` values (None: no header)."""
    if accept is None:
        return allow[0]
    ranked: list[tuple[float, str, str]] = []
    for header in accept:
        for part in header.split(","):
            mt, params = _media_type(part)
            kind, slash, sub = mt.partition("/")
            if not slash:
                raise BadAccept(f"mime: expected type/subtype, got {mt!r}")
            try:
                q = float(params["q"]) if "q" in params else 1.0
            except ValueError:
                q = 0.0
            ranked.append((q, kind, sub))
    if not ranked:
        return allow[0]
    ranked.sort(key=lambda r: -r[0])  # stable, as Go's sort.SliceStable
    for _, kind, sub in ranked:
        for a in allow:
            if kind == "*" and sub == "*":
                return a
            t, _, s = a.partition("/")
            if kind == t and (sub in (s, "*")):
                return a
    raise NotAcceptable(f"unable to negotiate common media type for {list(allow)}")


def pick_encoding(accept_encoding: str | None) -> str:
    """``gzip``, ``deflate`` or ``identity`` for the request's first ``Accept-Encoding``
    value (None: no header); :class:`NotAcceptable` when only forbidden ones remain."""
    if accept_encoding is None:
        return "identity"
    ranked: list[tuple[float, str]] = []
    forbidden: set[str] = set()
    for part in accept_encoding.split(","):
        try:
            t, params = _media_type(part)
        except BadAccept:
            continue
        if "q" in params:
            if params["q"] == "0":
                forbidden.add(t)
                continue
            try:
                q = float(params["q"])
            except ValueError:
                forbidden.add(t)
                continue
        else:
            q = 0.0
        ranked.append((q, t))
    ranked.sort(key=lambda r: -r[0])
    for _, t in ranked:
        if t in ("gzip", "x-gzip"):
            return "gzip"
        if t == "deflate":
            return "deflate"
        if t == "identity":
            return "identity"
        if t == "*":
            if "gzip" not in forbidden:
                return "gzip"
            if "identity" not in forbidden:
                return "identity"
            raise NotAcceptable("no acceptable encoding")
    if "identity" in forbidden or "*" in forbidden:
        raise NotAcceptable("no acceptable encoding")
    return "identity"


def encode(body: bytes, encoding: str) -> bytes:
    """``body`` compressed as ``gzip`` or raw ``deflate`` at the fastest level (as Clair),
    or as it is."""
    if encoding == "gzip":
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
    elif encoding == "deflate":
        c = zlib.compressobj(1, zlib.DEFLATED, -15)
    else:
        return body
    return c.compress(body) + c.flush()


class GzipMemo:
    """Gzip answers of held reports, least recently used dropped first beyond ``budget``
    bytes (the compressed answer and the JSON it was made from, which it keeps to tell a
    changed report: the same object as the local cache holds, checked by identity, then by
    content)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def gzip(self, key: str, source: bytes) -> bytes:
        if self.budget <= 0:
            return encode(source, "gzip")
        with self._lock:
            held = self._entries.get(key)
            if held is not None and (held[0] is source or held[0] == source):
                self._entries.move_to_end(key)
                self.hits += 1
                return held[1]
        compressed = encode(source, "gzip")
        cost = len(source) + len(compressed)
        with self._lock:
            self.misses += 1
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= len(old[0]) + len(old[1])
            if cost <= self.budget:
                self._entries[key] = (source, compressed)
                self.size += cost
                while self.size > self.budget:
                    _, (s, c) = self._entries.popitem(last=False)
                    self.size -= len(s) + len(c)
        return compressed

    def forget(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= len(old[0]) + len(old[1])


__all__ = [
    "ACCEPTABLE",
    "BadAccept",
    "GzipMemo",
    "NotAcceptable",
    "encode",
    "pick_content_type",
    "pick_encoding",
]
