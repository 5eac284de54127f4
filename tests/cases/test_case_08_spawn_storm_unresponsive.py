"""Case 08: a program that cannot start must not make the daemon unresponsive.

Invariant: a program whose command does not exist is retried with a
growing delay, at most about ten times in ten seconds, and (when it has a
retry limit) ends `fatal`. Meanwhile the healthy program starts at once,
`corral status` answers in under half a second at every look, the daemon
spends under a second of CPU, and the reason is logged once per attempt
and shown in one line by `corral status broken`. (The half second is
timed on the control socket: the daemon's part of `corral status`.) `corral check` accepts
the file (the missing executable is at most a warning).

`restarts` counts the attempts after the first one, so it equals the
attempts made minus one; `failures` counts them all.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.cases.conftest import Corral, ask, configure, cpu_seconds, observe
from tests.conftest import SHORT, Env

CONFIGS = {
    "toml": """\
        [programs.broken]
        cmd = "./does-not-exist CORRAL_CASE_08"
        restart = "always"

        [programs.healthy]
        cmd = ["python3", "-c", "import time; print('healthy up', flush=True); time.sleep(100000)", "CORRAL_CASE_08_OK"]
        stdout = "logs/healthy.out.log"
    """,
    "circus": """\
        [watcher:broken]
        cmd = ./does-not-exist CORRAL_CASE_08
        max_retry = -1
        priority = 10

        [watcher:healthy]
        cmd = python3 -c "import time; print('healthy up', flush=True); time.sleep(100000)" CORRAL_CASE_08_OK
        priority = 1
        stdout_stream.class = FileStream
        stdout_stream.filename = logs/healthy.out.log
    """,
}

# The case's numbers.
STORM = 10.0
HEALTHY_WITHIN = 2.0
STATUS_WITHIN = 0.5
CPU_BUDGET = 1.0
MAX_ATTEMPTS = 10
REASON = "no such file or directory"


@pytest.fixture(params=["toml", "circus"])
def case(request: pytest.FixtureRequest, env: Env) -> Corral:
    return configure(env, request.param, CONFIGS)


def test_broken_program_backs_off_and_daemon_stays_responsive(case: Corral) -> None:
    """Ten seconds of a missing executable: few attempts, idle daemon."""
    checked = case.run("check")
    assert checked.returncode == 0, checked.stderr
    assert "Traceback" not in checked.stderr

    case.up()
    began = time.monotonic()
    daemon = case.daemon_pid()
    cpu_before = cpu_seconds(daemon)

    # The healthy program is up at once (start_secs is 1 s), whatever the
    # broken one does.
    case.wait_state("healthy.0", "running", timeout=HEALTHY_WITHIN + SHORT)
    assert time.monotonic() - began <= HEALTHY_WITHIN
    assert "healthy up" in case.env.read("logs/healthy.out.log")

    # The storm: the daemon answers status quickly at every look, and the
    # command keeps working.
    sock = case.path / ".corral" / "corral.sock"

    def answers_quickly() -> bool:
        code, took = ask(sock, "/v1/status")
        assert code == 200 and took < STATUS_WITHIN, f"{code} after {took:.3f} s"
        return True

    def command_answers() -> bool:
        return case.run("status", "--json").returncode in (0, 1)

    remaining = STORM - (time.monotonic() - began)
    looks = observe(lambda: answers_quickly() and command_answers(), remaining,
                    "status answering within 0.5 s", every=0.25)
    assert looks >= 10
    cpu = cpu_seconds(daemon) - cpu_before
    assert cpu < CPU_BUDGET, f"daemon used {cpu:.2f} s of CPU"

    # Attempts: few, spaced out by growing delays, each logged once.
    log = case.daemon_log()
    attempts = log.count(REASON)
    assert 2 <= attempts <= MAX_ATTEMPTS, log
    delays = [float(d) for d in re.findall(r"broken\.0 .*retry \d+.* in ([\d.]+) s", log)]
    assert delays == sorted(delays) and len(set(delays)) == len(delays), delays
    row = case.one("broken.0")
    assert row["failures"] == attempts
    assert row["restarts"] == attempts - 1
    if case.config == "corral.toml":
        # The default limit of 5 retries is reached within the 10 s.
        assert row["state"] == "fatal", row
    else:
        # circus's max_retry = -1: no limit; it keeps backing off.
        assert row["state"] == "backoff", row
    assert REASON in row["reason"]

    # `corral status broken`: one row, its reason on that one line.
    shown = case.run("status", "broken")
    assert shown.returncode == 1
    lines = shown.stdout.splitlines()
    assert len(lines) == 2, shown.stdout
    assert REASON in lines[1]
