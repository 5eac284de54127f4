"""The lifecycle state table of one process, driven by fakes.

No process is started and no test waits: `FakeClock` moves only when a test
advances it, and the test plays the kernel by firing LEADER_EXIT and GONE.
The fakes write every launch and signal into one journal, so outcomes and
their order are asserted directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from corral.errors import ActionFailed, CorralError
from corral.program import (
    DOWN,
    KILL_RECHECK_SECONDS,
    LIVE,
    TABLE,
    Event,
    Process,
    State,
)
from tests.unit.conftest import FakeClock, FakeGeneration, Harness, StrictHandler


def state_of(p: Process) -> State:
    """The state now; keeps mypy from narrowing across events."""
    return p.state


# ---------------------------------------------------------------------------
# Every (state, event) pair


def in_stopped(h: Harness) -> Process:
    return h.process()


def in_starting(h: Harness) -> Process:
    p = h.process()
    p.handle(Event.START)
    return p


def in_running(h: Harness) -> Process:
    p = h.process()
    h.start_running(p)
    return p


def in_stopping(h: Harness) -> Process:
    p = in_running(h)
    p.handle(Event.STOP)
    return p


def in_exited(h: Harness) -> Process:
    p = h.process(restart="never")
    h.start_running(p)
    h.crash(p, 0)
    return p


def in_backoff(h: Harness) -> Process:
    p = h.process()
    p.handle(Event.START)
    h.crash(p, 1)
    return p


def in_fatal(h: Harness) -> Process:
    p = h.process(start_retries=0)
    p.handle(Event.START)
    h.crash(p, 1)
    return p


BUILDERS: dict[State, Callable[[Harness], Process]] = {
    State.STOPPED: in_stopped,
    State.STARTING: in_starting,
    State.RUNNING: in_running,
    State.STOPPING: in_stopping,
    State.EXITED: in_exited,
    State.BACKOFF: in_backoff,
    State.FATAL: in_fatal,
}


@dataclass(frozen=True)
class Outcome:
    """What one event does: the next state, what the fakes saw, the timer."""

    state: State
    journal: tuple[str, ...] = ()
    timers: tuple[float, ...] = ()


TERM_101 = ("terminate 101 SIGTERM",)
LAUNCH_102 = ("launch 102",)
S = State
E = Event

# Each builder above leaves its process with pid 101 launched (except
# STOPPED), a start_secs of 1 s, a stop_timeout of 10 s and a back-off of 1 s.
EXPECTED: dict[tuple[State, Event], Outcome] = {
    (S.STOPPED, E.START): Outcome(S.STARTING, ("launch 101",), (1.0,)),
    (S.STOPPED, E.STOP): Outcome(S.STOPPED),
    (S.STOPPED, E.RESTART): Outcome(S.STARTING, ("launch 101",), (1.0,)),
    (S.STOPPED, E.LEADER_EXIT): Outcome(S.STOPPED),
    (S.STOPPED, E.GONE): Outcome(S.STOPPED),
    (S.STOPPED, E.TIMER): Outcome(S.STOPPED),
    (S.STARTING, E.START): Outcome(S.STARTING, (), (1.0,)),
    (S.STARTING, E.STOP): Outcome(S.STOPPING, TERM_101, (10.0,)),
    (S.STARTING, E.RESTART): Outcome(S.STOPPING, TERM_101, (10.0,)),
    (S.STARTING, E.LEADER_EXIT): Outcome(S.STOPPING, TERM_101, (10.0,)),
    (S.STARTING, E.GONE): Outcome(S.STARTING, (), (1.0,)),
    (S.STARTING, E.TIMER): Outcome(S.RUNNING),
    (S.RUNNING, E.START): Outcome(S.RUNNING),
    (S.RUNNING, E.STOP): Outcome(S.STOPPING, TERM_101, (10.0,)),
    (S.RUNNING, E.RESTART): Outcome(S.STOPPING, TERM_101, (10.0,)),
    (S.RUNNING, E.LEADER_EXIT): Outcome(S.STOPPING, TERM_101, (10.0,)),
    (S.RUNNING, E.GONE): Outcome(S.RUNNING),
    (S.RUNNING, E.TIMER): Outcome(S.RUNNING),
    (S.STOPPING, E.START): Outcome(S.STOPPING, (), (10.0,)),
    (S.STOPPING, E.STOP): Outcome(S.STOPPING, (), (10.0,)),
    (S.STOPPING, E.RESTART): Outcome(S.STOPPING, (), (10.0,)),
    (S.STOPPING, E.LEADER_EXIT): Outcome(S.STOPPING, (), (10.0,)),
    (S.STOPPING, E.GONE): Outcome(S.STOPPED, ("close 101",)),
    (S.STOPPING, E.TIMER): Outcome(S.STOPPING, ("kill 101",), (KILL_RECHECK_SECONDS,)),
    (S.EXITED, E.START): Outcome(S.STARTING, LAUNCH_102, (1.0,)),
    (S.EXITED, E.STOP): Outcome(S.STOPPED),
    (S.EXITED, E.RESTART): Outcome(S.STARTING, LAUNCH_102, (1.0,)),
    (S.EXITED, E.LEADER_EXIT): Outcome(S.EXITED),
    (S.EXITED, E.GONE): Outcome(S.EXITED),
    (S.EXITED, E.TIMER): Outcome(S.EXITED),
    (S.BACKOFF, E.START): Outcome(S.STARTING, LAUNCH_102, (1.0,)),
    (S.BACKOFF, E.STOP): Outcome(S.STOPPED),
    (S.BACKOFF, E.RESTART): Outcome(S.STARTING, LAUNCH_102, (1.0,)),
    (S.BACKOFF, E.LEADER_EXIT): Outcome(S.BACKOFF, (), (1.0,)),
    (S.BACKOFF, E.GONE): Outcome(S.BACKOFF, (), (1.0,)),
    (S.BACKOFF, E.TIMER): Outcome(S.STARTING, LAUNCH_102, (1.0,)),
    (S.FATAL, E.START): Outcome(S.STARTING, LAUNCH_102, (1.0,)),
    (S.FATAL, E.STOP): Outcome(S.STOPPED),
    (S.FATAL, E.RESTART): Outcome(S.STARTING, LAUNCH_102, (1.0,)),
    (S.FATAL, E.LEADER_EXIT): Outcome(S.FATAL),
    (S.FATAL, E.GONE): Outcome(S.FATAL),
    (S.FATAL, E.TIMER): Outcome(S.FATAL),
}


def fire(h: Harness, p: Process, event: Event) -> None:
    """Deliver EVENT the way the real collaborators would."""
    if event is Event.TIMER and h.clock.pending():
        h.clock.advance_to_next()  # the armed timer, not a forged event
    elif event is Event.LEADER_EXIT and isinstance(p.gen, FakeGeneration):
        h.exit(p, 1)
    else:
        p.handle(event)


def test_the_table_has_one_handler_for_every_pair() -> None:
    """Point 2 of STYLE: no (state, event) pair is left to a KeyError."""
    every = {(s, e) for s in State for e in Event}
    assert set(TABLE) == every
    assert set(EXPECTED) == every


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_each_builder_reaches_its_state(state: State) -> None:
    p = BUILDERS[state](Harness())
    assert p.state is state


@pytest.mark.parametrize(
    ("state", "event"),
    list(EXPECTED),
    ids=[f"{s.value}+{e.value}" for s, e in EXPECTED],
)
def test_every_pair_has_the_expected_outcome(state: State, event: Event) -> None:
    h = Harness()
    p = BUILDERS[state](h)
    seen = len(h.journal)

    fire(h, p, event)

    want = EXPECTED[(state, event)]
    assert p.state is want.state
    assert tuple(h.journal[seen:]) == want.journal
    assert tuple(h.clock.delays()) == want.timers
    # At most one timer, and the process knows which one it is.
    assert (p.timer is None) == (not want.timers)
    if want.timers:
        assert p.timer is h.clock.pending()[0]
    # A generation exists exactly in the live states.
    assert (p.gen is not None) == (p.state in LIVE)


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_ignored_pairs_change_nothing(state: State) -> None:
    """Pairs listed as `_ignore` leave every field as it was."""
    for event in Event:
        if TABLE[(state, event)] is not Process._ignore:
            continue
        h = Harness()
        p = BUILDERS[state](h)
        before = {k: v for k, v in vars(p).items() if k != "_waiters"}
        p.handle(event)
        after = {k: v for k, v in vars(p).items() if k != "_waiters"}
        assert after == before, event


# ---------------------------------------------------------------------------
# Scripted histories
#
# Each step is an action and the state expected right after it. Actions:
# start, stop, restart (user requests), exit N (the leader ends with
# returncode N), gone (nothing of the run is left), advance N (seconds).


Step = tuple[str, State]

HISTORIES: dict[str, tuple[dict[str, Any], list[Step]]] = {
    "running after start_secs": ({}, [
        ("start", S.STARTING),
        ("advance 0.75", S.STARTING),
        ("advance 0.25", S.RUNNING),
    ]),
    "start_secs of zero runs at once": ({"start_secs": 0.0}, [
        ("start", S.RUNNING),
    ]),
    "stop, stopping, gone, stopped": ({}, [
        ("start", S.STARTING),
        ("advance 1", S.RUNNING),
        ("stop", S.STOPPING),
        ("exit -15", S.STOPPING),
        ("gone", S.STOPPED),
        ("advance 60", S.STOPPED),
    ]),
    "stop while starting": ({}, [
        ("start", S.STARTING),
        ("stop", S.STOPPING),
        ("advance 5", S.STOPPING),
        ("exit -15", S.STOPPING),
        ("gone", S.STOPPED),
    ]),
    "stop outlasting its timeout": ({}, [
        ("start", S.STARTING),
        ("advance 1", S.RUNNING),
        ("stop", S.STOPPING),
        ("advance 10", S.STOPPING),
        ("exit -9", S.STOPPING),
        ("gone", S.STOPPED),
    ]),
    "restart comes back up": ({}, [
        ("start", S.STARTING),
        ("advance 1", S.RUNNING),
        ("restart", S.STOPPING),
        ("exit -15", S.STOPPING),
        ("gone", S.STARTING),
        ("advance 1", S.RUNNING),
    ]),
    "start during a stop comes back up": ({}, [
        ("start", S.STARTING),
        ("advance 1", S.RUNNING),
        ("stop", S.STOPPING),
        ("start", S.STOPPING),
        ("gone", S.STARTING),
    ]),
    "stop during a restart stays down": ({}, [
        ("start", S.STARTING),
        ("advance 1", S.RUNNING),
        ("restart", S.STOPPING),
        ("stop", S.STOPPING),
        ("gone", S.STOPPED),
    ]),
    "crash of a long run restarts at once": ({}, [
        ("start", S.STARTING),
        ("advance 1", S.RUNNING),
        ("advance 100", S.RUNNING),
        ("exit 1", S.STOPPING),
        ("gone", S.STARTING),
    ]),
    "crash loop ends in fatal": ({"start_retries": 2}, [
        ("start", S.STARTING),
        ("exit 1", S.STOPPING),
        ("gone", S.BACKOFF),
        ("advance 1", S.STARTING),
        ("exit 1", S.STOPPING),
        ("gone", S.BACKOFF),
        ("advance 2", S.STARTING),
        ("exit 1", S.STOPPING),
        ("gone", S.FATAL),
        ("advance 3600", S.FATAL),
        ("start", S.STARTING),
    ]),
    "stop during back-off": ({}, [
        ("start", S.STARTING),
        ("exit 1", S.STOPPING),
        ("gone", S.BACKOFF),
        ("stop", S.STOPPED),
        ("advance 3600", S.STOPPED),
    ]),
    "never restarts": ({"restart": "never"}, [
        ("start", S.STARTING),
        ("advance 1", S.RUNNING),
        ("exit 1", S.STOPPING),
        ("gone", S.EXITED),
        ("start", S.STARTING),
    ]),
}


def play(h: Harness, p: Process, action: str) -> None:
    verb, _, arg = action.partition(" ")
    if verb in ("start", "stop", "restart"):
        p.handle(Event[verb.upper()])
    elif verb == "exit":
        h.exit(p, int(arg))
    elif verb == "gone":
        h.gone(p)
    elif verb == "advance":
        h.clock.advance(float(arg))
    else:
        raise AssertionError(f"unknown step {action!r}")


@pytest.mark.parametrize("name", list(HISTORIES))
def test_history(name: str, corral_log: StrictHandler) -> None:
    overrides, steps = HISTORIES[name]
    h = Harness()
    p = h.process(**overrides)
    for number, (action, state) in enumerate(steps, start=1):
        play(h, p, action)
        assert p.state is state, f"step {number} ({action}): {p!r}"
        assert len(h.clock.pending()) <= 1


# ---------------------------------------------------------------------------
# Stop and its deadline


def test_stop_sends_stop_signal_once_then_kill_exactly_at_stop_timeout(
    harness: Harness,
) -> None:
    h = harness
    p = h.process(stop_timeout=7.5, stop_signal=2)
    h.start_running(p)
    gen = h.launcher.last
    stopped_at = h.clock.time()

    p.handle(Event.STOP)
    assert gen.signals == [2]
    assert p.timer.when == stopped_at + 7.5

    h.clock.advance(7.25)
    assert gen.kills == 0
    h.clock.advance(0.25)
    assert gen.kills == 1
    assert h.clock.time() == stopped_at + 7.5
    assert gen.signals == [2]  # no second SIGINT on the way


def test_kill_is_repeated_until_gone(harness: Harness, corral_log: StrictHandler) -> None:
    """After SIGKILL the deadline rechecks; the first warning differs from later ones."""
    h = harness
    p = h.process()
    h.start_running(p)
    gen = h.launcher.last
    gen.kill_hits = [101, 250]
    p.handle(Event.STOP)

    h.clock.advance(10.0)
    assert h.clock.delays() == [KILL_RECHECK_SECONDS]
    h.clock.advance(KILL_RECHECK_SECONDS * 2)
    assert gen.kills == 3
    warnings = [r.getMessage() for r in corral_log.records
                if r.levelname == "WARNING"]
    assert len(warnings) == 3
    assert "SIGKILL to pid=101, pid=250" in warnings[0]
    assert "still waiting" in warnings[-1]

    h.gone(p)
    assert p.state is State.STOPPED
    assert p.timer is None and h.clock.pending() == []
    assert p.escalated is False


def test_stop_report_records_signal_duration_and_kills(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    h.launcher.last.straggler_hits = [300]
    p.handle(Event.STOP)
    h.clock.advance(10.0)
    h.exit(p, -9)
    h.clock.advance(0.5)
    h.gone(p)

    report = p.status()["last_stop"]
    assert report == {
        "signal": "SIGTERM",
        "duration": 10.5,
        "sigkill": [101, 300],
        "exit": "killed by SIGKILL",
    }
    assert p.exit_code == -9


def test_stop_that_needs_no_kill_reports_none(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    p.handle(Event.STOP)
    h.clock.advance(0.25)
    h.exit(p, 0)
    h.gone(p)
    assert p.status()["last_stop"] == {
        "signal": "SIGTERM", "duration": 0.25, "sigkill": [], "exit": "exit status 0",
    }
    assert h.launcher.last.kills == 0


def test_gone_closes_the_run_and_forgets_it(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    gen = h.launcher.last
    p.handle(Event.STOP)
    h.gone(p)
    assert gen.closed
    assert p.gen is None and p.pid is None


# ---------------------------------------------------------------------------
# Restart


def test_restart_launches_the_new_run_only_after_the_old_is_gone(
    harness: Harness,
) -> None:
    """Two generations of one process never overlap (contract point 4)."""
    h = harness
    p = h.process()
    h.start_running(p)

    p.handle(Event.RESTART)
    h.clock.advance(3.0)
    h.exit(p, -15)
    assert h.launcher.launches == 1  # the leader is gone, its group may not be
    h.clock.advance(1.0)
    h.gone(p)

    assert h.journal == [
        "launch 101",
        "terminate 101 SIGTERM",
        "gone 101",
        "close 101",
        "launch 102",
    ]
    assert p.state is State.STARTING and p.pid == 102


def test_restart_of_a_stubborn_run_kills_it_first(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    p.handle(Event.RESTART)
    h.clock.advance(10.0)
    h.exit(p, -9)
    h.gone(p)
    assert h.journal[1:] == [
        "terminate 101 SIGTERM", "kill 101", "gone 101", "close 101", "launch 102",
    ]


def test_restart_keeps_failures_at_zero_and_is_not_a_crash(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    p.handle(Event.RESTART)
    h.gone(p)
    assert p.failures == 0
    assert p.reason == ""


# ---------------------------------------------------------------------------
# Crashes and back-off


def test_crash_loop_backs_off_exponentially_up_to_the_cap_then_fatal(
    harness: Harness,
) -> None:
    h = harness
    p = h.process(backoff=1.0, backoff_max=5.0, start_retries=5)
    p.handle(Event.START)

    delays = []
    while True:
        h.clock.advance(0.25)
        h.crash(p, 1)
        if p.state is not State.BACKOFF:
            break
        delays.append(h.clock.advance_to_next())
        assert state_of(p) is State.STARTING

    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert p.state is State.FATAL
    assert p.failures == 6
    assert p.restarts == 5
    assert h.launcher.launches == 6
    assert h.clock.pending() == []
    assert "gave up after 6 failed starts" in p.reason


def test_backoff_reason_and_retry_in_name_the_delay(harness: Harness) -> None:
    h = harness
    p = h.process(backoff=2.0, backoff_max=30.0)
    p.handle(Event.START)
    h.crash(p, 3)
    row = p.status()
    assert row["state"] == "backoff"
    assert p.reason == "exited after 0.00 s: exit status 3; next try in 2 s"
    assert 0 <= row["retry_in"] <= 2.0
    assert row["failures"] == 1
    assert row["exit"] == "exit status 3"


def test_start_retries_of_zero_gives_up_at_the_first_failure(harness: Harness) -> None:
    h = harness
    p = h.process(start_retries=0)
    p.handle(Event.START)
    h.crash(p, 1)
    assert p.state is State.FATAL
    assert h.clock.pending() == []


def test_start_retries_of_minus_one_retries_for_ever(
    harness: Harness, corral_log: StrictHandler
) -> None:
    h = harness
    p = h.process(start_retries=-1, backoff=1.0, backoff_max=8.0)
    p.handle(Event.START)
    for _ in range(40):
        h.crash(p, 1)
        assert p.state is State.BACKOFF
        last = h.clock.advance_to_next()
    assert last == 8.0
    assert p.failures == 40
    assert not any(" of -1" in line for line in corral_log.lines)


def test_long_run_that_crashes_restarts_at_once_and_resets_failures(
    harness: Harness,
) -> None:
    h = harness
    p = h.process(start_retries=3)
    p.handle(Event.START)
    h.crash(p, 1)
    h.clock.advance_to_next()
    h.crash(p, 1)
    h.clock.advance_to_next()
    assert p.failures == 2

    h.clock.advance(1.0)  # this run lasts: running, failures forgotten
    assert p.state is State.RUNNING and p.failures == 0
    h.clock.advance(3600.0)
    h.crash(p, 1)

    assert state_of(p) is State.STARTING
    assert h.clock.delays() == [1.0]  # start_secs, not a back-off
    assert p.failures == 0
    assert p.restarts == 3


def test_a_run_that_lasted_exactly_start_secs_is_not_a_failed_start(
    harness: Harness,
) -> None:
    h = harness
    p = h.process(start_secs=2.0)
    p.handle(Event.START)
    h.clock.advance(2.0)
    h.crash(p, 1)
    assert p.state is State.STARTING
    assert p.failures == 0


def test_uptime_for_the_decision_counts_from_launch(harness: Harness) -> None:
    """A crash just short of start_secs backs off."""
    h = harness
    p = h.process(start_secs=2.0)
    p.handle(Event.START)
    h.clock.advance(1.75)
    h.crash(p, 1)
    assert p.state is State.BACKOFF


@pytest.mark.parametrize(
    ("policy", "status", "restarted"),
    [
        ("always", 0, True),
        ("always", 1, True),
        ("always", -9, True),
        ("on-failure", 0, False),
        ("on-failure", 3, False),
        ("on-failure", 1, True),
        ("on-failure", -15, True),
        ("never", 0, False),
        ("never", 1, False),
        ("never", -9, False),
    ],
)
def test_restart_policy_after_a_long_run(
    harness: Harness, policy: str, status: int, restarted: bool
) -> None:
    h = harness
    p = h.process(restart=policy, exit_codes=frozenset({0, 3}))
    h.start_running(p)
    h.clock.advance(60.0)
    h.crash(p, status)
    if restarted:
        assert p.state is State.STARTING
        assert h.launcher.launches == 2
    else:
        assert p.state is State.EXITED
        assert h.launcher.launches == 1
        assert h.clock.pending() == []
    assert p.exit_code == status


@pytest.mark.parametrize(
    ("policy", "status", "state"),
    [
        ("on-failure", 0, State.EXITED),
        ("on-failure", 1, State.BACKOFF),
        ("never", 1, State.EXITED),
        ("always", 0, State.BACKOFF),
    ],
)
def test_restart_policy_after_a_quick_exit(
    harness: Harness, policy: str, status: int, state: State
) -> None:
    """A quick exit the policy accepts is an exit, not a failed start."""
    h = harness
    p = h.process(restart=policy)
    p.handle(Event.START)
    h.crash(p, status)
    assert p.state is state


def test_signal_deaths_never_match_exit_codes(harness: Harness) -> None:
    """exit_codes are 0..255; a returncode of -N means killed by signal N."""
    h = harness
    p = h.process(restart="on-failure", exit_codes=frozenset({9}))
    h.start_running(p)
    h.crash(p, -9)
    assert p.state is State.STARTING


def test_exited_reason_describes_the_status(harness: Harness) -> None:
    h = harness
    p = h.process(restart="never")
    h.start_running(p)
    h.crash(p, -11)
    assert p.state is State.EXITED
    assert p.reason == "killed by SIGSEGV"
    assert p.status()["exit"] == "killed by SIGSEGV"


# ---------------------------------------------------------------------------
# Leader exits that leave something behind


def test_leader_exit_with_leftovers_stops_them_before_deciding(
    harness: Harness, corral_log: StrictHandler
) -> None:
    h = harness
    p = h.process(stop_signal=1)
    h.start_running(p)
    h.launcher.last.leftover_pids = [240, 241]
    h.clock.advance(50.0)

    h.exit(p, 0)

    assert p.state is State.STOPPING
    assert h.journal[-1] == "terminate 101 SIGHUP"
    assert h.clock.delays() == [10.0]
    assert p.requested is False
    warning = corral_log.lines[-1]
    assert "web.0 pid=101 exited on its own (exit status 0)" in warning
    assert "leaving pid=240, pid=241; sending them SIGHUP" in warning

    h.clock.advance(10.0)  # they ignored it
    assert h.launcher.last.kills == 1
    h.gone(p)
    assert state_of(p) is State.STARTING  # restart = always


def test_start_during_the_cleanup_of_an_always_process(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    h.clock.advance(30.0)
    h.exit(p, 1)
    p.handle(Event.START)
    h.gone(p)
    assert p.state is State.STARTING


def test_regression_quick_crash_with_stubborn_leftovers_is_a_failed_start(
    harness: Harness,
) -> None:
    """A leader that dies at once is a failed start, however long its leftovers live.

    `_after_exit` measures uptime when the whole run is GONE. A leader that
    crashes after 0.25 s but leaves a child that ignores SIGTERM is GONE only
    after the kill at stop_timeout, so the run counts as a long one: no
    back-off, failures reset, and the crash loop never reaches FATAL.
    """
    h = harness
    p = h.process(start_secs=1.0, stop_timeout=10.0)
    p.handle(Event.START)
    h.launcher.last.leftover_pids = [500]
    h.clock.advance(0.25)
    h.exit(p, 1)
    h.clock.advance(10.0)  # SIGKILL to the leftover
    h.gone(p)
    assert p.state is State.BACKOFF
    assert p.failures == 1


def test_regression_restart_during_exit_cleanup_is_not_lost(harness: Harness) -> None:
    """A restart asked for while an exited run is being cleaned up still restarts.

    With restart = never (or on-failure and an expected code), RESTART in
    STOPPING only sets want_up, and GONE then follows the policy: the
    process ends EXITED. `wait_started` accepts EXITED with an expected code,
    so `corral restart` reports success while nothing runs.
    """
    h = harness
    p = h.process(restart="on-failure")
    h.start_running(p)
    h.launcher.last.leftover_pids = [600]
    h.exit(p, 0)
    p.handle(Event.RESTART)
    h.gone(p)
    assert p.state is State.STARTING


def test_stop_during_exit_cleanup_ends_stopped(harness: Harness) -> None:
    """A stop asked for while an exit is cleaned up is what the state says."""
    h = harness
    p = h.process()
    h.start_running(p)
    h.exit(p, 1)
    p.handle(Event.STOP)
    h.gone(p)
    assert p.state is State.STOPPED
    assert p.exit_code == 1
    assert p.want_up is False
    assert h.launcher.launches == 1


# ---------------------------------------------------------------------------
# Manual starts, spawn failures, closing


def test_manual_start_from_fatal_resets_the_counter(harness: Harness) -> None:
    h = harness
    p = h.process(start_retries=1)
    p.handle(Event.START)
    h.crash(p, 1)
    h.clock.advance_to_next()
    h.crash(p, 1)
    assert p.state is State.FATAL and p.failures == 2

    p.handle(Event.START)
    assert p.failures == 0
    h.crash(p, 1)
    assert state_of(p) is State.BACKOFF  # a fresh budget of retries
    assert h.clock.delays() == [1.0]  # and the back-off starts over


def test_manual_start_during_backoff_cancels_the_pending_retry(harness: Harness) -> None:
    h = harness
    p = h.process()
    p.handle(Event.START)
    h.crash(p, 1)
    retry = p.timer

    p.handle(Event.START)
    assert retry.cancelled
    assert h.clock.delays() == [1.0]
    h.clock.advance(3600.0)
    assert h.launcher.launches == 2


def test_spawn_failure_counts_as_a_failed_start(
    harness: Harness, corral_log: StrictHandler
) -> None:
    h = harness
    p = h.process(start_retries=2)
    h.launcher.failures = ["no such file: web-server"] * 3

    p.handle(Event.START)
    assert p.state is State.BACKOFF
    assert p.pid is None and p.exit_code is None
    assert p.reason == "could not start: no such file: web-server; next try in 1 s"
    assert "web.0 pid=- could not start" in corral_log.lines[-1]

    h.clock.advance_to_next()
    h.clock.advance_to_next()
    assert state_of(p) is State.FATAL
    assert p.failures == 3
    assert h.launcher.launches == 0


def test_spawn_failure_then_success(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.launcher.failures = ["permission denied"]
    p.handle(Event.START)
    h.clock.advance_to_next()
    assert p.state is State.STARTING and p.pid == 101
    assert p.reason == ""
    h.clock.advance(1.0)
    assert state_of(p) is State.RUNNING and p.failures == 0


def test_closing_prevents_a_start(harness: Harness) -> None:
    h = harness
    p = h.process()
    p.closing = True
    p.handle(Event.START)
    assert p.state is State.STOPPED
    assert h.launcher.launches == 0


def test_closing_prevents_the_retry_after_backoff(harness: Harness) -> None:
    h = harness
    p = h.process()
    p.handle(Event.START)
    h.crash(p, 1)
    p.closing = True
    h.clock.advance_to_next()
    assert p.state is State.STOPPED
    assert h.launcher.launches == 1


def test_closing_prevents_the_second_half_of_a_restart(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    p.handle(Event.RESTART)
    p.closing = True
    h.gone(p)
    assert p.state is State.STOPPED
    assert h.launcher.launches == 1


def test_closing_prevents_a_restart_after_a_crash(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    p.closing = True
    h.crash(p, 1)
    assert p.state is State.EXITED
    assert h.launcher.launches == 1


# ---------------------------------------------------------------------------
# Waiters


def test_wait_until_returns_at_once_when_already_there(harness: Harness) -> None:
    p = harness.process()
    asyncio.run(p.wait_until(DOWN))
    assert p._waiters == []


def test_wait_started_returns_when_start_secs_pass(harness: Harness) -> None:
    h = harness
    p = h.process()

    async def scenario() -> None:
        p.handle(Event.START)
        asyncio.get_running_loop().call_soon(h.clock.advance, 1.0)
        await p.wait_started()

    asyncio.run(scenario())
    assert p.state is State.RUNNING


def test_wait_started_rides_through_backoff(harness: Harness) -> None:
    h = harness
    p = h.process()

    def crash_then_recover() -> None:
        h.crash(p, 1)
        assert p.state is State.BACKOFF
        h.clock.advance_to_next()
        h.clock.advance(1.0)

    async def scenario() -> None:
        p.handle(Event.START)
        asyncio.get_running_loop().call_soon(crash_then_recover)
        await p.wait_started()

    asyncio.run(scenario())
    assert p.state is State.RUNNING


def test_wait_started_raises_a_one_line_reason_on_fatal(harness: Harness) -> None:
    h = harness
    p = h.process(start_retries=0)
    h.launcher.failures = ["no such file: web-server"]

    async def scenario() -> None:
        p.handle(Event.START)
        await p.wait_started()

    with pytest.raises(ActionFailed) as info:
        asyncio.run(scenario())
    message = str(info.value)
    assert message == ("web.0: could not start: no such file: web-server; "
                       "gave up after 1 failed start")
    assert "\n" not in message
    assert isinstance(info.value, CorralError)


def test_wait_started_accepts_an_expected_exit(harness: Harness) -> None:
    h = harness
    p = h.process(restart="on-failure")

    async def scenario() -> None:
        p.handle(Event.START)
        asyncio.get_running_loop().call_soon(h.crash, p, 0)
        await p.wait_started()

    asyncio.run(scenario())
    assert p.state is State.EXITED


def test_wait_started_refuses_an_unexpected_exit(harness: Harness) -> None:
    h = harness
    p = h.process(restart="never")

    async def scenario() -> None:
        p.handle(Event.START)
        asyncio.get_running_loop().call_soon(h.crash, p, 2)
        await p.wait_started()

    with pytest.raises(ActionFailed, match=r"^web\.0: exit status 2$"):
        asyncio.run(scenario())


def test_wait_started_refuses_a_stop_in_between(harness: Harness) -> None:
    h = harness
    p = h.process()

    def stop() -> None:
        p.handle(Event.STOP)
        h.gone(p)

    async def scenario() -> None:
        p.handle(Event.START)
        asyncio.get_running_loop().call_soon(stop)
        await p.wait_started()

    with pytest.raises(ActionFailed, match=r"^web\.0 was stopped by another request$"):
        asyncio.run(scenario())


def test_wait_until_down_wakes_every_waiter_once_gone(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)

    async def scenario() -> list[State]:
        p.handle(Event.STOP)
        seen: list[State] = []

        async def waiter() -> None:
            await p.wait_until(DOWN)
            seen.append(p.state)

        tasks = [asyncio.create_task(waiter()) for _ in range(3)]
        loop = asyncio.get_running_loop()
        loop.call_soon(h.clock.advance, 4.0)  # time passes; nothing changes
        loop.call_soon(h.gone, p)
        await asyncio.gather(*tasks)
        return seen

    assert asyncio.run(scenario()) == [State.STOPPED] * 3
    assert p._waiters == []


def test_a_cancelled_waiter_does_not_break_the_next_change(harness: Harness) -> None:
    h = harness
    p = h.process()

    async def scenario() -> None:
        task = asyncio.create_task(p.wait_until(frozenset({State.RUNNING})))
        # Runs after the task's first step, once its future is registered.
        asyncio.get_running_loop().call_soon(task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(p._waiters) == 1  # cancelled, still listed
        p.handle(Event.START)
        h.clock.advance(1.0)

    asyncio.run(scenario())
    assert p.state is State.RUNNING


# ---------------------------------------------------------------------------
# Signals, status, repr, logs


def test_signal_goes_to_the_chosen_target(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    p.signal(10, "tree")
    assert h.journal[-1] == "send 101 10 tree"


def test_signal_refused_when_not_running(harness: Harness) -> None:
    p = harness.process()
    with pytest.raises(ActionFailed, match=r"^web\.0 is stopped, not running$"):
        p.signal(1, "group")


def test_signal_refused_when_nothing_is_left(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    h.launcher.last.send_result = False
    with pytest.raises(ActionFailed, match="no process left to signal"):
        p.signal(1, "main")


def test_status_reports_uptime_from_the_clock(harness: Harness) -> None:
    h = harness
    p = h.process(index=2)
    h.start_running(p)
    h.clock.advance(41.0)
    row = p.status()
    assert row["name"] == "web.2" and row["program"] == "web" and row["index"] == 2
    assert row["pid"] == 101 and row["state"] == "running"
    assert row["uptime"] == 42.0
    assert row["restarts"] == 0 and row["exit_code"] is None and row["exit"] is None
    assert row["reason"] is None and row["retry_in"] is None
    assert row["last_stop"] is None


def test_status_has_no_uptime_when_down(harness: Harness) -> None:
    h = harness
    p = h.process()
    h.start_running(p)
    p.handle(Event.STOP)
    assert p.status()["uptime"] is None


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_repr_names_the_process_its_pid_and_state(state: State) -> None:
    """STYLE point 8: objects in logs show name, pid and state."""
    p = BUILDERS[state](Harness())
    text = repr(p)
    assert "web.0" in text
    assert f"pid={p.pid}" in text
    assert f"state={state.value}" in text


def test_repr_of_a_running_process() -> None:
    h = Harness()
    p = in_running(h)
    assert repr(p) == "<Process web.0 pid=101 state=running>"


def test_every_lifecycle_line_names_the_process_and_its_pid(
    corral_log: StrictHandler,
) -> None:
    """STYLE point 7, over a history that passes through every handler."""
    h = Harness()
    p = h.process(start_retries=1)
    h.launcher.failures = ["bad cwd"]
    p.handle(Event.START)
    h.clock.advance_to_next()
    h.clock.advance(1.0)
    p.signal(1, "group")
    h.launcher.last.leftover_pids = [7]
    h.exit(p, 1)
    h.clock.advance(10.0)
    h.clock.advance(KILL_RECHECK_SECONDS)
    h.gone(p)
    p.handle(Event.RESTART)
    h.gone(p)
    p.handle(Event.STOP)
    h.gone(p)
    p.handle(Event.START)
    h.crash(p, 1)
    h.clock.advance_to_next()
    h.crash(p, 1)
    assert p.state is State.FATAL

    lines = [r.getMessage() for r in corral_log.records if r.name == "corral.program"]
    assert len(lines) > 20
    for line in lines:
        assert line.startswith("web.0 pid="), line


# ---------------------------------------------------------------------------
# Clock handling


def test_regression_launch_at_clock_zero_still_counts_uptime() -> None:
    """A timestamp of 0.0 is a time like any other, not a missing value.

    `_after_exit` and `status` test `started_at` for truth; with a clock
    whose epoch is the start of the test, a long run launched at 0.0
    looks 0 s old and is backed off as a failed start.
    """
    h = Harness(clock=FakeClock(start=0.0))
    p = h.process()
    h.start_running(p)
    h.clock.advance(100.0)
    assert p.status()["uptime"] == 101.0
    h.crash(p, 1)
    assert p.state is State.STARTING


def test_regression_wait_stopped_counts_from_the_request_not_the_waiter(
    harness: Harness,
) -> None:
    """A stop's waiter runs a loop turn after the request. If in between the
    run is gone and another request starts a new one, the stop is answered
    (started again by another request) rather than waiting on the new run
    for ever. Found by 100 concurrent clients."""
    h = harness
    p = h.process()
    h.start_running(p)

    async def scenario() -> bool:
        p.handle(Event.STOP)
        spawns = p.spawns  # taken with the request, as the supervisor does
        waiter = asyncio.ensure_future(p.wait_stopped(spawns))
        h.gone(p)  # before the waiter has run once
        assert p.state is State.STOPPED
        p.handle(Event.START)  # another client's start
        assert p.state is State.STARTING
        return await asyncio.wait_for(waiter, 5)

    assert asyncio.run(scenario()) is False


def test_stopping_a_process_in_backoff_or_fatal_forgets_the_reason(
    harness: Harness,
) -> None:
    for builder in (in_backoff, in_fatal):
        p = builder(harness)
        assert p.reason
        p.handle(Event.STOP)
        row = p.status()
        assert (row["state"], row["reason"], row["retry_in"]) == ("stopped", None, None)
