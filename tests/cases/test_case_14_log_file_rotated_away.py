"""Case 14: external log rotation; no lines written into a moved-away file.

Invariant: when logrotate renames, deletes or truncates a program's log
file, corral opens the file again under its name (on its own within about
a second, or at once on `corral logs --reopen` or SIGUSR1 to the daemon)
and keeps writing whole lines to it. After a rename the old and the new
file together hold every tick exactly once; after a delete at most the
ticks of the (≤ 2 s) window before the reopen are lost; after a truncate
the file has no NUL bytes. The daemon keeps no fd to a deleted log, and
a line being written at the moment of a rename is not cut in two.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time

import pytest

from tests.cases.conftest import Corral, configure, open_files
from tests.conftest import SHORT, Env, wait_for

TICKER = """\
import time
i = 0
while True:
    print(f"tick {i:06d}", flush=True); i += 1
    time.sleep(0.05)
"""

CONFIGS = {
    "toml": """\
        [programs.tick]
        cmd = ["python3", "-u", "ticker.py", "CORRAL_CASE_14"]
        stdout = "logs/tick.log"
    """,
    "circus": """\
        [watcher:tick]
        cmd = python3 -u ticker.py CORRAL_CASE_14
        stdout_stream.class = FileStream
        stdout_stream.filename = logs/tick.log
    """,
}

LOG = "logs/tick.log"
TICK = re.compile(rb"tick (\d{6})")
# The case's bound on how long a moved or removed file may go unnoticed.
REOPEN_WITHIN = 2.0
# The ticker writes at most 20 lines a second (it sleeps 0.05 s between).
MAX_LOST = int(REOPEN_WITHIN * 20)


def ticks(data: bytes, head_may_be_cut: bool = False) -> list[int]:
    """The tick numbers in DATA; every whole line must be a tick line.

    What follows the last newline is a line still being written and is
    left out. With HEAD_MAY_BE_CUT the first line may be the end of a line
    whose start went elsewhere (a truncate, a delete); it is left out too.
    Whether corral itself ever cuts a line is the subject of its own test.
    """
    lines = data.split(b"\n")
    lines.pop()
    if head_may_be_cut and lines and not TICK.fullmatch(lines[0]):
        lines = lines[1:]
    bad = [line for line in lines if not TICK.fullmatch(line)]
    assert bad == [], f"broken lines: {bad[:5]}"
    return [int(line[5:]) for line in lines]


def log_ticks(env: Env, name: str = LOG) -> list[int]:
    """The ticks of a log file that may have been reopened a moment ago."""
    return ticks(env.read_bytes(name), head_may_be_cut=True)


def consecutive(numbers: list[int]) -> bool:
    return numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def grows(env: Env, name: str = LOG, by: int = 5) -> None:
    """Wait until NAME holds BY more ticks than it does now."""
    start = len(log_ticks(env, name))
    wait_for(lambda: len(log_ticks(env, name)) >= start + by, SHORT,
             f"{name} to grow")


def reappears(env: Env, since: float) -> float:
    """Wait for the log to exist again with a tick in it; return how long."""
    wait_for(lambda: log_ticks(env) != [], REOPEN_WITHIN + SHORT,
             f"{LOG} to be opened again")
    return time.monotonic() - since


def no_deleted_logs(case: Corral) -> None:
    deleted = [t for t in open_files(case.daemon_pid()) if t.endswith("(deleted)")]
    assert deleted == [], deleted


def start(env: Env, fmt: str) -> Corral:
    env.write("ticker.py", TICKER)
    case = configure(env, fmt, CONFIGS)
    case.up()
    # The case waits 2 s; the ticks flowing are what it waits for.
    grows(env, by=10)
    return case


@pytest.mark.parametrize(("fmt", "trigger"), [
    ("toml", "none"), ("circus", "none"), ("toml", "command"), ("toml", "sigusr1"),
])
def test_rename_then_reopen_loses_and_repeats_nothing(env: Env, fmt: str,
                                                      trigger: str) -> None:
    """A: `mv tick.log tick.log.1`; tick.log comes back, no tick lost or doubled."""
    case = start(env, fmt)

    moved = time.monotonic()
    os.rename(env.path / LOG, env.path / "logs/tick.log.1")
    if trigger == "command":
        assert "reopened" in case.ok("logs", "--reopen")
        assert (env.path / LOG).exists(), "the reopen command returned before reopening"
    elif trigger == "sigusr1":
        os.kill(case.daemon_pid(), signal.SIGUSR1)
    took = reappears(env, moved)
    assert took <= REOPEN_WITHIN, f"{LOG} came back after {took:.2f} s"
    grows(env)
    no_deleted_logs(case)

    # tick.log.1 is no longer written; together with tick.log it holds
    # every tick once, in order.
    together = ticks(env.read_bytes("logs/tick.log.1") + env.read_bytes(LOG))
    assert together == list(range(len(together))), together
    assert len(log_ticks(env)) >= 5


@pytest.mark.parametrize("fmt", ["toml", "circus"])
def test_delete_then_recreate_loses_at_most_the_window(env: Env, fmt: str) -> None:
    """B: `rm tick.log`; it comes back within 2 s, and grows, gap-free."""
    case = start(env, fmt)

    last_seen = log_ticks(env)[-1]
    removed = time.monotonic()
    os.unlink(env.path / LOG)
    took = reappears(env, removed)
    assert took <= REOPEN_WITHIN, f"{LOG} came back after {took:.2f} s"
    grows(env)
    no_deleted_logs(case)

    new = log_ticks(env)
    assert consecutive(new), new
    lost = new[0] - last_seen - 1
    assert 0 <= lost <= MAX_LOST, f"{lost} ticks lost"


@pytest.mark.parametrize("fmt", ["toml", "circus"])
def test_copytruncate_leaves_no_nul_bytes(env: Env, fmt: str) -> None:
    """C: copy then truncate in place; new ticks, from offset 0, no NULs."""
    case = start(env, fmt)

    shutil.copy(env.path / LOG, env.path / "logs/tick.copy")
    with open(env.path / LOG, "wb"):
        pass  # `: > logs/tick.log`: truncate in place, same inode
    # The case waits 1 s; a few new ticks are what it waits for.
    grows(env)
    data = env.read_bytes(LOG)
    assert not data.startswith(b"\0")
    assert b"\0" not in data

    copied = ticks(env.read_bytes("logs/tick.copy"))
    new = log_ticks(env)
    assert copied == list(range(len(copied)))
    assert consecutive(new), new
    assert new[0] >= len(copied)
    no_deleted_logs(case)


# Under -u, print() in the case's ticker makes two write()s per line
# ("tick 000019", then "\n"), so a line can be in flight when the file is
# moved. This slowed-down ticker keeps every line in flight for 1.5 s:
# the rename always falls inside one, and "none split" is checked every
# time instead of once in a while.
HALVES = """\
import sys, time
i = 0
while True:
    line = f"tick {i:06d}\\n"
    sys.stdout.write(line[:8]); sys.stdout.flush()
    time.sleep(1.5)
    sys.stdout.write(line[8:]); sys.stdout.flush()
    i += 1
"""

HALVES_CONFIG = {
    "toml": """\
        [programs.tick]
        cmd = ["python3", "-u", "halves.py", "CORRAL_CASE_14"]
        stdout = "logs/tick.log"
    """,
}


def test_line_in_flight_at_rename_is_not_split(env: Env) -> None:
    """A: the line being written when the file moves ends up whole in one file."""
    env.write("halves.py", HALVES)
    case = configure(env, "toml", HALVES_CONFIG)
    case.up()
    env.wait_log(LOG, "\n")

    os.rename(env.path / LOG, env.path / "logs/tick.log.1")
    wait_for(lambda: b"\n" in env.read_bytes(LOG), 3 * 1.5 + SHORT,
             "a whole line in the new tick.log")

    old = env.read_bytes("logs/tick.log.1")
    new = env.read_bytes(LOG)
    assert old.endswith(b"\n"), old[-20:]
    assert TICK.fullmatch(new.split(b"\n")[0]), new[:20]
    together = ticks(old + new)
    assert together == list(range(len(together)))
    no_deleted_logs(case)
