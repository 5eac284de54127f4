"""Case 04: what a program prints after receiving the stop signal is kept.

Invariant: corral keeps reading a program's pipes after it sends the stop
signal, until the last writer closes them. A worker that drains for 1.5 s
and then prints more than a pipe buffer holds gets every line into its log
file (and, for `console`, into the daemon's output with its `name.N │`
prefix), in order, and exits 0: never SIGPIPE, never SIGKILL. On restart
the old generation's last lines come before the new generation's first.
"""

from __future__ import annotations

import re
import time

from tests.cases.conftest import Corral, configure, wait_exit
from tests.conftest import LONG, Env

GRACEFUL = """\
import signal, sys, time
stopping = False
def on_term(sig, frm):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, on_term)
print("serving CORRAL_CASE_04", flush=True)
while not stopping:
    time.sleep(0.05)
print("got TERM, draining", flush=True)
for i in range(5):
    time.sleep(0.3)
    print(f"drain step {i}", flush=True)
sys.stdout.write(("x" * 99 + "\\n") * 2000)      # ~200 KB, more than a pipe buffer
sys.stdout.flush()
print("final words: clean exit", flush=True)
print("stderr final words", file=sys.stderr, flush=True)
"""

CONFIGS = {
    "toml": """\
        [programs.g]
        cmd = ["python3", "-u", "graceful.py"]
        restart = "never"
        stop_timeout = 10
        stdout = "logs/g.out.log"
        stderr = "logs/g.err.log"

        [programs.g_console]          # same program, output to the daemon's console
        cmd = ["python3", "-u", "graceful.py"]
        restart = "never"
        stop_timeout = 10
        stdout = "console"
        stderr = "console"
    """,
}

OUT = "logs/g.out.log"
ERR = "logs/g.err.log"
SERVING = "serving CORRAL_CASE_04"
XLINE = "x" * 99
SHUTDOWN = [
    "got TERM, draining",
    *(f"drain step {i}" for i in range(5)),
    *([XLINE] * 2000),
    "final words: clean exit",
]


def start(env: Env) -> Corral:
    env.write("graceful.py", GRACEFUL)
    return configure(env, "toml", CONFIGS)


def shutdown_lines_after(lines: list[str], start_at: int) -> list[str]:
    """The lines from the first 'got TERM' at or after START_AT."""
    first = lines.index(SHUTDOWN[0], start_at)
    return lines[first : first + len(SHUTDOWN)]


def test_stop_keeps_every_line_printed_after_sigterm(env: Env) -> None:
    """`corral stop g`: ~1.5 s, exit 0, every shutdown line in order."""
    case = start(env)
    case.up()
    env.wait_log(OUT, SERVING)

    began = time.monotonic()
    case.ok("stop", "g")
    took = time.monotonic() - began

    assert 1.5 <= took < 4.0, took
    lines = env.read(OUT).splitlines()
    assert lines[0] == SERVING
    assert lines[1:] == SHUTDOWN
    assert lines.count(XLINE) == 2000
    assert "stderr final words" in env.read(ERR).splitlines()
    [row] = case.status("g")
    assert row["state"] == "stopped"
    assert row["exit_code"] == 0, row
    assert case.ok("logs", "g", "-n", "1") == "final words: clean exit\n"


def test_restart_writes_old_last_words_before_new_first(env: Env) -> None:
    """`corral restart g`: old generation's final lines, then new `serving`."""
    case = start(env)
    case.up()
    env.wait_log(OUT, SERVING)
    old = case.one("g.0")["pid"]

    case.ok("restart", "g")
    new = case.one("g.0")["pid"]
    assert new != old
    env.wait_log(OUT, SERVING, count=2)

    lines = env.read(OUT).splitlines()
    second = lines.index(SERVING, 1)
    assert shutdown_lines_after(lines, 0) == SHUTDOWN
    assert lines[1:second] == SHUTDOWN
    assert lines[second:] == [SERVING]
    assert "stderr final words" in env.read(ERR)
    assert case.one("g.0")["state"] == "running"


def test_console_output_after_sigterm_reaches_the_foreground(env: Env) -> None:
    """`g_console`: every line, with its prefix, in `corral up`'s output."""
    case = start(env)
    daemon = case.up_foreground()
    env.wait_log("up.out", SERVING)

    case.ok("stop", "g_console")
    [row] = case.status("g_console")
    assert row["exit_code"] == 0, row
    case.ok("down")
    assert wait_exit(daemon, LONG) == 0

    prefix = re.compile(r"^g_console\.\d+\s*│ (.*)$")
    mine = [m.group(1) for line in env.read("up.out").splitlines()
            if (m := prefix.match(line))]
    # stderr is a pipe of its own: its line may land anywhere among the
    # stdout lines, which keep their order.
    assert mine.count("stderr final words") == 1
    stdout = [line for line in mine if line != "stderr final words"]
    assert stdout[0] == SERVING
    assert stdout[1 : 1 + len(SHUTDOWN)] == SHUTDOWN
    assert stdout.count(XLINE) == 2000
