"""Case 10: SIGTERM to the daemon while it is still starting programs.

Invariant: shutdown can interrupt start-up at any point. SIGTERM to a
daemon whose 100 processes are still inside their 3 s start makes it stop
them all and exit 0 within stop_timeout + 1 s, logging that it received
SIGTERM; no program process starts after the signal and none is left
when the daemon is gone. A second SIGTERM restarts nothing; a second
SIGINT kills what is left at once. The circus file, whose `warmup_delay`
corral does not have, is either accepted or refused with that key named.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time

from tests.cases.conftest import (
    boot_ticks,
    configure,
    one_line,
    send,
    start_ticks,
    stat_fields,
    wait_exit,
)
from tests.conftest import LONG, POLL, SHORT, Env, pid_alive, wait_for

SLOWSTART = """\
#!/bin/sh
# pretends to need 3 s before it is "up", then runs forever
echo "starting $1"
sleep 3
echo "up $1"
exec python3 -c "import time; time.sleep(100000)" CORRAL_CASE_10
"""

CONFIGS = {
    "toml": """\
        [programs.slow]
        cmd = "./slowstart.sh slow"
        numprocs = 100
        stop_timeout = 3
        stdout = "logs/slow.out.log"
    """,
    "circus": """\
        [watcher:slowstart]
        cmd = python3 -c "import time; time.sleep(100000)" CORRAL_CASE_10
        numprocesses = 6
        warmup_delay = 3
    """,
}

# For the "second signal" facts something must still be stopping when the
# second signal comes: the inline sleeper of the case, ignoring SIGTERM.
STUBBORN = {
    "toml": """\
        [programs.slow]
        cmd = ["python3", "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ignoring TERM', flush=True); time.sleep(100000)", "CORRAL_CASE_10"]
        numprocs = 3
        stop_timeout = 3
        stdout = "logs/slow.out.log"
    """,
}

MARK = "CORRAL_CASE_10"
STOP_TIMEOUT = 3.0
EXIT_WITHIN = STOP_TIMEOUT + 1


def program_processes(env: Env) -> dict[int, int | None]:
    """The case's program processes (not their `sleep 3`), with start ticks."""
    return {pid: start_ticks(pid) for pid, cmd in env.processes().items()
            if MARK in cmd or "slowstart.sh" in cmd}


def children_of(parent: int) -> dict[int, int | None]:
    """Program processes among PARENT's children, with their start ticks.

    Programs are the daemon's direct children, so this sees every new one
    while reading little of /proc: cheap enough to look often without
    slowing down the daemon being timed. The daemon is a subreaper, so a
    `sleep 3` orphaned by its killed shell also becomes its child; only
    the case's program command lines count.
    """
    found: dict[int, int | None] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = stat_fields(int(entry))
        if fields is None or int(fields[1]) != parent:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if MARK.encode() in cmd or b"slowstart.sh" in cmd:
            found[int(entry)] = int(fields[19])
    return found


class Watcher(threading.Thread):
    """Snapshots of the daemon's children, from now until `stop`."""

    def __init__(self, daemon: int) -> None:
        super().__init__(daemon=True)
        self.parent = daemon
        self.snapshots: list[dict[int, int | None]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.snapshots.append(children_of(self.parent))
            self.done.wait(POLL)

    def stop(self) -> list[dict[int, int | None]]:
        self.done.set()
        self.join()
        return self.snapshots


def assert_never_grew(snapshots: list[dict[int, int | None]], sent: float) -> None:
    """No process started after SENT (boot ticks); counts only went down."""
    tick = 1  # /proc start times have a resolution of one clock tick
    late = {pid: t for snap in snapshots for pid, t in snap.items()
            if t is not None and t > sent + tick}
    assert late == {}, f"started after the SIGTERM: {late}"
    counts = [len(snap) for snap in snapshots]
    assert all(b <= a for a, b in itertools.pairwise(counts)), counts
    first = set(snapshots[0])
    assert all(set(snap) <= first for snap in snapshots), "a new process appeared"


def signal_daemon(daemon: subprocess.Popen[bytes], sig: int) -> tuple[float, float, Watcher]:
    """Send SIG to the daemon and watch its children from that moment.

    Returns the boot tick and the monotonic time it was sent at, and the
    running watcher.
    """
    watcher = Watcher(daemon.pid)
    sent, began = boot_ticks(), time.monotonic()
    send(daemon, sig)
    watcher.start()
    return sent, began, watcher


def sigterm_during_start(env: Env, after: float = 0.3) -> tuple[
        int, float, float, list[dict[int, int | None]]]:
    """The case's run: SIGTERM AFTER s past `corral up`, 100 slow starts.

    Returns the daemon's exit status, the boot tick the signal was sent
    at, how long the daemon took to exit, and what was running meanwhile.
    """
    env.write("slowstart.sh", SLOWSTART, mode=0o755)
    case = configure(env, "toml", CONFIGS)
    launched = time.monotonic()
    daemon = case.up_foreground()
    # The case's step: SIGTERM 0.3 s after the start, while the programs
    # are being spawned or are inside their 3 s start. Never before the
    # daemon serves (a SIGTERM that early is the subject of its own test),
    # nor before its first program process exists.
    wait_for(lambda: children_of(daemon.pid), SHORT, "the first program process")
    time.sleep(max(0.0, after - (time.monotonic() - launched)))

    sent, began, watcher = signal_daemon(daemon, signal.SIGTERM)
    status = wait_exit(daemon, LONG)
    took = time.monotonic() - began
    return status, sent, took, watcher.stop()


def test_sigterm_while_100_processes_start(env: Env) -> None:
    """SIGTERM 0.3 s after `corral up`: all stopped, exit 0 within 4 s."""
    status, _, took, _ = sigterm_during_start(env)

    assert took <= EXIT_WITHIN, took
    assert status == 0, env.read("up.err")[-2000:]
    assert program_processes(env) == {}
    assert env.matching("slowstart.sh") == [] and env.matching(MARK) == []
    assert "received SIGTERM" in env.read("up.err")
    assert "up slow" not in env.read("logs/slow.out.log")


def test_no_process_starts_after_sigterm(env: Env) -> None:
    """Once SIGTERM is sent, the number of program processes never grows.

    The signal goes out as soon as the first of the 100 exists, so that it
    lands while the others are being spawned however fast this machine is
    (at 0.3 s an idle machine may have spawned all 100 already).
    """
    _, sent, _, snapshots = sigterm_during_start(env, after=0.0)

    assert_never_grew(snapshots, sent)


def test_sigterm_during_the_daemons_own_start_up(env: Env) -> None:
    """SIGTERM while corral itself is still loading.

    The signal goes out as soon as `corral up` holds stop signals (its
    first act once the interpreter runs), long before the daemon's
    handlers exist: it must still end in a graceful stop. A signal before
    the interpreter runs any of corral's code is the kernel's business.
    """
    env.write("slowstart.sh", SLOWSTART, mode=0o755)
    case = configure(env, "toml", CONFIGS)
    daemon = case.up_foreground(ready=False)
    wait_for(lambda: holds_sigterm(daemon.pid), SHORT, "corral to hold SIGTERM")
    send(daemon, signal.SIGTERM)
    status = wait_exit(daemon, EXIT_WITHIN + SHORT)

    assert program_processes(env) == {}
    assert status == 0
    assert "received SIGTERM" in env.read("up.err")


def holds_sigterm(pid: int) -> bool:
    """True once the process blocks SIGTERM (SigBlk in /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except OSError:
        pass
    return False


def test_second_sigterm_restarts_nothing(env: Env) -> None:
    """A second SIGTERM during the stop: no new process, same graceful end."""
    case = configure(env, "toml", STUBBORN)
    daemon = case.up_foreground()
    env.wait_log("logs/slow.out.log", "ignoring TERM", count=3)
    before = children_of(daemon.pid)

    sent, began, watcher = signal_daemon(daemon, signal.SIGTERM)
    env.wait_log("up.err", "received SIGTERM")
    send(daemon, signal.SIGTERM)
    status = wait_exit(daemon, LONG)
    took = time.monotonic() - began
    snapshots = watcher.stop()

    assert set(snapshots[0]) <= set(before)
    assert_never_grew(snapshots, sent)
    assert STOP_TIMEOUT <= took <= EXIT_WITHIN, took
    assert status == 0
    assert program_processes(env) == {}


def test_second_sigint_kills_what_is_left_at_once(env: Env) -> None:
    """SIGINT, then SIGINT again: SIGKILL now, not after stop_timeout."""
    case = configure(env, "toml", STUBBORN)
    daemon = case.up_foreground()
    env.wait_log("logs/slow.out.log", "ignoring TERM", count=3)
    pids = list(children_of(daemon.pid))
    assert len(pids) == 3

    sent, _, watcher = signal_daemon(daemon, signal.SIGINT)
    env.wait_log("up.err", "received SIGINT")
    assert all(pid_alive(pid) for pid in pids)
    began = time.monotonic()
    send(daemon, signal.SIGINT)
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), STOP_TIMEOUT,
             "the programs to be killed")
    took = time.monotonic() - began
    wait_exit(daemon, LONG)
    snapshots = watcher.stop()

    # At once: far sooner than the stop_timeout that would SIGKILL them.
    assert took < 1.0, f"killed {took:.2f} s after the second SIGINT"
    assert "killing every program now" in env.read("up.err")
    assert_never_grew(snapshots, sent)
    assert program_processes(env) == {}


def test_circus_file_warmup_delay_is_accepted_or_named(env: Env) -> None:
    """circus.ini: refused naming warmup_delay, or run as the case says."""
    case = configure(env, "circus", CONFIGS)
    checked = case.run("check")
    if checked.returncode != 0:
        assert "warmup_delay" in checked.stderr, checked.stderr
        assert one_line(checked.stderr)
        refused = case.run("up", "--detach")
        assert refused.returncode != 0
        assert "warmup_delay" in refused.stderr
        assert program_processes(env) == {}
        return

    daemon = case.up_foreground()
    # The case's step for this file: SIGTERM 4 s after the start.
    time.sleep(4.0)
    sent, began, watcher = signal_daemon(daemon, signal.SIGTERM)
    status = wait_exit(daemon, LONG)
    assert time.monotonic() - began <= EXIT_WITHIN
    assert status == 0
    assert_never_grew(watcher.stop(), sent)
    wait_for(lambda: program_processes(env) == {}, SHORT, "no program process")
    assert "received SIGTERM" in env.read("up.err")
