"""`corral logs`: the tail and the follow show each line once, whole, under
one label that does not claim more than is known, across reloads."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from tests.conftest import CORRAL, SHORT, TICK, Env, wait_for

# Each process writes five lines naming itself, then waits.
FIVE = """
import os, time
for i in range(5):
    print(os.environ["CORRAL_PROCESS"], "line", i, flush=True)
time.sleep(1000)
"""

SHARED = {
    "corral.toml": """
        [programs.w]
        cmd = ["python3", "five.py"]
        numprocs = 2
        stdout = "logs/w.log"
    """,
    # supervisord's default: stdout_logfile = AUTO, one file per program.
    "supervisord.conf": """
        [program:w]
        command = python3 five.py
        process_name = w%(process_num)d
        numprocs = 2
    """,
}
SHARED_FILE = {"corral.toml": "logs/w.log",
               "supervisord.conf": ".corral/logs/w-stdout.log"}


class Follower:
    """`corral logs -f ARGS`, its output in a file of the test."""

    def __init__(self, env: Env, *args: str, name: str = "follow.out") -> None:
        self.env = env
        self.name = name
        with open(env.path / name, "wb") as out:
            self.proc = subprocess.Popen([CORRAL, "logs", "-f", *args],
                                         cwd=env.path, env=env.env, stdout=out,
                                         stderr=subprocess.PIPE)

    def text(self) -> str:
        return self.env.read(self.name)

    def wait(self, text: str, count: int = 1) -> str:
        return self.env.wait_log(self.name, text, count=count)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(SHORT)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.mark.parametrize("config", list(SHARED))
def test_a_file_shared_by_processes_is_shown_once(env: Env, config: str) -> None:
    """Bug report: with numprocs = 2 and one file, `logs w -n 3` printed the
    file's last lines twice, once as w.0's and once as w.1's; `logs w.1`
    showed w.0's lines. The file is read once, its lines are labelled by
    the program only; a process named on its own shows only its own lines."""
    env.write("five.py", FIVE)
    env.config(SHARED[config], name=config)
    env.up("-c", config)
    path = SHARED_FILE[config]
    env.wait_log(path, "line 4", count=2)
    last = env.read(path).splitlines()

    assert env.ok("logs", "-c", config, "w", "-n", "3").splitlines() == last[-3:]
    own = env.ok("logs", "-c", config, "w.1", "-n", "2").splitlines()
    assert own == ["w.1 line 3", "w.1 line 4"]
    every = env.ok("logs", "-c", config, "-n", "3").splitlines()
    assert every == [f"w │ {line}" for line in last[-3:]]
    both = env.ok("logs", "-c", config, "w.0", "w.1", "-n", "1").splitlines()
    assert both == ["w.0 │ w.0 line 4", "w.1 │ w.1 line 4"]


# Every line is written in two parts, a moment apart, as print() does (text,
# then "\n") when the moment falls between them.
HALVES = """
import os, sys, time
name = os.environ["CORRAL_PROCESS"]
for i in range(1000):
    sys.stdout.write(f"{name} tick {i}"); sys.stdout.flush()
    time.sleep(0.01)
    sys.stdout.write("\\n"); sys.stdout.flush()
"""


@pytest.mark.parametrize("stdout", ["console", "logs/w.log"])
def test_followed_lines_are_whole_with_one_prefix(env: Env, stdout: str) -> None:
    """Bug report: `logs -f` put the prefix on every chunk read, so a line
    written in two parts came out as `w.1 │ w.1 30243 tick 36w.1 │ `, and
    parts of lines of two processes mixed. Each line now comes whole, with
    one prefix, whatever the destination."""
    env.write("halves.py", HALVES)
    env.config(f"""
        [programs.w]
        cmd = ["python3", "halves.py"]
        numprocs = 2
        stdout = "{stdout}"
    """)
    env.up()
    follower = Follower(env, "-n", "0", "w.0", "w.1")
    try:
        follower.wait("\n", count=40)
    finally:
        follower.stop()
    lines = follower.text().split("\n")
    lines.pop()  # what follows the last newline may be unfinished
    shape = re.compile(r"(w\.[01]) │ (w\.[01]) tick \d+")
    for line in lines:
        match = shape.fullmatch(line)
        assert match and match[1] == match[2], repr(line)
    for name in ("w.0", "w.1"):
        ticks = [int(line.rsplit(" ", 1)[1]) for line in lines
                 if line.startswith(name)]
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), name


# A line waits for go to exist, is then written in two parts, and a last
# one without newline ends the program.
LAST_WORDS = """
import os, sys, time
print("ready", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)
sys.stdout.write("half"); sys.stdout.flush()
time.sleep(0.05)
sys.stdout.write(" line\\nthe end"); sys.stdout.flush()
"""

BEGUN = """
import os, sys, time
sys.stdout.write("begun"); sys.stdout.flush()
while not os.path.exists("go"):
    time.sleep(0.01)
sys.stdout.write(" ended\\n"); sys.stdout.flush()
time.sleep(1000)
"""

PROMPT = """
import sys, time
print("ready", flush=True)
sys.stdout.write("your answer? "); sys.stdout.flush()
time.sleep(1000)
"""


def test_an_unfinished_line_is_shown_at_its_end_or_after_a_while(env: Env) -> None:
    """A last line without newline shows when its pipe ends; a prompt that
    never gets its newline shows after a moment; a line begun before the
    follow started shows whole; each with one prefix."""
    env.write("last.py", LAST_WORDS)
    env.write("begun.py", BEGUN)
    env.write("prompt.py", PROMPT)
    env.config("""
        [programs.p]
        cmd = ["python3", "last.py"]
        restart = "never"

        [programs.q]
        cmd = ["python3", "prompt.py"]

        [programs.r]
        cmd = ["python3", "begun.py"]
        stdout = "r.log"
    """)
    env.up()
    wait_for(lambda: env.run("logs", "q").stdout.count("ready"), SHORT, "q ready")
    env.wait_log("r.log", "begun")
    follower = Follower(env, "-n", "1")
    try:
        follower.wait("p.0 │ ready")
        follower.wait("q.0 │ your answer? ")
        (env.path / "go").touch()
        follower.wait("p.0 │ half line\n")
        follower.wait("p.0 │ the end")
        follower.wait("r.0 │ begun ended\n")
        env.wait_state("p.0", "exited")
    finally:
        follower.stop()
    lines = follower.text().split("\n")
    assert "p.0 │ half line" in lines
    assert "r.0 │ begun ended" in lines
    assert "p.0 │ the end" in "\n".join(lines)
    assert all(line.count("│") == 1 for line in lines if line), lines


RELOADED = """
[programs.a]
cmd = ["python3", "-c", "import time; print('a up', flush=True); time.sleep(1000)"]

[programs.b]
cmd = ["python3", "-c", "import time; print('b up', flush=True); time.sleep(1000)"]
"""


def test_follow_keeps_following_across_a_reload(env: Env) -> None:
    """Bug report: `logs -f` went silent after a reload that changed the
    program. A follower follows the program, whichever process runs it;
    a program removed by reload ends its follow with a note."""
    env.config(RELOADED)
    env.up()
    wait_for(lambda: "b up" in env.run("logs", "b").stdout, SHORT, "b up")
    one = Follower(env, "-n", "1", "b", name="b.out")
    every = Follower(env, "-n", "1", name="all.out")
    try:
        one.wait("b up")
        every.wait("b.0 │ b up")
        env.config(RELOADED.replace("'b up'", "'b changed'"))
        assert "changed: b" in env.ok("reload")
        one.wait("b changed")
        every.wait("b.0 │ b changed")

        env.config(RELOADED.replace("programs.b", "programs.c")
                   .replace("'b up'", "'c up'"))
        assert "removed: b" in env.ok("reload")
        every.wait("c.0 │ c up")
        assert one.proc.wait(SHORT) == 0
        assert one.text().splitlines()[-1] == "corral: b is gone; no longer following it"
        assert every.proc.poll() is None
    finally:
        one.stop()
        every.stop()


def test_following_a_process_scaled_away_ends(env: Env) -> None:
    """The same for a process that scaling down removed."""
    env.write("five.py", FIVE)
    env.config("""
        [programs.w]
        cmd = ["python3", "five.py"]
        numprocs = 2
    """)
    env.up()
    wait_for(lambda: "line 4" in env.run("logs", "w.1").stdout, SHORT, "w.1 lines")
    follower = Follower(env, "-n", "1", "w.1")
    try:
        follower.wait("w.1 line 4")
        env.ok("scale", "w", "1")
        assert follower.proc.wait(SHORT) == 0
    finally:
        follower.stop()
    assert follower.text().endswith("corral: w.1 is gone; no longer following it\n")


@pytest.mark.parametrize("trigger", ["command", "sigusr1"])
def test_reopen_reopens_the_daemon_s_own_log(env: Env, trigger: str) -> None:
    """Bug report: after `mv corral.log corral.log.1`, `corral logs
    --reopen` said `reopened 0 log file(s)` and, like SIGUSR1, went on
    writing to the moved file. The daemon's own log is reopened too."""
    env.write("tick.py", TICK)
    env.config("""
        [programs.t]
        cmd = ["python3", "tick.py"]
    """)
    env.up()
    own = ".corral/corral.log"
    env.wait_log(own, "t.0 │ tick 2")
    os.rename(env.path / own, env.path / ".corral/corral.log.1")
    if trigger == "command":
        assert env.ok("logs", "--reopen") == "corral: reopened 1 log file(s)\n"
    else:
        pid = env.daemon_pid()
        assert pid is not None
        os.kill(pid, signal.SIGUSR1)
        env.wait_log(own, "received SIGUSR1: reopened 1 log file(s)")
    env.wait_log(own, "t.0 │ tick")
    moved = env.read(".corral/corral.log.1")
    env.wait_log(own, "t.0 │ tick", count=5)
    assert env.read(".corral/corral.log.1") == moved
    old = [int(n) for n in re.findall(r"t\.0 │ tick (\d+)", moved)]
    new = [int(n) for n in re.findall(r"t\.0 │ tick (\d+)", env.read(own))]
    assert old + new == list(range(len(old + new)))
