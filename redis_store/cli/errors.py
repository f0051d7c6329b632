"""How a command fails: the exit statuses, and the errors ``main`` turns into one line."""

from __future__ import annotations

#: Exit status of a command that ran but failed, or found something (fsck).
FAILED = 1
#: Exit status of a usage error (argparse's own).
USAGE = 2
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


class CommandError(Exception):
    """A command failed in a way worth one clear line on stderr, not a traceback."""


class UsageError(CommandError):
    """Bad arguments found after parsing (a bad digest in a list): exit 2, nothing done."""


class Misconfigured(CommandError):
    """The URL or the server's setup is wrong (no such database, not a cluster, not Redis,
    a refused password): exit 2, nothing done."""


class Interrupted(Exception):
    """Ctrl-C stopped a command that has already said where it left the store: exit 130."""
