"""The documentation's examples as tests: what a page shows must be what the code does.

A page's fenced blocks are checked by kind:

* ``python``: run as written (``RedisStore.from_url`` and its asyncio twin give stores on an
  in-process fakeredis, so a URL need not answer); ``py``: compiled only (a Sentinel or a
  cluster that is not there);
* ``console``: every ``$ redis-store ...`` line parses with the real command line, and every
  ``python scripts/X.py`` names a script that exists. A console block under an HTML comment
  ``<!-- session: NAME -->`` is also *run*: its commands go, in page order, to one ``bash``
  per session (so ``export``, ``cd`` and ``&`` jobs carry over), in a scratch copy of the
  checkout's layout, against a Redis the session starts; what each prints (stdout and
  stderr) must equal what the page shows, numbers aside (:func:`normalise`), a ``...`` line
  standing for any lines.

A session's comment may add ``needs: postgres`` (``$CLAIR_DB`` is then a scratch PostgreSQL
database, and ``127.0.0.1:47799`` in the page names it) and ``needs: shared`` (claircore's
reports in ``../shared``). A ``$ redis-server ...`` line is not run: it says how to start
the session's Redis, which the harness starts with those settings on a free port; the page's
``localhost:6379`` names it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: A fenced block: its info string and body, and the HTML comment just before it, if any.
FENCE = re.compile(
    r"(?:<!--\s*(?P<note>[^>]*?)\s*-->\s*\n)?```(?P<info>[\w-]*)\n(?P<body>.*?)```", re.S
)
NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
#: Where a page's Redis and PostgreSQL are, as it names them.
PAGE_REDIS = "localhost:6379"
PAGE_POSTGRES = "127.0.0.1:47799"
END = "\x1fDOCDONE"


@dataclass
class Block:
    page: Path
    line: int
    info: str
    body: str
    #: The session it belongs to (None: not run), and what it needs.
    session: str | None = None
    needs: frozenset[str] = frozenset()

    def where(self) -> str:
        return f"{self.page.name}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """Every fenced block of a markdown page, with its session, if any."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start("info")) + 1
        b = Block(page, line, m["info"], m["body"])
        note = m["note"] or ""
        for part in (p.strip() for p in note.split(";")):
            key, _, value = part.partition(":")
            if key.strip() == "session":
                b.session = value.strip()
            elif key.strip() == "needs":
                b.needs = frozenset(value.split())
        out.append(b)
    return out


@dataclass
class Step:
    """One ``$`` command of a console block and what the page shows it printing."""

    command: str
    shown: list[str]
    block: Block


def steps(block: Block) -> list[Step]:
    """The commands of a console block (a line ending in ``\\`` continues on the next)."""
    out: list[Step] = []
    lines = block.body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + "\n" + lines[i]
            out.append(Step(command, [], block))
        elif out:
            out[-1].shown.append(line)
        i += 1
    return out


def normalise(line: str) -> str:
    """A line as compared: numbers (sizes, times, counts, ports) and spacing aside."""
    line = line.replace("localhost", "127.0.0.1")
    line = NUMBER.sub("N", line)
    return " ".join(line.split())


def differences(shown: list[str], got: list[str]) -> str | None:
    """None when ``got`` is what the page shows (a ``...`` line matches any lines)."""
    want = [normalise(x) for x in shown]
    have = [normalise(x) for x in got]

    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(have)
        if want[i] == "...":
            return any(match(i + 1, k) for k in range(j, len(have) + 1))
        return j < len(have) and want[i] == have[j] and match(i + 1, j + 1)

    if match(0, 0):
        return None
    return "shown:\n  " + "\n  ".join(shown) + "\ngot:\n  " + "\n  ".join(got)


def redis_store_argv(command: str) -> list[list[str]]:
    """The argument lists of every ``redis-store`` invocation in a shell command line."""
    out: list[list[str]] = []
    # what the shell would expand stands for a value: a number, a digest, a word
    command = re.sub(r"\$\(\([^()]*\)\)", "1", command)
    while re.search(r"\$\([^()]*\)", command):
        command = re.sub(r"\$\([^()]*\)", "sha256:" + "0" * 64, command)
    try:
        words = shlex.split(command.replace("|", " | ").replace(";", " ; "), comments=True)
    except ValueError:
        return out
    current: list[str] | None = None
    for w in [*words, "|"]:
        if w in ("|", ";", "&&", "||", "&") or w.startswith((">", "<")) or w in ("2>&1",):
            if current is not None:
                out.append(current)
            current = None
        elif w == "redis-store":
            current = []
        elif current is not None:
            current.append(w)
    return out


@dataclass
class Shell:
    """One bash for a session: commands run in turn, their output read up to a marker."""

    cwd: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            env=self.env,
        )
        os.set_blocking(self.proc.stdout.fileno(), False)  # type: ignore[union-attr]

    def run(self, command: str, timeout: float = 300) -> tuple[list[str], int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # the marker keeps $? for the next command (an `echo $?` asks about this one)
        marker = f"__s=$?; printf '{END} %s\\n' $__s; (exit $__s)"
        self.proc.stdin.write(f"{command}\n{marker}\n".encode())
        self.proc.stdin.flush()
        data = b""
        deadline = time.monotonic() + timeout
        while END.encode() not in data:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command!r} still running after {timeout} s: {data!r}")
            chunk = self.proc.stdout.read()
            if chunk:
                data += chunk
            else:
                time.sleep(0.01)
        text = data.decode(errors="replace")
        output, _, status = text.partition(END)
        return output.splitlines(), int(status.split()[0])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def server_settings(command: str) -> list[str]:
    """The settings of a page's ``redis-server`` line, but its port and ``--daemonize``."""
    out: list[str] = []
    words = iter(shlex.split(command)[1:])
    for w in words:
        if w in ("--port", "--daemonize"):
            next(words, None)
            continue
        out.append(w)
    return out


def scratch_checkout(root: Path, shared: Path | None) -> Path:
    """A directory laid out as a checkout (``scripts/`` and ``../shared`` where the page
    expects them) but empty, so what the session writes stays out of the real one."""
    top = Path(tempfile.mkdtemp(prefix="redis-store-docs-"))
    work = top / "checkout"
    work.mkdir()
    for name in ("scripts", "benchmarks", "docker-compose.yml"):
        (work / name).symlink_to(root / name)
    if shared is not None:
        (top / "shared").symlink_to(shared)
    bin_dir = top / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "redis-store"
    wrapper.write_text(
        f'#!/bin/sh\nexec "{os.environ.get("PYTHON", "python")}" -m redis_store "$@"\n'
    )
    wrapper.chmod(0o755)
    return work


__all__ = [
    "PAGE_POSTGRES",
    "PAGE_REDIS",
    "Block",
    "Shell",
    "Step",
    "blocks",
    "differences",
    "normalise",
    "redis_store_argv",
    "scratch_checkout",
    "server_settings",
    "steps",
]
