"""Whether a cache tier holds every finished manifest its origin holds: the mirror mark.

A tier answers ``affected_manifests`` from what it holds, so it may answer for the origin
only while it holds everything the origin holds; otherwise an answer would silently miss
manifests. The tier cannot list the origin each time, so it keeps a *mark* (``ns:{g}:mirror``)
and lets the store's own bookkeeping say when the mark stopped being true:

* A fill that imported every manifest the origin listed sets the mark
  (:func:`begin_fill` before listing, :func:`mark_complete` after), recording how many
  manifests the store had ever deleted when the fill began.
* Every deletion, by any path (``evict``, ``expire``, ``delete``, a ``delete_manifests``
  call, a report replaced), is counted by the store itself: manifest IDs handed out minus
  the manifest table's entries. No deleter has to remember the mark.
* A deletion the origin made too (the server forwards a DELETE, then deletes its copy) is
  accounted for with :func:`note_mirrored`.

The tier is a complete mirror while ``deleted == base + mirrored``: any other deletion
makes it incomplete until the next complete fill. Manifests indexed through the tier are
imported as they finish, so they keep it complete; a manifest indexed at the origin behind
the tier's back is not seen (route every indexer client through the tier before the fill).
A data loss takes the mark with everything else. Reading the mark and the counts is one
script (atomic, one round trip); a reader that needs its whole answer covered checks it
before and after (:meth:`MirrorStatus.same_mark`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis_store.store.calls import Op, ScriptCall
from redis_store.store.replies import unwrap

if TYPE_CHECKING:
    from redis_store.store import AsyncRedisStore, RedisStore
    from redis_store.store.core import StoreCore


@dataclass(frozen=True, slots=True)
class MirrorStatus:
    """The mark and the store's counts, read at one instant."""

    #: Manifests the store ever deleted (IDs handed out minus the manifest table).
    deleted: int
    #: Manifests held now.
    manifests: int
    #: Whether a complete fill set a mark.
    marked: bool = False
    #: The deletion count when the fill began, and deletions the origin made too since.
    base: int = 0
    mirrored: int = 0
    #: The origin the fill read, when it was marked (Unix time) and how many it held then.
    origin: str = ""
    since: int = 0
    manifests_at_mark: int = 0

    @property
    def complete(self) -> bool:
        """Whether the tier holds every finished manifest its origin holds."""
        return self.marked and self.deleted == self.base + self.mirrored

    @property
    def reason(self) -> str:
        """Why the tier is not complete ("" when it is)."""
        if not self.marked:
            return "never marked complete: no fill of everything the origin lists since"
        extra = self.deleted - self.base - self.mirrored
        if extra > 0:
            return f"{extra} manifests deleted here but not at the origin since the fill"
        if extra < 0:
            return "the mark does not match this store's counts (marked on another data set)"
        return ""

    def same_mark(self, other: MirrorStatus) -> bool:
        """Whether nothing changed completeness between two reads (an answer read between
        them covered every manifest when both are complete)."""
        return self.complete and other.complete and self.deleted == other.deleted

    def as_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "marked": self.marked,
            "reason": self.reason or None,
            "origin": self.origin or None,
            "since": self.since or None,
            "manifests": self.manifests,
            "manifests_at_mark": self.manifests_at_mark if self.marked else None,
            "deleted_since_mark": (self.deleted - self.base) if self.marked else None,
            "deleted_at_origin_too": self.mirrored if self.marked else None,
        }


@dataclass(frozen=True, slots=True)
class FillStart:
    """What :func:`begin_fill` read: the deletion count the fill begins at."""

    deleted: int


def _status(reply: Any) -> MirrorStatus:
    deleted, held, flat = unwrap(reply)
    fields = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
    if "base" not in fields:
        return MirrorStatus(int(deleted), int(held))
    return MirrorStatus(
        int(deleted),
        int(held),
        marked=True,
        base=int(fields["base"]),
        mirrored=int(fields.get("mirrored", "0")),
        origin=fields.get("origin", ""),
        since=int(fields.get("since", "0")),
        manifests_at_mark=int(fields.get("manifests", "0")),
    )


def _call(core: StoreCore, script: str, *args: str | int) -> Op[MirrorStatus]:
    k = core.keys
    (reply,) = yield [ScriptCall(script, [k.mirror, k.seq, k.manifests], list(args))]
    return _status(reply)


def status_op(core: StoreCore) -> Op[MirrorStatus]:
    """The mark and the counts (one read-only script)."""
    return _call(core, "mirror_status")


def mark_op(core: StoreCore, start: FillStart, origin: str) -> Op[MirrorStatus]:
    return _call(core, "mirror_mark", "mark", start.deleted, origin)


def mirrored_op(core: StoreCore, count: int) -> Op[MirrorStatus]:
    return _call(core, "mirror_mark", "mirrored", count)


def clear_op(core: StoreCore) -> Op[MirrorStatus]:
    return _call(core, "mirror_mark", "clear")


# -- blocking stores (the fill, the command line) ---------------------------------------------


def status(store: RedisStore) -> MirrorStatus:
    """Whether ``store`` is a complete mirror of its origin, and why not."""
    return store._run(status_op(store))


def begin_fill(store: RedisStore) -> FillStart:
    """Call before a fill lists the origin; hand the result to :func:`mark_complete`."""
    return FillStart(status(store).deleted)


def mark_complete(store: RedisStore, start: FillStart, *, origin: str) -> MirrorStatus:
    """Mark the tier complete after a fill that imported every manifest the origin listed
    (none failed, none left out, not interrupted). A deletion made here since
    :func:`begin_fill` leaves it incomplete, as it should."""
    return store._run(mark_op(store, start, origin))


def note_mirrored(store: RedisStore, count: int) -> MirrorStatus:
    """``count`` deletions made here were made at the origin too."""
    return store._run(mirrored_op(store, count))


def clear(store: RedisStore) -> MirrorStatus:
    """Forget the mark: the tier no longer claims to be complete."""
    return store._run(clear_op(store))


# -- asyncio stores (the server) ---------------------------------------------------------------


async def status_async(store: AsyncRedisStore) -> MirrorStatus:
    return await store._run(status_op(store))


async def note_mirrored_async(store: AsyncRedisStore, count: int) -> MirrorStatus:
    return await store._run(mirrored_op(store, count))


async def clear_async(store: AsyncRedisStore) -> MirrorStatus:
    return await store._run(clear_op(store))


__all__ = [
    "FillStart",
    "MirrorStatus",
    "begin_fill",
    "clear",
    "clear_async",
    "mark_complete",
    "note_mirrored",
    "note_mirrored_async",
    "status",
    "status_async",
]
