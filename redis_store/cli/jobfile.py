"""``--metrics-file``: an ops command's figures for node_exporter's textfile collector.

The command sets its figures on the :class:`JobRun`; the file is written when the command
ends, however it ends (``redis_store_job_success 0`` when it failed or was interrupted), by
:class:`redis_store.observe.textfile.JobFile`, atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redis_store.cli.errors import CommandError, UsageError
from redis_store.observe import textfile


class JobRun:
    """What a command reports about its run; ``file`` is None without --metrics-file."""

    def __init__(
        self, file: textfile.JobFile | None, job: str = "", path: str | None = None
    ) -> None:
        self.file = file
        self.job, self.path = job, path
        #: Set False by a command that stopped before its end (interrupted, aborted).
        self.completed = True
        self.dry_run = False

    def publish(self, seconds: float, *, success: bool) -> None:
        """Write the figures now (a command that runs until stopped does so after each
        pass); nothing without --metrics-file."""
        if self.file is None or self.path is None:
            return
        self.file.run(self.job, seconds=seconds, success=success, dry_run=self.dry_run)
        self.file.write(self.path)


@contextmanager
def job_metrics(args: argparse.Namespace, job: str) -> Iterator[JobRun]:
    """The run of ``job``, its figures written to ``--metrics-file`` (if given) at the end."""
    path: str | None = getattr(args, "metrics_file", None)
    if path is None:
        yield JobRun(None)
        return
    if not textfile.available():
        raise UsageError(
            "--metrics-file needs prometheus_client: pip install 'redis-store[metrics]'"
        )
    if not Path(path).parent.is_dir():
        raise UsageError(f"--metrics-file {path}: no such directory {str(Path(path).parent)!r}")
    run = JobRun(textfile.JobFile(args.namespace), job, path)
    start = time.perf_counter()
    failed = True
    try:
        yield run
        failed = False
    finally:
        try:
            run.publish(time.perf_counter() - start, success=run.completed and not failed)
        except OSError as e:
            message = f"cannot write --metrics-file {path}: {e.strerror or e}"
            if failed:  # the command's own error is the one to report
                print(f"redis-store {args.command}: {message}", file=sys.stderr)
            else:
                raise CommandError(message) from None
