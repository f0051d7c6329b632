"""The store's Lua scripts, shipped as package data.

Each script is a ``.lua`` file: the single-server scripts here, the Redis Cluster steps (one
slot each) in ``cluster/``. Every file starts with a header that names each ``KEYS`` and
``ARGV`` slot. ``lib.lua`` (shared helpers) is put in front of each script, which is then
registered once per client and sent by SHA (EVALSHA); the front ends reload the scripts on
NOSCRIPT, so a server restart or ``SCRIPT FLUSH`` is survived. A Lua error names the file
and line it happened in (:func:`explain_error`), not the line of the combined source.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final

#: The folder of the Redis Cluster steps; their names start with it (``cluster/take_entities``).
CLUSTER: Final = "cluster/"
LIB: Final = "lib"


def _names() -> tuple[str, ...]:
    root = files(__package__)
    top = sorted(p.name[:-4] for p in root.iterdir() if p.name.endswith(".lua"))
    steps = sorted(p.name[:-4] for p in (root / "cluster").iterdir() if p.name.endswith(".lua"))
    return tuple([n for n in top if n != LIB] + [CLUSTER + n for n in steps])


#: Every script, by name: ``persist_manifest``, ``cluster/persist_manifest`` ...
NAMES: Final = _names()


@dataclass(frozen=True, slots=True)
class ScriptSource:
    """One script's full source (``lib.lua`` in front) and its SHA1, as EVALSHA needs it."""

    name: str
    source: str
    sha: str
    #: Lines of the combined source before the script's own first line.
    offset: int

    def locate(self, line: int) -> str:
        """``file:line`` of a line of the combined source."""
        if line > self.offset:
            return f"{self.name}.lua:{line - self.offset}"
        return f"{LIB}.lua:{line}"


def _read(name: str) -> str:
    return (files(__package__) / f"{name}.lua").read_text(encoding="utf-8")


@cache
def source(name: str) -> ScriptSource:
    """The script ``name`` with the shared helpers in front."""
    if name not in NAMES:
        raise KeyError(name)
    lib = _read(LIB) + "\n"
    text = lib + _read(name)
    return ScriptSource(name, text, hashlib.sha1(text.encode()).hexdigest(), lib.count("\n"))


#: Where Redis (``user_script:12``) and fakeredis's Lua (``[string "<python>"]:12``) put the
#: line of the combined source in an error message.
_LINE: Final = re.compile(r'(@?user_script|\[string "<python>"\]):(\d+)')


def explain_error(name: str, message: str) -> str:
    """A Lua error message of script ``name`` with every line of the combined source
    replaced by the file and line it is in (``index_manifest.lua:31``, ``lib.lua:80``)."""
    script = source(name)
    return _LINE.sub(lambda m: script.locate(int(m.group(2))), message)


#: Scripts that never write. Everything else is a write, so a new script is treated as one
#: (and covered by ``wait_replicas``) unless it is listed here.
READ_ONLY: Final = frozenset(
    {"by_layer", "manifest_plan", "affected_candidates", "manifests_of", "mirror_status"},
)
#: Writes not worth waiting for: ``scanner_ids`` only sets the registry's epoch if it has
#: none (lost in a failover, it is set again, and stores merely re-read their IDs);
#: ``record_use`` only records a read time (``used``,
#: for expiry), which may be lost in a failover without harm; ``lock`` takes, renews and
#: releases manifest locks, which expire by themselves (waiting could fail an acquire whose
#: lock was taken, leaving it held until it expires).
NO_WAIT: Final = READ_ONLY | {"scanner_ids", "record_use", "lock"}


def is_write(name: str) -> bool:
    """Whether a batch calling script ``name`` must be followed by WAIT (``wait_replicas``).

    A name not known to be read-only counts as a write, so forgetting to list a new script
    errs on the safe side. (Every cluster step writes; ``wait_replicas`` is refused on a
    cluster anyway.)
    """
    return name not in NO_WAIT


#: The package's scripts that write (``is_write``), for ``wait_replicas``.
WRITES: Final = frozenset(name for name in NAMES if is_write(name))


__all__ = [
    "CLUSTER",
    "NAMES",
    "NO_WAIT",
    "READ_ONLY",
    "WRITES",
    "ScriptSource",
    "explain_error",
    "is_write",
    "source",
]
