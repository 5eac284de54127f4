"""`corral status` as a table: durations, columns, colours."""

from __future__ import annotations

import types
from typing import Any

import pytest

from corral import table
from corral.table import STATE_COLOURS, duration, render_status

NOW = 1_700_000_000.0


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """`render_status` reads the wall clock for "since"; pin it."""
    monkeypatch.setattr(table, "time", types.SimpleNamespace(time=lambda: NOW))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (0.999, "0s"),
        (3, "3s"),
        (59.9, "59s"),
        (60, "1m00s"),
        (245, "4m05s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (7620, "2h07m"),
        (86399, "23h59m"),
        (86400, "1d00h"),
        (273600, "3d04h"),
        (100 * 86400, "100d00h"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "web.0", "pid": 4242, "state": "running", "uptime": 65.0,
        "restarts": 0, "exit": None, "reason": None, "since": NOW - 10,
        "output_error": None, "dropped_bytes": 0,
    }
    base.update(fields)
    return base


def test_no_processes() -> None:
    assert render_status([], colour=True) == "no programs"


def test_one_running_process() -> None:
    assert render_status([row()], colour=False).splitlines() == [
        "NAME   PID   STATE    UPTIME  RESTARTS  LAST EXIT  INFO",
        "web.0  4242  running  1m05s   0         -",
    ]


def test_columns_line_up_across_rows() -> None:
    rows = [
        row(),
        row(name="worker-long-name.12", pid=None, state="fatal", uptime=None,
            restarts=5, exit="exit status 1", reason="gave up after 6 failed starts"),
        row(name="db.0", pid=7, state="stopped", uptime=None, exit="killed by SIGTERM",
            since=NOW - 300),
    ]
    lines = render_status(rows, colour=False).splitlines()
    assert len(lines) == 4
    starts = [line.index("STATE") for line in lines[:1]]
    for line in lines[1:]:
        assert line[starts[0] - 2 : starts[0]] == "  "
    assert lines[2].split() == [
        "worker-long-name.12", "-", "fatal", "-", "5", "exit", "status", "1",
        "gave", "up", "after", "6", "failed", "starts",
    ]
    assert lines[3].endswith("killed by SIGTERM  since 5m00s")
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize("state", ["stopped", "exited", "fatal"])
def test_resting_states_say_since_when(state: str) -> None:
    text = render_status([row(state=state, since=NOW - 7200)], colour=False)
    assert text.splitlines()[1].endswith("since 2h00m")


@pytest.mark.parametrize("state", ["running", "starting", "stopping", "backoff"])
def test_live_states_do_not_say_since(state: str) -> None:
    assert "since" not in render_status([row(state=state)], colour=False)


def test_reason_wins_over_since() -> None:
    text = render_status([row(state="exited", reason="exit status 3")], colour=False)
    assert text.splitlines()[1].endswith("exit status 3")
    assert "since" not in text


def test_output_error_wins_over_the_reason() -> None:
    text = render_status(
        [row(reason="x", output_error="No space left on device", dropped_bytes=512)],
        colour=False,
    )
    assert text.splitlines()[1].endswith(
        "output: No space left on device (512 bytes lost)"
    )


@pytest.mark.parametrize("state", sorted(STATE_COLOURS))
def test_colour_wraps_only_the_state_cell(state: str) -> None:
    plain = render_status([row(state=state)], colour=False).splitlines()
    coloured = render_status([row(state=state)], colour=True).splitlines()
    code = STATE_COLOURS[state]
    assert coloured[0] == plain[0]  # the header stays plain
    assert f"\x1b[{code}m{state}" in coloured[1]
    assert coloured[1].replace(f"\x1b[{code}m", "").replace("\x1b[0m", "") == plain[1]


def test_unknown_state_is_printed_without_colour() -> None:
    text = render_status([row(state="weird")], colour=True)
    assert "\x1b[" not in text


def test_every_state_of_the_table_has_a_colour() -> None:
    from corral.program import State

    assert set(STATE_COLOURS) == {s.value for s in State}
