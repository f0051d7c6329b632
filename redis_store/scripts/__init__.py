"""The store's Lua scripts, shipped as package data.

Each ``<name>.lua`` is prefixed with ``lib.lua`` (shared helpers) and registered once per
client with ``register_script``; front ends send them with EVALSHA and reload them on
NOSCRIPT, so a server restart or ``SCRIPT FLUSH`` is survived.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final

NAMES: Final = (
    "register_scanners",
    "persist_manifest",
    "set_layer_scanned",
    "set_index_report",
    "set_index_finished",
    "index_packages",
    "index_entities",
    "by_layer",
    "manifest_plan",
    "index_manifest",
    "delete_manifest",
    "lock",
    "affected_candidates",
    "manifests_of",
    "index_report",
    "gc_layer",
    "gc_entities",
    "gc_record",
    # Redis Cluster steps, one slot each (redis_store.store.cluster)
    "c_persist",
    "c_new_id",
    "c_drop_id",
    "c_take",
    "c_append",
    "c_release_all",
    "c_check_records",
    "c_switch",
    "c_settle",
    "c_rec_add",
    "c_rec_remove",
    "c_delete_manifest",
    "c_layer_leave",
)


@dataclass(frozen=True, slots=True)
class ScriptSource:
    """One script's full source and its SHA1, as EVALSHA needs it."""

    name: str
    source: str
    sha: str


def _read(name: str) -> str:
    return (files(__package__) / f"{name}.lua").read_text(encoding="utf-8")


@cache
def source(name: str) -> ScriptSource:
    """The script ``name`` with the shared helpers prepended."""
    if name not in NAMES:
        raise KeyError(name)
    text = _read("lib") + "\n" + _read(name)
    return ScriptSource(name, text, hashlib.sha1(text.encode()).hexdigest())


#: Scripts that never write. Everything else is a write, so a new script is treated as one
#: (and covered by ``wait_replicas``) unless it is listed here.
READ_ONLY: Final = frozenset(
    {
        "layer_scanned",
        "manifest_scanned",
        "by_layer",
        "manifest_plan",
        "affected_candidates",
        "manifests_of",
    }
)
#: Writes not worth waiting for: ``index_report`` only records the read time (``used``,
#: for expiry), which may be lost in a failover without harm; ``lock`` takes, renews and
#: releases manifest locks, which expire by themselves (waiting could fail an acquire whose
#: lock was taken, leaving it held until it expires).
NO_WAIT: Final = READ_ONLY | {"index_report", "lock"}
#: The prefix of the Redis Cluster variants of a script (``c_persist`` ...).
CLUSTER_PREFIX: Final = "c_"


def is_write(name: str) -> bool:
    """Whether a batch calling script ``name`` must be followed by WAIT (``wait_replicas``).

    A cluster variant ``c_<x>`` follows the rule of ``<x>``; a name not known to be
    read-only counts as a write, so forgetting to list a new script errs on the safe side.
    """
    base = name.removeprefix(CLUSTER_PREFIX)
    return name not in NO_WAIT and base not in NO_WAIT


#: The package's scripts that write (``is_write``), for ``wait_replicas``.
WRITES: Final = frozenset(name for name in NAMES if is_write(name))


__all__ = [
    "CLUSTER_PREFIX",
    "NAMES",
    "NO_WAIT",
    "READ_ONLY",
    "WRITES",
    "ScriptSource",
    "is_write",
    "source",
]
