"""Entities a store has seen, by identity: their IDs and stored values.

An import must name every entity of its report by ID before it writes (the report it stores
carries the IDs). Base layers recur in report after report, so a store remembers the
entities it read or wrote: an import whose entities are all known skips the look-up and
writes in one round trip. A remembered ID is only a guess the import script checks
(``claimable`` in ``lib.lua``): an entity reclaimed and indexed again under another ID makes
the script answer RETRY, and the import looks its entities up again.
"""

from __future__ import annotations

import threading
from typing import Final

from redis_store.store.steps import Stored

#: Entities remembered per kind; past it, the oldest half is forgotten.
REMEMBERED: Final = 65536


class KnownEntities:
    """identity hash -> (ID, stored value), per kind, and the manifest counter last seen."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._known: dict[str, dict[bytes, Stored]] = {}
        self._lock = threading.Lock()
        #: The manifest counter as last seen (None: unknown): the bucket a new manifest's
        #: ID falls in is ``(counter + 1) // 512`` unless another writer took IDs since.
        self.manifest_counter: int | None = None

    def get(self, kind: str, identity: bytes) -> Stored | None:
        table = self._known.get(kind)
        return None if table is None else table.get(identity)

    def learn(self, kind: str, entities: dict[bytes, Stored]) -> None:
        with self._lock:
            table = self._known.setdefault(kind, {})
            table.update(entities)
            if len(table) > self.size:
                for key in list(table)[: len(table) - self.size // 2]:
                    del table[key]

    def forget(self, kind: str, identities: list[bytes]) -> None:
        with self._lock:
            table = self._known.get(kind, {})
            for identity in identities:
                table.pop(identity, None)

    def saw_manifest_counter(self, value: int) -> None:
        with self._lock:
            if self.manifest_counter is None or value > self.manifest_counter:
                self.manifest_counter = value

    def clear(self) -> None:
        with self._lock:
            self._known.clear()
            self.manifest_counter = None


__all__ = ["REMEMBERED", "KnownEntities", "Stored"]
