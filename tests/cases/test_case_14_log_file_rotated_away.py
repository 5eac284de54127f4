"""Case 14: external log rotation; no lines written into a moved-away file.

Invariant: when logrotate renames, deletes or truncates a program's log
file, corral opens the file again under its name (on its own within about
a second, or at once on `corral logs --reopen` or SIGUSR1 to the daemon)
and keeps writing whole lines to it. After a rename the old and the new
file together hold every tick exactly once; after a delete at most the
ticks of the (≤ 2 s) window before the reopen are lost; after a truncate
the file has no NUL bytes. The daemon keeps no fd to a deleted log.
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
TICK = re.compile(r"tick (\d{6})")
# The case's bound on how long a moved or removed file may go unnoticed.
REOPEN_WITHIN = 2.0
# The ticker writes at most 20 lines a second (it sleeps 0.05 s between).
MAX_LOST = int(REOPEN_WITHIN * 20)


def numbers(env: Env, name: str, complete: bool = True) -> list[int]:
    """The tick numbers of a file; every line must be a whole tick line.

    With COMPLETE false, a last line without its newline is ignored (the
    file is still being written).
    """
    text = env.read(name)
    lines = text.split("\n")
    tail = lines.pop()
    if complete:
        assert tail == "", f"{name} ends in a partial line {tail!r}"
    bad = [line for line in lines if not TICK.fullmatch(line)]
    assert bad == [], f"{name} has broken lines: {bad[:5]}"
    return [int(line[5:]) for line in lines]


def grows(env: Env, name: str, by: int = 5) -> None:
    """Wait until NAME holds BY more ticks than it does now."""
    start = len(numbers(env, name, complete=False)) if (env.path / name).exists() else 0
    wait_for(lambda: (env.path / name).exists()
             and len(numbers(env, name, complete=False)) >= start + by,
             SHORT, f"{name} to grow")


def reappears(env: Env, since: float) -> float:
    """Wait for the log to exist again with a tick in it; return how long."""
    wait_for(lambda: (env.path / LOG).exists()
             and numbers(env, LOG, complete=False) != [],
             REOPEN_WITHIN + SHORT, f"{LOG} to be opened again")
    return time.monotonic() - since


def no_deleted_logs(case: Corral) -> None:
    deleted = [t for t in open_files(case.daemon_pid()) if t.endswith("(deleted)")]
    assert deleted == [], deleted


def start(env: Env, fmt: str) -> Corral:
    env.write("ticker.py", TICKER)
    case = configure(env, fmt, CONFIGS)
    case.up()
    # The case waits 2 s; the ticks flowing are what it waits for.
    grows(env, LOG, by=10)
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
    grows(env, LOG)
    no_deleted_logs(case)

    case.ok("stop", "tick")
    old = numbers(env, "logs/tick.log.1")
    new = numbers(env, LOG)
    together = old + new
    assert together == list(range(len(together))), (old[-3:], new[:3])
    assert len(new) >= 5


@pytest.mark.parametrize("fmt", ["toml", "circus"])
def test_delete_then_recreate_loses_at_most_the_window(env: Env, fmt: str) -> None:
    """B: `rm tick.log`; it comes back within 2 s, and grows, gap-free."""
    case = start(env, fmt)

    last_seen = numbers(env, LOG, complete=False)[-1]
    removed = time.monotonic()
    os.unlink(env.path / LOG)
    took = reappears(env, removed)
    assert took <= REOPEN_WITHIN, f"{LOG} came back after {took:.2f} s"
    grows(env, LOG)
    no_deleted_logs(case)

    case.ok("stop", "tick")
    new = numbers(env, LOG)
    assert new == list(range(new[0], new[0] + len(new)))
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
    grows(env, LOG)
    head = env.read_bytes(LOG)
    assert not head.startswith(b"\0")
    assert b"\0" not in head

    case.ok("stop", "tick")
    assert b"\0" not in env.read_bytes(LOG)
    copied = numbers(env, "logs/tick.copy", complete=False)
    new = numbers(env, LOG)
    assert copied == list(range(len(copied)))
    assert new == list(range(new[0], new[0] + len(new)))
    assert new[0] >= len(copied)
    no_deleted_logs(case)
