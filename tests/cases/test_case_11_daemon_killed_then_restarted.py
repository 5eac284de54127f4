"""Case 11: after the daemon is SIGKILLed, the next start must not duplicate.

Invariant: `corral up` after a daemon was killed with SIGKILL first ends
what that daemon left running (gracefully: SIGTERM first), then starts
exactly one process per program; the port the old server held is free
again, so the new one binds it. `corral up` says in one line that it
ended leftovers, and after `corral down` nothing of the case is left.

To see how a process the test did not start ended, the first daemon is
started below a small subreaper (fixtures/subreaper.py): its orphans come
back to that helper, which writes down each one's exit status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cases.conftest import Corral, configure, free_port, observe
from tests.conftest import CORRAL, PYTHON, SHORT, Env, pid_alive, wait_for

QUIET = """\
import sys, time
print("worker started", sys.argv[1], flush=True)
while True:
    time.sleep(1)
"""

SERVER = """\
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
    print("listening", sys.argv[1], flush=True)
except OSError as e:
    print("bind failed:", e, flush=True); sys.exit(3)
while True:
    time.sleep(1); print("alive", flush=True)
"""

# The case's port 18481 is replaced by one that is free right now.
CONFIG = """\
    [programs.w]
    cmd = ["python3", "-u", "quiet.py", "CORRAL_CASE_11Q"]
    stdout = "logs/w.out.log"

    [programs.srv]
    cmd = ["python3", "-u", "server.py", "{port}", "CORRAL_CASE_11S"]
    stdout = "logs/srv.out.log"
"""

SUBREAPER = Path(__file__).with_name("fixtures") / "subreaper.py"
REAPED = "reaped.txt"


@dataclass
class Killed:
    """What was left when the first daemon died, and how it went."""

    case: Corral
    port: int
    quiet: int
    server: int
    alive_after_2s: dict[str, bool]
    second_up: subprocess.CompletedProcess[str]

    def exit_of(self, pid: int) -> int | None:
        for line in self.case.env.read(REAPED).splitlines():
            who, _, status = line.partition(" ")
            if who == str(pid):
                return int(status)
        return None


def only(env: Env, mark: str) -> int:
    pids = env.matching(mark)
    assert len(pids) == 1, (mark, env.processes())
    return pids[0]


def kill_daemon_and_start_again(env: Env) -> Killed:
    """Steps 1-4 of the case."""
    port = free_port()
    env.write("quiet.py", QUIET)
    env.write("server.py", SERVER)
    case = configure(env, "toml", {"toml": CONFIG.format(port=port)})

    # 1. up, below the subreaper; both running.
    helper = subprocess.Popen(
        [PYTHON, str(SUBREAPER), REAPED, CORRAL, "up", "--detach", "-c", case.config],
        cwd=env.path, env=env.env, stdout=subprocess.DEVNULL,
    )
    env.foreground.append(helper)
    env.wait_log(REAPED, "command 0")
    case.wait_state("w.0", "running")
    case.wait_state("srv.0", "running")
    env.wait_log("logs/srv.out.log", f"listening {port}")
    quiet = only(env, "CORRAL_CASE_11Q")
    server = only(env, "CORRAL_CASE_11S")

    # 2. kill -9 the daemon.
    daemon = case.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    env.wait_log(REAPED, f"{daemon} -9")

    # 3. The case records who is still alive 2 s later.
    time.sleep(2.0)
    alive = {"quiet": pid_alive(quiet), "server": pid_alive(server)}

    # 4. up again.
    second = case.run("up", "--detach")
    return Killed(case, port, quiet, server, alive, second)


@pytest.fixture
def killed(env: Env) -> Killed:
    return kill_daemon_and_start_again(env)


def test_second_up_ends_leftovers_then_runs_one_of_each(killed: Killed) -> None:
    """One process per program, the old ones ended by SIGTERM first."""
    case, env = killed.case, killed.case.env
    assert killed.second_up.returncode == 0, killed.second_up.stderr

    # Whatever survived the first daemon was ended before anything started.
    assert not pid_alive(killed.quiet)
    assert not pid_alive(killed.server)
    assert killed.alive_after_2s["quiet"], "the quiet worker died with its daemon"
    wait_for(lambda: killed.exit_of(killed.quiet) is not None, SHORT, "Q1 reaped")
    assert killed.exit_of(killed.quiet) == -signal.SIGTERM

    # What corral chose for the chatty server, recorded: with nobody reading
    # its pipe it dies at its next print. Python ignores SIGPIPE, so that is
    # a BrokenPipeError and exit status 1, within a second of the daemon's
    # death. Acceptable because the next `up` restarts it cleanly (below).
    assert not killed.alive_after_2s["server"]
    assert killed.exit_of(killed.server) == 1

    # The case waits 3 s: exactly one of each, running, as status says.
    case.wait_state("w.0", "running")
    case.wait_state("srv.0", "running")
    env.wait_log("logs/srv.out.log", f"listening {killed.port}", count=2)

    def one_of_each() -> bool:
        quiet = env.matching("CORRAL_CASE_11Q")
        server = env.matching("CORRAL_CASE_11S")
        rows = {row["program"]: row for row in case.status()}
        return (len(quiet) == 1 and len(server) == 1 and len(rows) == 2
                and rows["w"]["pid"] == quiet[0] and rows["srv"]["pid"] == server[0]
                and rows["w"]["state"] == rows["srv"]["state"] == "running")

    observe(one_of_each, 3.0, "one running process per program", every=0.2)
    assert {killed.quiet, killed.server}.isdisjoint(
        {row["pid"] for row in case.status()})
    assert "bind failed" not in env.read("logs/srv.out.log")
    # The daemon log: leftovers ended first, the new processes started after.
    log = case.daemon_log()
    ended = log.index("process(es) left running by a previous daemon")
    assert f"w.0 pid={killed.quiet}" in log[ended:].split("\n", 1)[0]
    for row in case.status():
        assert log.index(f"{row['name']} pid={row['pid']} started") > ended

    # down: nothing of the case is left.
    case.ok("down")
    assert env.matching("CORRAL_CASE_11") == []


def test_second_up_says_it_ended_leftovers(killed: Killed) -> None:
    """`corral up` itself reports, in one line, that it ended leftovers."""
    said = killed.second_up.stdout + killed.second_up.stderr
    lines = [line for line in said.splitlines() if "previous daemon" in line]
    assert len(lines) == 1, said

