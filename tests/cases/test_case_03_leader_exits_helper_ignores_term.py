"""Case 03: the leader exits on TERM, a helper that ignores TERM survives.

Invariant: a stop is over only when every process of the program is gone,
not when the leader is. A helper in the leader's group that ignores
SIGTERM is SIGKILLed at stop_timeout; `corral stop` returns then (between
2 and 3 s here) with status 0, `status` never says `stopped` while the
helper lives, and the leader's last words are in the log although the
helper still held the pipe. A helper that moved to a session of its own
(setsid) is still found and killed, or the stop does not claim success.
"""

from __future__ import annotations

import time

import pytest

from tests.cases.conftest import Corral, configure, session_of
from tests.conftest import SHORT, Env, pid_alive, wait_for

LEADER = """\
#!/bin/bash
trap 'echo "leader: got TERM, leaving"; exit 0' TERM
python3 -u -c 'import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print("helper up, ignoring TERM", flush=True); time.sleep(100000)' CORRAL_CASE_03 &
echo "leader up"
wait
"""

# The variant of the case: the same helper, started in a new session.
LEADER_SETSID = LEADER.replace("python3 -u -c", "setsid python3 -u -c")

CONFIGS = {
    "toml": """\
        [programs.lead]
        cmd = "./leader.sh"
        restart = "never"
        stop_signal = "TERM"
        stop_timeout = 2
        stdout = "logs/lead.out.log"
        stderr = "stdout"
    """,
}

LOG = "logs/lead.out.log"
MARK = "CORRAL_CASE_03"
STOP_TIMEOUT = 2.0


def start(env: Env, script: str) -> tuple[Corral, int]:
    """Bring `lead` up with SCRIPT as leader.sh; return the helper's pid."""
    env.write("leader.sh", script, mode=0o755)
    case = configure(env, "toml", CONFIGS)
    case.up()
    env.wait_log(LOG, "helper up, ignoring TERM")
    env.wait_log(LOG, "leader up")
    pids = wait_for(lambda: env.matching(MARK), SHORT, "the helper")
    assert len(pids) == 1, env.processes()
    return case, int(pids[0])


def test_stop_waits_for_the_helper_then_kills_it(env: Env) -> None:
    """Stop lasts stop_timeout, SIGKILLs the helper, keeps the leader's words."""
    case, helper = start(env, LEADER)

    # What one request costs the client alone (its start-up swings with
    # the machine's load); the stop may take that much on top.
    asked = time.monotonic()
    case.status("lead")
    client_cost = time.monotonic() - asked

    began = time.monotonic()
    stop = case.popen("stop", "lead")
    stopping_since: float | None = None
    looks_after_one_second = 0
    while stop.poll() is None:
        [row] = case.status("lead")
        now = time.monotonic()
        if row["state"] == "stopped":
            assert not pid_alive(helper), f"'stopped' with the helper alive: {row}"
        elif row["state"] == "stopping":
            stopping_since = stopping_since or now
            if now - stopping_since >= 1.0 and stop.poll() is None:
                looks_after_one_second += 1
        else:
            assert stopping_since is None, f"{row['state']} after stopping began"
    took = time.monotonic() - began
    out, err = stop.communicate()

    assert stop.returncode == 0, (out, err)
    assert STOP_TIMEOUT <= took < STOP_TIMEOUT + 1 + client_cost, (took, client_cost)
    assert looks_after_one_second > 0
    assert not pid_alive(helper)
    assert env.matching(MARK) == []
    assert "leader: got TERM, leaving" in env.read(LOG)
    [row] = case.status("lead")
    assert row["state"] == "stopped"
    assert helper in row["last_stop"]["sigkill"]
    assert STOP_TIMEOUT <= row["last_stop"]["duration"] < STOP_TIMEOUT + 1


@pytest.mark.parametrize("script", [LEADER_SETSID], ids=["setsid"])
def test_helper_in_a_new_session_is_killed_or_stop_fails(env: Env, script: str) -> None:
    """Variant: `setsid` helper; killed too, or `corral stop` is not a success."""
    case, helper = start(env, script)
    assert session_of(helper) == helper, "the helper did not get a session of its own"

    began = time.monotonic()
    result = case.run("stop", "lead")
    took = time.monotonic() - began

    if result.returncode == 0:
        assert not pid_alive(helper), "stop reported success with the helper alive"
        assert env.matching(MARK) == []
        assert took < STOP_TIMEOUT + 1, took
    else:
        assert result.stderr.strip(), "a failed stop must say why"
    assert "leader: got TERM, leaving" in env.read(LOG)
