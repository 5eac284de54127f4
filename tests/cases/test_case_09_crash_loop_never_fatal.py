"""Case 09: a program that crashes right after starting must reach `fatal`.

Invariant: a command that exits 1 at once is restarted with growing
delays (each gap between starts at least as long as the one before, the
last one at least a second) and then given up: `fatal`, no new pid,
`restarts` frozen, `exit_code` 1, one output line per start. A manual
`corral start` resets the count, tries again, and reports the renewed
failure in one line with a non-zero status. With the supervisord file,
`startretries=3` allows at most 4 starts, unless `corral check` says that
`startsecs=0` keeps supervisord's meaning; endless silent restarts fail.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cases.conftest import SUPERVISORD, Corral, configure, observe, one_line
from tests.conftest import POLL, Env, wait_for

CONFIGS = {
    "toml": """\
        [programs.crasher]
        cmd = "echo 'starting and failing CORRAL_CASE_09'; exit 1"
        shell = true
        restart = "on-failure"
        stdout = "logs/crasher.out.log"
    """,
    "supervisord": """\
        [program:crasher]
        command=sh -c 'echo "starting and failing CORRAL_CASE_09"; exit 1'
        autorestart=true
        startsecs=0
        startretries=3
        stdout_logfile=logs/crasher.out.log
    """,
}

LOG = "logs/crasher.out.log"
LINE = "starting and failing CORRAL_CASE_09"
# The case polls for up to 60 s; a hang-catcher, not an expected duration.
FATAL_WITHIN = 60.0
# How long `fatal` must be seen to hold, longer than the last gap (4 s).
STAYS_FATAL = 5.0
SUPERVISORD_STARTS = 4


class Arrivals(threading.Thread):
    """Notes when each new output line (one per start) reaches the log."""

    def __init__(self, env: Env) -> None:
        super().__init__(daemon=True)
        self.env = env
        self.times: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            count = self.env.read(LOG).count(LINE)
            now = time.monotonic()
            self.times.extend([now] * (count - len(self.times)))
            self.done.wait(POLL)

    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.times)]


@pytest.fixture(params=["toml", pytest.param("supervisord", marks=SUPERVISORD)])
def case(request: pytest.FixtureRequest, env: Env) -> Iterator[Corral]:
    yield configure(env, request.param, CONFIGS)


def said_so(case: Corral) -> bool:
    """True if `corral check` warns that startsecs=0 means no crash limit."""
    checked = case.run("check")
    return checked.returncode == 0 and "startsecs" in checked.stdout + checked.stderr


def until_fatal(case: Corral) -> list[dict[str, Any]]:
    """Poll status every 0.2 s, as the case does, until `fatal`."""
    seen: list[dict[str, Any]] = []

    def fatal() -> bool:
        [row] = case.status("crasher")
        seen.append(row)
        done = bool(row["state"] == "fatal")
        if not done:
            time.sleep(0.2)  # the case's own polling interval
        return done

    wait_for(fatal, FATAL_WITHIN, "crasher to be fatal")
    return seen


def test_crash_loop_slows_down_then_goes_fatal(case: Corral) -> None:
    """Growing gaps, then `fatal` for good, with one log line per start."""
    if case.config == "supervisord.conf" and said_so(case):
        return
    arrivals = Arrivals(case.env)
    arrivals.start()
    try:
        case.up()
        seen = until_fatal(case)
        final = seen[-1]
        starts = case.env.read(LOG).count(LINE)

        # Stays fatal: no new pid, no new start, restarts frozen.
        def still_fatal() -> bool:
            [row] = case.status("crasher")
            return (row["state"] == "fatal" and row["pid"] is None
                    and row["restarts"] == final["restarts"]
                    and case.env.read(LOG).count(LINE) == starts)

        observe(still_fatal, STAYS_FATAL, "fatal with no new start", every=0.2)
    finally:
        arrivals.done.set()
        arrivals.join()

    assert final["exit_code"] == 1, final
    assert final["restarts"] == starts - 1
    assert final["failures"] == starts
    assert len(arrivals.times) == starts
    assert len(re.findall(r"crasher\.0 pid=\d+ started:", case.daemon_log())) == starts
    lines = case.env.read(LOG).splitlines()
    assert lines == [LINE] * starts
    if case.config == "supervisord.conf":
        assert starts <= SUPERVISORD_STARTS, starts
    gaps = arrivals.gaps()
    assert len(gaps) >= 2, gaps
    assert all(b >= a for a, b in itertools.pairwise(gaps)), gaps
    assert gaps[-1] >= 1.0, gaps
    restarts = [row["restarts"] for row in seen]
    assert restarts == sorted(restarts)


def test_manual_start_after_fatal_tries_again_and_fails_in_one_line(
        case: Corral) -> None:
    """`corral start crasher` from `fatal`: a full new series, then non-zero."""
    if case.config == "supervisord.conf" and said_so(case):
        return
    case.up()
    until_fatal(case)
    first_series = case.env.read(LOG).count(LINE)

    result = case.run("start", "crasher")
    assert result.returncode != 0
    assert one_line(result.stderr), result.stderr
    assert "crasher" in result.stderr
    [row] = case.status("crasher")
    assert row["state"] == "fatal"
    assert row["exit_code"] == 1
    # The counter was reset: the second series is as long as the first.
    assert case.env.read(LOG).count(LINE) == 2 * first_series
