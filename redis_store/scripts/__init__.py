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
    "layer_scanned",
    "manifest_scanned",
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


__all__ = ["NAMES", "ScriptSource", "source"]
