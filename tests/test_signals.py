"""Every long-running command, stopped by signals at random moments, as operators stop them.

``timeout -s INT``, a double-tapped Ctrl-C, ``kill`` and a container runtime send SIGINT and
SIGTERM at any moment, often two within milliseconds. For each command in :data:`CASES`,
``python -m redis_store`` runs in a subprocess on a real redis-server and receives one to
three signals (SIGINT or SIGTERM, drawn at random) at a random moment of its run, a few
milliseconds apart. Whatever the moment, the command must end promptly with the status the
README promises (130 for SIGINT, 143 for SIGTERM; the command's own status if it had
finished first), print no traceback and no "Exception ignored", and leave a store that
``fsck`` finds whole, with no lock left behind.

A case is a :class:`Case` in :data:`CASES`: the command line, what the store (or the
directory it reads) holds before each run, and roughly how long it runs. ``SIGNAL_RUNS``
sets the runs per case (CI runs a few; ``SIGNAL_RUNS=40 python -m pytest
tests/test_signals.py`` for a deeper look), ``SIGNAL_SEED`` replays a failing schedule (each
failure prints its seed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from redis_store import RedisStore, ops
from redis_store.cli.interrupts import finish_first, redeliver_lost_interrupts
from redis_store.demo import workload
from tests.support.servers import RedisServer, start_redis
from tests.test_cli_helpers import populate, write_reports
from tests.test_cli_operators import env

NS = "sig"
RUNS = int(os.environ.get("SIGNAL_RUNS", "2"))
SEED = int(os.environ.get("SIGNAL_SEED", str(random.SystemRandom().randrange(1 << 30))))
#: Manifests each case starts from.
MANIFESTS = 120
#: The bits of SIGINT and SIGTERM in /proc/PID/status' SigCgt: set once the command line
#: has installed its handlers (Python catches SIGINT from start-up, SIGTERM only then).
HANDLERS = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="needs /proc to see a command start"
)


@dataclass
class World:
    """What a case runs against: a server, its store in namespace ``sig``, a directory."""

    server: RedisServer
    store: RedisStore
    tmp: Path
    #: The namespace's keys as populated once (DUMP), restored before each run.
    snapshot: list[tuple[bytes, bytes]] = field(default_factory=list)

    def restore(self) -> None:
        """Put the populated namespace back as it was (cheaper than indexing it again)."""
        client = self.server.client()
        client.flushall()
        pipe = client.pipeline(transaction=False)
        for key, dumped in self.snapshot:
            pipe.restore(key, 0, dumped)
        pipe.execute()

    def used(self) -> int:
        return int(self.server.client().info("memory")["used_memory"])


#: Below this many seconds a command's run is too short to require that most signals land
#: inside it (every run's promises are checked all the same).
MIN_WINDOW = 0.25


@dataclass(frozen=True)
class Case:
    """A long-running command: its arguments (given the world), what it starts from
    (``populated``: the namespace's manifests, else an empty server), its exit status when
    it finishes before any signal (None: it runs until stopped; ``window`` then says for
    how long signals are drawn; else the window is how long a run without them takes)."""

    argv: Callable[[World], list[str]]
    populated: bool = True
    normal: int | None = 0
    window: float = 0.0
    #: The namespace to check afterwards (the demo writes its own).
    namespace: str = NS


def _budget(w: World) -> str:
    """A budget that takes a pass a while to meet: a third of the data over it."""
    return f"{w.used() - w.used() // 3}B"


#: The long-running commands. Add a case here and it runs with the others.
CASES: dict[str, Case] = {
    "evict --watch": Case(
        lambda w: ["evict", "--max-memory", _budget(w), "--watch", "0.2", "--yes"],
        normal=None,
        window=1.5,
    ),
    "evict": Case(lambda w: ["evict", "--max-memory", _budget(w), "--yes"]),
    "import": Case(lambda w: ["import", str(w.tmp / "reports")], populated=False),
    "expire": Case(lambda w: ["expire", "--older-than", "0s", "--yes"]),
    "delete --all": Case(lambda w: ["delete", "--all", "--yes"]),
    "gc": Case(lambda w: ["gc"]),
    "fsck --repair": Case(lambda w: ["fsck", "--repair"]),
    "export --all": Case(lambda w: ["export", "--all", "--out", str(w.tmp / "out")]),
    "stats": Case(lambda w: ["stats"]),
    "list -l": Case(lambda w: ["list", "-l"]),
    "demo": Case(
        lambda w: ["demo", "--manifests", "80", "--url", w.server.url],
        populated=False,
        namespace="demo",
    ),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from tests.conftest import _require
    from tests.support.servers import redis_server_binary

    _require({"redis-server": redis_server_binary()}, "real backend")
    server = start_redis()
    store = RedisStore(server.client(), namespace=NS, local_cache=False)
    reports = list(workload.generate(MANIFESTS, 31))
    populate(store, reports)
    w = World(server, store, tmp_path_factory.mktemp("signals"))
    write_reports(w.tmp / "reports", reports)
    client = server.client()
    keys = sorted(client.scan_iter(match=store.keys.match_pattern(), count=1000))
    w.snapshot = list(zip(keys, [client.dump(k) for k in keys], strict=True))
    yield w
    store.close()
    server.stop()


def _ready(pid: int) -> bool:
    """The command (not the forked test process) has installed its signal handlers."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    if b"redis_store" not in cmdline:
        return False
    caught = next(int(line.split()[1], 16) for line in status.splitlines() if "SigCgt" in line)
    return caught & HANDLERS == HANDLERS


@dataclass
class Outcome:
    status: int
    out: str
    err: str
    sent: list[signal.Signals]


def start(case: Case, w: World, stdout: int) -> subprocess.Popen[str]:
    """The case's command in a subprocess, on the world's server; stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "redis_store", *case.argv(w), "--namespace", case.namespace],
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        # a crash (a fatal signal such as SIGSEGV) prints where it happened
        env=env(w.server.url, PYTHONFAULTHANDLER="1"),
        text=True,
    )


def run_with_signals(case: Case, w: World, rng: random.Random, window: float) -> Outcome:
    """Start the command, wait until it is running, send a burst of signals at a random
    moment of the ``window`` seconds that follow; its exit status and output."""
    proc = start(case, w, subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _ready(proc.pid) and proc.poll() is None:
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.005)
    time.sleep(rng.uniform(0, window))
    sent: list[signal.Signals] = []
    for _ in range(rng.choice((1, 2, 2, 3))):
        if proc.poll() is not None:
            break
        sig = rng.choice((signal.SIGINT, signal.SIGINT, signal.SIGTERM))
        proc.send_signal(sig)
        sent.append(sig)
        time.sleep(rng.uniform(0, 0.03))
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running 60 s after {[s.name for s in sent]}: {err[-2000:]}")
    return Outcome(proc.returncode, out, err, sent)


def check(outcome: Outcome, case: Case, w: World) -> bool:
    """The promises; whether the signals stopped the command (rather than coming too late)."""
    sent, err = outcome.sent, outcome.err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    for line in filter(None, err.splitlines()):
        assert line.startswith("redis-store "), f"not one of the command's lines: {line!r}\n{err}"
    # killed by a signal that arrived once the interpreter was exiting (it restores the
    # default dispositions last) is what a shell reports as 128 + the signal
    status = 128 - outcome.status if outcome.status < 0 else outcome.status
    stopped = {128 + s for s in sent}
    allowed = stopped if case.normal is None else {*stopped, case.normal}
    assert status in allowed, (outcome.status, [s.name for s in sent], err)
    if set(sent) == {signal.SIGTERM}:
        assert status in (143, case.normal)
    with RedisStore(w.server.client(), namespace=case.namespace, local_cache=False) as s:
        assert ops.check(s) == [], err
        assert list(s.client.scan_iter(match=f"{case.namespace}:*:lock")) == []
    return status in stopped


def prepare(case: Case, w: World) -> None:
    w.server.client().flushall()
    if case.populated:
        w.restore()


def duration(case: Case, w: World) -> float:
    """How long the command runs, from its start to its end, without signals."""
    prepare(case, w)
    proc = start(case, w, subprocess.DEVNULL)
    while not _ready(proc.pid) and proc.poll() is None:
        time.sleep(0.002)
    began = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == case.normal, err
    return time.monotonic() - began


@pytest.mark.parametrize("name", list(CASES))
def test_signals_at_random_moments(name: str, world: World) -> None:
    case = CASES[name]
    window = case.window if case.normal is None else duration(case, world)
    seed = SEED + sum(map(ord, name))
    rng = random.Random(seed)
    stopped = 0
    for run in range(RUNS):
        prepare(case, world)
        try:
            outcome = run_with_signals(case, world, rng, window)
            stopped += check(outcome, case, world)
        except AssertionError as e:
            raise AssertionError(f"{name}, run {run} (SIGNAL_SEED={SEED}): {e}") from e
    # the moments are drawn within the command's run: most runs are stopped by them, unless
    # the run is so short that its own variation from run to run is as long as the window
    if window >= MIN_WINDOW:
        assert stopped >= RUNS // 2, f"{name}: only {stopped} of {RUNS} runs were stopped"


def test_a_signal_after_the_command_finished_changes_nothing_it_printed(
    world: World,
) -> None:
    """The late window: a signal that lands while the interpreter exits ends the process
    at once, with its summary printed, never a traceback."""
    world.restore()
    rng = random.Random(SEED)
    for _ in range(max(RUNS, 3)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "redis_store", "scanners", "--namespace", NS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(world.server.url),
            text=True,
        )
        while not _ready(proc.pid) and proc.poll() is None:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err and "Exception ignored" not in err, err
        assert proc.returncode in (0, 130, -signal.SIGINT), err
        if proc.returncode == 0:
            assert out.startswith("ID  NAME")


def test_a_ctrl_c_lost_in_a_finalizer_is_delivered_again() -> None:
    """Python cannot raise from a ``__del__`` the garbage collector runs: a Ctrl-C landing
    there is printed ("Exception ignored") and dropped. The command line delivers it again
    a few milliseconds later, where it stops the command."""

    class Finalized:
        def __del__(self) -> None:
            raise KeyboardInterrupt  # what a Ctrl-C arriving in a finalizer raises

    with redeliver_lost_interrupts(), pytest.raises(KeyboardInterrupt):
        Finalized()  # dropped at once: its finalizer "raises"
        time.sleep(5)  # the Ctrl-C comes back long before this ends


def test_a_signal_while_a_step_ends_still_stops_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal can land after the step is done and before its handler is taken down: it
    is not lost (the import went on to its end before), the command stops after the step."""
    real_signal = signal.signal
    landed: list[bool] = []

    def signal_lands_first(signum: int, handler: object) -> object:
        current = signal.getsignal(signal.SIGINT)
        taking_down = "first_then_raise" in getattr(current, "__qualname__", "")
        if signum == signal.SIGINT and taking_down and not landed:
            landed.append(True)
            current(signal.SIGINT, None)  # the step's handler runs, as it would here
        return real_signal(signum, handler)  # type: ignore[arg-type]

    monkeypatch.setattr(signal, "signal", signal_lands_first)
    with pytest.raises(KeyboardInterrupt), finish_first("import"):
        pass  # the step, done
    assert landed
