"""An origin (``--from``, ``--through``) opened for a command: checked first, as the store is.

One round trip before the command does anything (the database's claircore tables, or the
indexer's state) turns a wrong URL, a refused token or a database that is not Clair's into
one line and exit status 2, and an origin out of reach into one line and exit status 1,
rather than a summary of nothing followed by a library's error
(:mod:`redis_store.tier.diagnose`).
"""

from __future__ import annotations

from redis_store.cli.errors import CommandError, Misconfigured
from redis_store.errors import OriginError
from redis_store.tier import Origin


def failure(error: OriginError) -> CommandError:
    """The command-line error for an origin's failure: exit 2 when it is misconfigured."""
    return (Misconfigured if error.misconfigured else CommandError)(str(error))


def checked(origin: Origin) -> Origin:
    """``origin``, once it has answered its check (origins without one are taken as they are);
    closed, and the failure raised as a command-line error, when it has not."""
    check = getattr(origin, "check", None)
    if check is None:
        return origin
    try:
        check()
    except OriginError as e:
        origin.close()
        raise failure(e) from None
    return origin


__all__ = ["checked", "failure"]
