"""Case 09: a program that crashes right after starting must reach `fatal`.

Invariant: a command that exits 1 at once is restarted with growing
delays (each gap between starts at least as long as the one before, the
last one at least a second) and then given up: `fatal`, no new pid,
`restarts` frozen, `exit_code` 1, one output line per start. A manual
`corral start` resets the count, tries again, and reports the renewed
failure in one line with a non-zero status.

With the supervisord file (`startsecs=0`, `startretries=3`) at most 4
starts happen before `fatal`, unless `corral check` says that startsecs=0
keeps supervisord's meaning; endless silent restarts fail. The same file
spelled in corral's own keys (`start_secs = 0`, `start_retries = 3`) is
held to the same rule, since that reader exists today.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass
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
    # The supervisord file above, key for key, in corral's TOML.
    "toml_startsecs0": """\
        [programs.crasher]
        cmd = "echo 'starting and failing CORRAL_CASE_09'; exit 1"
        shell = true
        restart = "always"
        start_secs = 0
        start_retries = 3
        stdout = "logs/crasher.out.log"
    """,
}

LOG = "logs/crasher.out.log"
LINE = "starting and failing CORRAL_CASE_09"
# The case polls for up to 60 s; a hang-catcher, not an expected duration.
FATAL_WITHIN = 60.0
# How long `fatal` must be seen to hold, longer than the last gap (4 s).
STAYS_FATAL = 5.0
# startretries=3: the first start and three retries.
LIMITED_STARTS = 4

# start_secs = 0 once counted every crash as a run that lasted.
STARTSECS_ZERO = pytest.mark.startsecs_zero


@dataclass
class Crasher:
    """The case run with one config, and the start limit that file sets."""

    corral: Corral
    limit: int | None

    @property
    def env(self) -> Env:
        return self.corral.env

    def starts(self) -> int:
        return self.env.read(LOG).count(LINE)


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


@pytest.fixture(params=[
    "toml",
    pytest.param("supervisord", marks=SUPERVISORD),
    pytest.param("toml_startsecs0", marks=STARTSECS_ZERO),
])
def crasher(request: pytest.FixtureRequest, env: Env) -> Crasher:
    fmt = request.param
    if fmt == "toml_startsecs0":
        env.config(CONFIGS[fmt], name="startsecs0.toml")
        return Crasher(Corral(env, "startsecs0.toml"), LIMITED_STARTS)
    limit = LIMITED_STARTS if fmt == "supervisord" else None
    return Crasher(configure(env, fmt, CONFIGS), limit)


def check_says_so(crasher: Crasher) -> bool:
    """True if `corral check` warns that a zero start time means no limit."""
    if crasher.limit is None:
        return False
    checked = crasher.corral.run("check")
    warnings = [line for line in checked.stderr.splitlines()
                if line.startswith("warning:")]
    return checked.returncode == 0 and any(
        "startsecs" in line or "start_secs" in line for line in warnings)


def until_fatal(crasher: Crasher) -> list[dict[str, Any]]:
    """Poll status every 0.2 s, as the case does, until `fatal`.

    Fails at once when a file with a start limit goes past it.
    """
    seen: list[dict[str, Any]] = []

    def fatal() -> bool:
        [row] = crasher.corral.status("crasher")
        seen.append(row)
        if crasher.limit is not None:
            starts = crasher.starts()
            assert starts <= crasher.limit, f"{starts} starts, limit {crasher.limit}"
        done = bool(row["state"] == "fatal")
        if not done:
            time.sleep(0.2)  # the case's own polling interval
        return done

    wait_for(fatal, FATAL_WITHIN, "crasher to be fatal")
    return seen


def test_crash_loop_slows_down_then_goes_fatal(crasher: Crasher) -> None:
    """Growing gaps, then `fatal` for good, with one log line per start."""
    if check_says_so(crasher):
        return
    case = crasher.corral
    arrivals = Arrivals(crasher.env)
    arrivals.start()
    try:
        case.up()
        seen = until_fatal(crasher)
        final = seen[-1]
        starts = crasher.starts()

        # Stays fatal: no new pid, no new start, restarts frozen.
        def still_fatal() -> bool:
            [row] = case.status("crasher")
            return (row["state"] == "fatal" and row["pid"] is None
                    and row["restarts"] == final["restarts"]
                    and crasher.starts() == starts)

        observe(still_fatal, STAYS_FATAL, "fatal with no new start", every=0.2)
    finally:
        arrivals.done.set()
        arrivals.join()

    assert final["exit_code"] == 1, final
    assert final["restarts"] == starts - 1
    assert final["failures"] == starts
    assert len(arrivals.times) == starts
    started = re.findall(r"crasher\.0 pid=\d+ started:", case.daemon_log())
    assert len(started) == starts
    assert crasher.env.read(LOG).splitlines() == [LINE] * starts
    if crasher.limit is not None:
        assert starts <= crasher.limit, starts
    gaps = arrivals.gaps()
    assert len(gaps) >= 2, gaps
    assert all(b >= a for a, b in itertools.pairwise(gaps)), gaps
    # Arrival times are seen by polling every POLL seconds.
    assert gaps[-1] >= 1.0 - 2 * POLL, gaps
    restarts = [row["restarts"] for row in seen]
    assert restarts == sorted(restarts)


def test_manual_start_after_fatal_tries_again_and_fails_in_one_line(
        crasher: Crasher) -> None:
    """`corral start crasher` from `fatal`: a full new series, then non-zero."""
    if check_says_so(crasher):
        return
    case = crasher.corral
    case.up()
    until_fatal(crasher)
    first_series = crasher.starts()

    result = case.run("start", "crasher")
    assert result.returncode != 0
    assert one_line(result.stderr), result.stderr
    assert "crasher" in result.stderr
    [row] = case.status("crasher")
    assert row["state"] == "fatal"
    assert row["exit_code"] == 1
    # The counter was reset: the second series is as long as the first.
    assert crasher.starts() == 2 * first_series
