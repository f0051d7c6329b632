"""Checks of the library's options (durations, yes/no flags), named in the error.

A leaf module (it needs only the errors), so that the store, its locks and the cache tier's
origins check their options alike without importing one another.
"""

from __future__ import annotations

import math
from typing import Final

from redis_store.errors import InvalidInputError

#: A duration option (a lock's time to live, WAIT's timeout) in seconds: its milliseconds
#: must be at least 1, and small enough for Redis to add to its clock.
LEAST_SECONDS: Final = 0.001
MOST_SECONDS: Final = 1e9


def flag(value: object, what: str) -> bool:
    """A yes/no option: a bool, nothing else (a string "false" is true in Python)."""
    if type(value) is not bool:
        raise InvalidInputError(f"{what}: expected True or False, got {type(value).__name__}")
    return value


def seconds(
    value: object, what: str, *, least: float = LEAST_SECONDS, most: float = MOST_SECONDS
) -> float:
    """A duration option: a number of seconds from ``least`` to ``most`` (a lock's time to
    live of 1e-9 s is 0 ms, and 2**64 s overflows Redis' clock: both fail later in Redis)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{what}: expected seconds (a number), got {type(value).__name__}")
    try:
        n = float(value)
    except OverflowError:
        n = math.inf
    if not least <= n <= most:
        raise InvalidInputError(f"{what}: {value!r} seconds is not from {least:g} to {most:g}")
    return n


__all__ = ["LEAST_SECONDS", "MOST_SECONDS", "flag", "seconds"]
