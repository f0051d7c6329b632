"""An IndexReport decoded from its JSON on first use.

``index_report`` hands out a :class:`LazyIndexReport`: an :class:`IndexReport` whose fields
are decoded from the stored JSON the first time any of them is read. Building a report's
dataclasses costs several times what parsing its JSON does; a caller that only checks that
a report exists, or forwards it, never pays for it, and one that reads it pays once. Each
instance decodes its own objects from immutable bytes, so no two callers share anything
mutable. Equality, ``repr``, ``dataclasses.replace``, copies and pickling behave as for an
``IndexReport``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from redis_store.codec.wire import decode_index_report
from redis_store.models import IndexReport

_FIELDS: Final = tuple(f.name for f in dataclasses.fields(IndexReport))
_set = object.__setattr__


class LazyIndexReport(IndexReport):
    """An :class:`IndexReport` whose fields are decoded from ``source`` on first access."""

    __slots__ = ("_source",)

    @classmethod
    def of(cls, source: bytes) -> LazyIndexReport:
        """A report to be decoded from claircore JSON ``source`` when first read."""
        report: LazyIndexReport = object.__new__(cls)
        _set(report, "_source", source)
        return report

    def __getattr__(self, name: str) -> Any:
        # only reached for a field not decoded yet (an empty slot), or an unknown name
        if name in _FIELDS:
            try:
                source = object.__getattribute__(self, "_source")
            except AttributeError:
                pass
            else:
                decoded = decode_index_report(source)
                for f in _FIELDS:
                    _set(self, f, getattr(decoded, f))
                object.__delattr__(self, "_source")
                return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexReport):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, as IndexReport

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS)
        return f"IndexReport({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        # copies and pickles are plain IndexReports with every field decoded
        return (IndexReport, tuple(getattr(self, f) for f in _FIELDS))


__all__ = ["LazyIndexReport"]
