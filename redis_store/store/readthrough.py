"""Read-through: a miss answered from the cache tier's origin, imported whole.

A store built with an origin (:mod:`redis_store.tier`) calls :func:`fill` when
``index_report``, ``index_report_json`` or ``manifest_scanned`` finds nothing. Under the
manifest's lock, so that concurrent misses in any number of processes fetch once, it looks
again (another process may have imported the manifest meanwhile), asks the origin (a
:class:`~redis_store.store.calls.Fetch` the front end carries out), checks the answer, and
imports it with the store's own import (:mod:`redis_store.store.importing`): one script
call that writes the report whole or not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from redis_store.codec.wire import report_from_obj
from redis_store.errors import OriginError, StoreError
from redis_store.models import Digest, IndexReport
from redis_store.store import locks
from redis_store.store.calls import Command, Fetch, Op
from redis_store.store.finished import take_apart_json
from redis_store.store.importing import Prepared, prepare
from redis_store.store.replies import unwrap

if TYPE_CHECKING:
    from redis_store.store.core import StoreCore
    from redis_store.tier.origins import ReadThrough


def fill(core: StoreCore, tier: ReadThrough, d: Digest, *, known_absent: bool) -> Op[bool]:
    """Import manifest ``d`` from the origin if it has no report here. True when a finished
    report is stored now (imported by this call or, while it waited, by another)."""
    if tier.recently_absent(d):
        return False
    k = core.keys
    if not known_absent:
        (found,) = yield [Command(("EXISTS", k.report(d)))]
        if unwrap(found):
            return False  # the manifest is known here: nothing to read through
    own = None if d in tier.filling else core._held_locks.get(d)
    if own is not None:  # the caller holds the manifest's lock itself
        return (yield from _import(core, tier, d))
    token = locks.new_token()
    yield from locks.acquire(d, k.lock(d), token, core.lock_ttl, locks.Backoff(True, tier.wait))
    core._held_locks[d] = token
    tier.filling.add(d)
    try:
        done = yield from _import(core, tier, d)
    except GeneratorExit:  # the caller went away: the lock expires by itself
        _let_go(core, tier, d)
        raise
    except BaseException:
        _let_go(core, tier, d)
        yield from locks.lock_op(k.lock(d), "release", token, core.lock_ttl)
        raise
    _let_go(core, tier, d)
    yield from locks.lock_op(k.lock(d), "release", token, core.lock_ttl)
    return done


def _let_go(core: StoreCore, tier: ReadThrough, d: Digest) -> None:
    core._held_locks.pop(d, None)
    tier.filling.discard(d)


def _import(core: StoreCore, tier: ReadThrough, d: Digest) -> Op[bool]:
    """With the lock held: look again, fetch, check, import."""
    k = core.keys
    (found,) = yield [Command(("EXISTS", k.report(d)))]
    if unwrap(found):
        tier.count("imported_elsewhere")
        _forget_cached(core, d)
        return True
    tier.count("fetched")
    try:
        (source,) = yield Fetch(d)
        report = None if source is None else decode(tier.origin.name, d, source)
    except OriginError:
        tier.count("failed")
        raise
    if report is None:
        tier.count("not_found")
        tier.note_absent(d)
        return False
    try:
        yield from core.importing(report)
    except StoreError:
        tier.count("failed")
        raise
    tier.count("imported")
    return True


def decode(name: str, d: Digest, source: bytes) -> Prepared | None:
    """The origin's answer ready to import (taken apart straight from its JSON when it is
    well formed), None when it is not a finished report yet (Clair is still indexing it, or
    failed to); an :class:`OriginError` when it cannot be imported whole. ``name`` is the
    origin's, for messages."""
    f = take_apart_json(source)
    if f is not None:
        if f.digest != d:
            raise _other(name, d, f.digest)
        return Prepared(f, lambda: IndexReport.from_json(source))
    try:
        obj = orjson.loads(source)
    except orjson.JSONDecodeError as e:
        raise OriginError(
            f"{name}: {d}: the answer is not JSON ({e})", origin=name, digest=d
        ) from e
    try:
        report = report_from_obj(obj)
    except (StoreError, ValueError, TypeError, KeyError) as e:
        raise OriginError(
            f"{name}: {d}: the answer is not an IndexReport ({e})", origin=name, digest=d
        ) from e
    if report.hash != d:
        raise _other(name, d, report.hash)
    if not report.success:
        return None
    try:
        return prepare(report)
    except (StoreError, ValueError) as e:
        raise OriginError(
            f"{name}: {d}: cannot import the report: {e}", origin=name, digest=d
        ) from e


def _other(name: str, d: Digest, other: object) -> OriginError:
    return OriginError(f"{name}: {d}: the answer is the report of {other}", origin=name, digest=d)


def _forget_cached(core: StoreCore, d: Digest) -> None:
    """What the local cache kept of the manifest before the import (its absence) goes; the
    server's invalidation of the same keys may come later than the caller's next read."""
    if core.cache is not None:
        k = core.keys
        core.cache.invalidate([k.report(d), k.manifest_scanned(d)])


__all__ = ["decode", "fill"]
