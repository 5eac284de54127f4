"""Case 01: a program started by a wrapper script (no `exec`) outlives stop.

Invariant: stopping a program whose command is a shell script that runs
the real server as an ordinary child stops the server too. The server
itself receives the stop signal (it is not merely SIGKILLed), `corral
stop` returns 0 within stop_timeout + 1 s, and the program is reported
`stopped` with no pid only once the server is gone. The same holds for
the circus `.ini` the report used and when the daemon is interrupted
with SIGINT instead of `corral stop`.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.cases.conftest import Corral, configure, observe, wait_exit
from tests.conftest import LONG, SHORT, Env, pid_alive, wait_for

WORKER = """\
import signal, sys, time
def on_stop(sig, frm):
    print("worker got signal", sig, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_stop)
signal.signal(signal.SIGINT, on_stop)
print("worker up", sys.argv[1], flush=True)
while True:
    time.sleep(0.2)
"""

WRAPPER = """\
#!/bin/sh
echo "wrapper preparing"
python3 -u worker.py CORRAL_CASE_01
echo "wrapper done"
"""

CONFIGS = {
    "toml": """\
        [programs.app]
        cmd = "./wrapper.sh"
        cwd = "."
        restart = "never"
        stop_signal = "TERM"
        stop_timeout = 3
        stdout = "logs/app.out.log"
        stderr = "stdout"
    """,
    "circus": """\
        [watcher:app]
        cmd = ./wrapper.sh
        working_dir = .
        copy_env = True
        stop_children = True
        graceful_timeout = 3
        stdout_stream.class = FileStream
        stdout_stream.filename = logs/app.out.log
    """,
}

LOG = "logs/app.out.log"
MARK = "CORRAL_CASE_01"
STOP_TIMEOUT = 3.0


@pytest.fixture(params=["toml", "circus"])
def case(request: pytest.FixtureRequest, env: Env) -> Corral:
    env.write("worker.py", WORKER)
    env.write("wrapper.sh", WRAPPER, mode=0o755)
    return configure(env, request.param, CONFIGS)


def worker_pid(case: Corral) -> int:
    """Wait for the worker to be up; return its pid (exactly one expected)."""
    case.wait_state("app.0", "running")
    case.env.wait_log(LOG, f"worker up {MARK}")
    pids = wait_for(lambda: case.env.matching(MARK), SHORT, "the worker")
    assert len(pids) == 1, case.env.processes()
    return int(pids[0])


def test_stop_reaches_the_worker_behind_the_wrapper(case: Corral) -> None:
    """`corral stop app` ends the worker, which saw SIGTERM itself."""
    case.up()
    worker = worker_pid(case)

    began = time.monotonic()
    stop = case.popen("stop", "app")
    # While the stop runs, `stopped` may only be shown once the worker is gone.
    while stop.poll() is None:
        [row] = case.status("app")
        if row["state"] == "stopped" or row["pid"] is None:
            assert not pid_alive(worker), f"reported {row} with the worker alive"
    took = time.monotonic() - began
    out, err = stop.communicate()

    assert stop.returncode == 0, (out, err)
    assert took < STOP_TIMEOUT + 1, took
    assert not pid_alive(worker)
    assert case.env.matching(MARK) == []
    [row] = case.status("app")
    assert row["state"] == "stopped"
    assert row["pid"] is None
    assert "worker got signal 15" in case.env.read(LOG)

    # The case's second look, 2 s later: nothing came back.
    observe(lambda: case.env.matching(MARK) == [] and not pid_alive(worker),
            2.0, "no CORRAL_CASE_01 process")


def test_sigint_to_the_daemon_ends_the_worker_first(case: Corral) -> None:
    """Ctrl-C on `corral up`: the daemon exits only after the worker is gone."""
    daemon = case.up_foreground()
    worker = worker_pid(case)

    daemon.send_signal(signal.SIGINT)
    assert wait_exit(daemon, LONG) == 0
    assert not pid_alive(worker)
    assert case.env.matching(MARK) == []
    assert "worker got signal 15" in case.env.read(LOG)
    observe(lambda: case.env.matching(MARK) == [], 2.0, "no CORRAL_CASE_01 process")
