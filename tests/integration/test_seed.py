"""The circus shell=True bug reproduction, run by corral from test.ini.

circus, told to stop or restart a `shell = True` watcher, signalled the
shell, orphaned the program, lost its last line to a closed pipe and
started a second copy beside the orphan. Each test here pins one part of
the correct behaviour.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import LONG, SHORT, Env, pid_alive, wait_for

LOG = "logs/test.log"
ERR = "logs/test.err.log"


def python_pids(env: Env) -> list[int]:
    return [pid for pid, cmd in env.processes().items()
            if cmd.endswith("test.py") and not cmd.startswith("/bin/sh")]


def start_seed(env: Env) -> int:
    """Bring the watcher up; return the pid of the Python program itself."""
    env.up("-c", "test.ini")
    env.wait_state("test.0", "running", config="test.ini")
    env.wait_log(LOG, "sleeping")
    pids = wait_for(lambda: python_pids(env), SHORT, "the python process")
    assert len(pids) == 1
    return int(pids[0])


def no_broken_pipes(env: Env) -> None:
    text = env.read(LOG) + env.read(ERR)
    assert "Received 13" not in text
    assert "Broken pipe" not in text
    assert "Traceback" not in text


def test_stop_reaches_the_program_not_the_shell(seed: Env) -> None:
    """Point 1: stop returns 0 within a second; the program's last words are kept."""
    program = start_seed(seed)

    began = time.monotonic()
    result = seed.run("-c", "test.ini", "stop", "test")
    took = time.monotonic() - began

    assert result.returncode == 0, result.stderr
    assert took < 1.0
    assert seed.read(LOG).rstrip().endswith(f"[pid:{program}] Received 15")
    assert not pid_alive(program)
    assert python_pids(seed) == []
    assert seed.one("test.0", config="test.ini")["state"] == "stopped"
    no_broken_pipes(seed)


@pytest.mark.parametrize("config", ["test.ini", "supervisord.conf", "corral.toml"])
def test_the_same_setup_in_three_formats_stops_the_same(env: Env,
                                                         config: str) -> None:
    """circus .ini, supervisord .conf and TOML: the program gets SIGTERM,
    its last line is kept, nothing is left."""
    source = Path(__file__).resolve().parents[2] / "examples" / "seed"
    for name in ("test.py", config):
        shutil.copy(source / name, env.path / name)
    env.up("-c", config)
    env.wait_state("test.0", "running", config=config)
    env.wait_log(LOG, "sleeping")
    [program] = wait_for(lambda: python_pids(env), SHORT, "the python process")

    env.ok("-c", config, "stop", "test")
    assert env.read(LOG).rstrip().endswith(f"[pid:{program}] Received 15")
    assert python_pids(env) == []
    no_broken_pipes(env)


def test_restart_keeps_last_words_and_runs_one_generation(seed: Env) -> None:
    """Point 2: the old generation's 'Received 15', then exactly one new one."""
    old = start_seed(seed)

    seed.ok("-c", "test.ini", "restart", "test")
    assert not pid_alive(old)
    new = python_pids(seed)
    assert len(new) == 1 and new[0] != old
    seed.wait_log(LOG, f"[pid:{new[0]}] sleeping")

    log = seed.read(LOG)
    assert log.index(f"[pid:{old}] Received 15") < log.index(f"[pid:{new[0]}]")
    # Never two generations at once: no line of the old after the new began.
    first_new = log.index(f"[pid:{new[0]}]")
    assert f"[pid:{old}]" not in log[first_new:]
    no_broken_pipes(seed)


def test_kill_of_the_program_alone_restarts_it_cleanly(seed: Env) -> None:
    """Point 3: kill -15 of the Python process: last line kept, restarted."""
    program = start_seed(seed)
    leader = seed.one("test.0", config="test.ini")["pid"]

    os.kill(program, signal.SIGTERM)
    seed.wait_log(LOG, f"[pid:{program}] Received 15")
    wait_for(lambda: not pid_alive(leader), SHORT, "the shell to exit")
    row = wait_for(lambda: (r := seed.one("test.0", config="test.ini"))["pid"]
                   not in (None, leader) and r, SHORT, "a new generation")
    assert row["restarts"] == 1
    pids = wait_for(lambda: [p for p in python_pids(seed) if p != program],
                    SHORT, "the new program")
    assert len(pids) == 1
    assert not pid_alive(program)
    no_broken_pipes(seed)


def test_program_ignoring_sigterm_is_killed_at_stop_timeout(env: Env) -> None:
    """Point 4: stop waits stop_timeout, then SIGKILLs, and returns right then."""
    env.config("""
        [programs.stubborn]
        cmd = ["python3", "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ignoring', flush=True); time.sleep(1000)"]
        stop_timeout = 1.5
        stdout = "out.log"
    """)
    env.up()
    env.wait_log("out.log", "ignoring")
    pid = env.one("stubborn.0")["pid"]

    began = time.monotonic()
    env.ok("stop", "stubborn")
    took = time.monotonic() - began

    assert 1.5 <= took < 2.5
    assert not pid_alive(pid)
    row = env.one("stubborn.0")
    assert row["exit_code"] == -signal.SIGKILL
    assert row["last_stop"]["sigkill"] == [pid]


def test_descendant_that_calls_setsid_is_stopped_too(env: Env) -> None:
    """Point 5: a child that leaves the group with setsid() still stops."""
    env.write("escape.py", """
        import os, signal, sys, time
        if os.fork() == 0:
            os.setsid()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("escaped", os.getpid(), flush=True)
            time.sleep(1000)
        print("parent", os.getpid(), flush=True)
        time.sleep(1000)
    """)
    env.config("""
        [programs.esc]
        cmd = ["python3", "escape.py"]
        stop_timeout = 1
        stdout = "out.log"
    """)
    env.up()
    found = wait_for(lambda: re.search(r"escaped (\d+)\n", env.read("out.log")),
                     SHORT, "the escaped pid")
    escaped = int(found.group(1))
    assert os.getpgid(escaped) != env.one("esc.0")["pid"]

    env.ok("stop", "esc")
    assert not pid_alive(escaped)
    assert env.matching("escape.py") == []


def test_a_stopped_program_is_continued_and_others_get_no_sigcont(
    seed: Env,
) -> None:
    """A program paused with SIGSTOP gets SIGCONT with the stop signal, so
    it acts on it at once; a program that runs gets no SIGCONT, which a
    program that logs every signal (test.py) would report."""
    program = start_seed(seed)
    os.kill(program, signal.SIGSTOP)
    wait_for(lambda: Path(f"/proc/{program}/stat").read_text().split(") ")[1][0]
             == "T", SHORT, "the program to be stopped")
    began = time.monotonic()
    seed.ok("-c", "test.ini", "stop", "test")
    assert time.monotonic() - began < 5  # not the SIGKILL at stop_timeout
    assert seed.read(LOG).rstrip().endswith(f"[pid:{program}] Received 15")

    seed.ok("-c", "test.ini", "start", "test")
    seed.wait_log(LOG, "sleeping", count=3)
    [running] = wait_for(lambda: python_pids(seed), SHORT, "the python process")
    seed.ok("-c", "test.ini", "stop", "test")
    log = seed.read(LOG)
    assert log.rstrip().endswith(f"[pid:{running}] Received 15")
    assert f"[pid:{running}] Received 18" not in log


def test_signal_reaches_the_group_and_bad_signals_are_refused(seed: Env) -> None:
    """Point 6: HUP reaches the program; NOPE and 99 are refused, nothing sent."""
    program = start_seed(seed)
    before = seed.read(LOG)

    for bad in ("NOPE", "99", "0", "-1", "SIGFOO"):
        result = seed.run("-c", "test.ini", "signal", "test", bad)
        assert result.returncode == 2, (bad, result)
        assert "invalid signal" in result.stderr
        assert result.stderr.count("\n") == 1
    assert pid_alive(program)
    assert "Received" not in seed.read(LOG)[len(before):]

    seed.ok("-c", "test.ini", "signal", "test", "HUP")
    seed.wait_log(LOG, f"[pid:{program}] Received 1")


def test_signal_targets(env: Env) -> None:
    """--main reaches only the leader, --group the group, --tree escapees too."""
    env.write("tree.py", """
        import os, signal, sys, time
        def line(text):
            os.write(1, text.encode() + b"\\n")  # one write: lines never mix
        def say(tag):
            def handler(sig, frame):
                line(f"{tag} got {sig}")
            return handler
        if os.fork() == 0:
            os.setsid()
            signal.signal(signal.SIGUSR1, say("escapee"))
            line("escapee up")
            while True: time.sleep(1)
        if os.fork() == 0:
            signal.signal(signal.SIGUSR1, say("member"))
            line("member up")
            while True: time.sleep(1)
        signal.signal(signal.SIGUSR1, say("leader"))
        line("leader up")
        while True: time.sleep(1)
    """)
    env.config("""
        [programs.t]
        cmd = ["python3", "tree.py"]
        stdout = "out.log"
    """)
    env.up()
    for who in ("escapee", "member", "leader"):
        env.wait_log("out.log", f"{who} up")

    env.ok("signal", "t", "USR1", "--main")
    env.wait_log("out.log", "leader got 10")
    env.ok("signal", "t", "USR1")
    env.wait_log("out.log", "member got 10")
    env.wait_log("out.log", "leader got 10", count=2)
    env.ok("signal", "t", "SIGUSR1", "--tree")
    env.wait_log("out.log", "escapee got 10")
    text = env.read("out.log")
    assert text.count("escapee got") == 1
    assert text.count("member got") == 2
    assert text.count("leader got") == 3


def test_crash_loop_backs_off_and_ends_fatal(env: Env) -> None:
    """Point 7: growing delays between starts, then fatal in status --json."""
    env.config("""
        [programs.crash]
        cmd = "echo started; exit 3"
        shell = true
        start_retries = 4
        backoff = 0.1
        stdout = "out.log"
    """)
    env.up()
    row = env.wait_state("crash.0", "fatal", timeout=LONG)
    assert row["exit_code"] == 3
    assert row["restarts"] == 4
    assert "gave up" in row["reason"]
    assert env.read("out.log").count("started") == 5

    # The daemon log shows the delays growing: 0.1, 0.2, 0.4, 0.8 s.
    delays = [float(d) for d in re.findall(r"in ([\d.]+) s", env.read(".corral/corral.log"))]
    assert delays == [0.1, 0.2, 0.4, 0.8]
    result = env.run("status")
    assert result.returncode == 1
    assert "fatal" in result.stdout


def test_sigterm_to_daemon_drains_output_and_exits_zero(env: Env) -> None:
    """Point 8a: SIGTERM to the daemon stops everything; last words kept."""
    env.write("bye.py", """
        import signal, sys, time
        def bye(sig, frame):
            for i in range(1000):
                print("bye", i, flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        while True: time.sleep(1)
    """)
    env.config("""
        [programs.a]
        cmd = ["python3", "bye.py"]
        numprocs = 3
        stdout = "out.log"
    """)
    proc = env.up_foreground()
    env.wait_log("out.log", "ready", count=3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(LONG) == 0
    text = env.read("out.log")
    assert text.count("bye 999\n") == 3
    assert env.processes() == {}


def test_next_up_ends_what_a_killed_daemon_left(env: Env) -> None:
    """Point 8b: after kill -9 of the daemon, up ends the old processes first."""
    env.config("""
        [programs.w]
        cmd = ["python3", "-c", "import time; print('up', flush=True); time.sleep(1000)"]
        numprocs = 2
        stdout = "w.log"
    """)
    env.up()
    env.wait_log("w.log", "up", count=2)
    old = sorted(p["pid"] for p in env.status())
    daemon = env.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    wait_for(lambda: not pid_alive(daemon), SHORT, "the daemon to die")
    assert all(pid_alive(p) for p in old)

    result = env.run("up", "--detach")
    assert result.returncode == 0, result.stderr
    assert all(not pid_alive(p) for p in old)
    new = sorted(p["pid"] for p in env.status())
    assert set(new).isdisjoint(old)
    assert len(env.matching("time.sleep(1000)")) == 2
    log = env.read(".corral/corral.log")
    assert "ended 2 process(es) left running by a previous daemon" in log
    assert "ended 2 process(es) left running" in result.stderr


def test_commands_without_a_daemon_fail_in_one_line(env: Env) -> None:
    """Point 9: every client command, no daemon: one line, non-zero, no traceback."""
    env.config("""
        [programs.a]
        cmd = "true"
    """)
    for args in (["status"], ["status", "--json"], ["stop", "a"], ["start", "a"],
                 ["restart", "a"], ["signal", "a", "HUP"], ["logs", "a"],
                 ["down"], ["reload"], ["scale", "a", "2"], ["logs", "--reopen"]):
        result = env.run(*args)
        assert result.returncode == 3, (args, result)
        assert result.stderr.count("\n") == 1, (args, result.stderr)
        assert "no daemon is running" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
