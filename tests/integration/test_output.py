"""Output capture: every byte, in order, through stop, restart, rotation and
failing destinations, and shown back by `corral logs`."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CORRAL, LONG, SHORT, TICK, Env, pid_alive, wait_for

LINE = 100  # bytes per numbered line, newline included


def numbered_writer(env: Env, count: int) -> None:
    """A program that writes COUNT numbered 100-byte lines as fast as it can."""
    env.write("writer.py", f"""
        import os, sys, time
        out = sys.stdout.buffer
        pad = b"x" * ({LINE} - 11)
        batch = 10000
        for start in range(0, {count}, batch):
            out.write(b"".join(b"%09d %s\\n" % (i, pad)
                               for i in range(start, min(start + batch, {count}))))
        out.flush()
        print("done", file=sys.stderr, flush=True)
        time.sleep(1000)
    """)


def check_numbered(data: bytes, last: int) -> int:
    """DATA is consecutive numbered lines ending at LAST; return the first."""
    lines = data.split(b"\n")
    assert lines[-1] == b"", "ends with a newline"
    lines.pop()
    numbers = [int(line[:9]) for line in lines]
    assert all(len(line) == LINE - 1 for line in lines), "no torn line"
    first = numbers[0]
    assert numbers == list(range(first, last + 1)), "no gap, no repeat"
    return first


def test_rotation_keeps_every_line_whole_and_in_order(env: Env) -> None:
    """200 MB through 10 MB x 5 rotation: the kept files hold the newest
    lines, in order, none torn at a rotation boundary."""
    count = 2_000_000
    numbered_writer(env, count)
    env.config("""
        [programs.w]
        cmd = ["python3", "writer.py"]
        stdout = { file = "logs/w.log", max_bytes = 10485760, backups = 5 }
        stderr = "logs/w.err"
    """)
    env.up()
    env.wait_log("logs/w.err", "done", timeout=LONG)
    env.ok("stop", "w")

    parts = [Path(env.path / f"logs/w.log.{i}") for i in range(5, 0, -1)]
    parts.append(env.path / "logs/w.log")
    assert all(p.exists() for p in parts)
    assert not (env.path / "logs/w.log.6").exists()
    for part in parts:
        data = part.read_bytes()
        assert len(data) <= 10485760
        assert data.endswith(b"\n") or not data
    joined = b"".join(p.read_bytes() for p in parts)
    first = check_numbered(joined, count - 1)
    assert first > 0  # older lines were rotated away


def test_reopen_after_external_move_loses_nothing(env: Env) -> None:
    """logrotate's 'create' mode: every line lands in one of the two files."""
    env.write("tick.py", """
        import time
        i = 0
        while True:
            print(f"tick {i:06d}", flush=True)
            i += 1
            time.sleep(0.01)
    """)
    env.config("""
        [programs.tick]
        cmd = ["python3", "tick.py"]
        stdout = "logs/tick.log"
    """)
    env.up()
    env.wait_log("logs/tick.log", "tick 000010")
    os.rename(env.path / "logs/tick.log", env.path / "logs/tick.log.1")
    env.ok("logs", "--reopen")
    env.wait_log("logs/tick.log", "tick", count=10)
    env.ok("stop", "tick")

    old = env.read("logs/tick.log.1")
    new = env.read("logs/tick.log")
    numbers = [int(n) for n in re.findall(r"^tick (\d{6})$", old + new, re.M)]
    assert len(numbers) == (old + new).count("\n")
    assert numbers == list(range(numbers[-1] + 1))


def test_bytes_arrive_exactly(env: Env) -> None:
    """Bytes 0-255, a 4 MB line and a last line without newline, unchanged."""
    env.write("bytes.py", """
        import sys
        out = sys.stdout.buffer
        out.write(bytes(range(256)) * 4)
        out.write(b"\\n" + b"L" * (4 * 1024 * 1024) + b"\\n")
        out.write(b"no newline at the end")
        out.flush()
    """)
    env.config("""
        [programs.b]
        cmd = ["python3", "bytes.py"]
        restart = "never"
        stdout = "b.log"
        stderr = "console"

        [programs.c]
        cmd = ["python3", "bytes.py"]
        restart = "never"
        stdout = "console"
    """)
    expected = (bytes(range(256)) * 4 + b"\n" + b"L" * (4 * 1024 * 1024) + b"\n"
                + b"no newline at the end")
    env.up()
    env.wait_state("b.0", "exited")
    env.wait_state("c.0", "exited")
    assert env.read_bytes("b.log") == expected
    assert env.one("b.0")["exit_code"] == 0

    # The console copy is kept in memory too, for `corral logs`.
    tail = subprocess.run([CORRAL, "logs", "c", "-n", "1"], cwd=env.path,
                          env=env.env, capture_output=True, timeout=SHORT)
    assert tail.stdout == b"no newline at the end"


def test_failing_destination_never_blocks_the_program(env: Env) -> None:
    """stdout to /dev/full: it keeps running, status counts what was lost."""
    env.write("chatty.py", """
        import sys, time
        i = 0
        while True:
            print("line", i, flush=True)
            print("alive", i, file=sys.stderr, flush=True)
            i += 1
            time.sleep(0.01)
    """)
    env.config("""
        [programs.full]
        cmd = ["python3", "chatty.py"]
        stdout = "/dev/full"
        stderr = "err.log"
    """)
    env.up()
    env.wait_log("err.log", "alive 50")
    row = env.one("full.0")
    assert row["state"] in ("starting", "running")
    assert row["dropped_bytes"] > 0
    assert "No space left on device" in row["output_error"]
    log = env.read(".corral/corral.log")
    assert log.count("cannot write") == 1  # once per incident, not per line
    result = env.run("status")
    assert "bytes lost" in result.stdout


def test_last_words_in_the_sigterm_handler_are_all_kept(env: Env) -> None:
    """1,000 lines written while stopping are in the file when stop returns."""
    env.write("last.py", """
        import signal, sys, time
        def bye(sig, frame):
            for i in range(1000):
                print(f"last {i:04d}", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        while True:
            time.sleep(1)
    """)
    env.config("""
        [programs.l]
        cmd = ["python3", "last.py"]
        stdout = "l.log"
    """)
    env.up()
    env.wait_log("l.log", "ready")
    env.ok("stop", "l")
    lines = env.read("l.log").splitlines()
    assert lines[1:] == [f"last {i:04d}" for i in range(1000)]
    assert env.one("l.0")["exit_code"] == 0


def test_logs_follow_across_a_restart(env: Env) -> None:
    """`corral logs -f` keeps following when the program restarts."""
    env.write("hello.py", """
        import os, time
        print("hello from", os.getpid(), flush=True)
        time.sleep(1000)
    """)
    env.config("""
        [programs.h]
        cmd = ["python3", "hello.py"]
        stdout = "h.log"
    """)
    env.up()
    env.wait_log("h.log", "hello from")
    first = env.one("h.0")["pid"]
    with open(env.path / "follow.out", "wb") as out:
        follower = subprocess.Popen([CORRAL, "logs", "-f", "h"], cwd=env.path,
                                    env=env.env, stdout=out)
    try:
        env.wait_log("follow.out", f"hello from {first}")
        env.ok("restart", "h")
        second = env.one("h.0")["pid"]
        env.wait_log("follow.out", f"hello from {second}")
        assert follower.poll() is None
    finally:
        follower.terminate()
        follower.wait(SHORT)


def test_console_prefix_timestamps_and_merge(env: Env) -> None:
    """Console lines carry `name.N │`; timestamps when asked; merged order kept."""
    env.write("both.py", """
        import sys
        for i in range(20):
            stream = sys.stdout if i % 2 == 0 else sys.stderr
            print("line", i, file=stream, flush=True)
    """)
    env.config("""
        [programs.m]
        cmd = ["python3", "both.py"]
        restart = "never"
        stderr = "stdout"
        stdout = "m.log"

        [programs.t]
        cmd = ["python3", "both.py"]
        restart = "never"
        stderr = "stdout"
        timestamps = true
    """)
    proc = env.up_foreground()
    try:
        env.wait_log("up.out", "t.0 │", count=20)
        env.wait_state("m.0", "exited")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(LONG) == 0
    assert env.read("m.log").splitlines() == [f"line {i}" for i in range(20)]
    out = env.read("up.out")
    stamped = re.findall(r"^t\.0 │ (\d{4}-\d\d-\d\dT[\d:.]+[+-]\d{4}) line (\d+)$",
                         out, re.M)
    assert [int(n) for _, n in stamped] == list(range(20))
    assert "\x1b[" not in out  # NO_COLOR and not a terminal


def test_logs_of_every_program_are_prefixed(env: Env) -> None:
    """`corral logs` with no name shows every program, each line prefixed."""
    env.config("""
        [programs.a]
        cmd = "echo from-a; sleep 1000"
        shell = true

        [programs.b]
        cmd = "echo from-b; sleep 1000"
        shell = true
        stdout = "null"
    """)
    env.up()
    wait_for(lambda: "from-b" in env.run("logs").stdout, SHORT, "b in logs")
    out = env.run("logs").stdout
    assert "a.0 │ from-a" in out
    assert "b.0 │ from-b" in out


def test_output_capture_with_a_slow_console_never_blocks(env: Env) -> None:
    """A console nobody reads: programs keep running, the daemon answers."""
    env.write("flood.py", """
        import sys, time
        line = b"y" * 200 + b"\\n"
        i = 0
        while True:
            sys.stdout.buffer.write(line * 100)
            sys.stdout.buffer.flush()
            i += 1
            if i % 50 == 0:
                print("progress", i, file=sys.stderr, flush=True)
    """)
    env.config("""
        [programs.flood]
        cmd = ["python3", "flood.py"]
        stderr = "progress.log"
    """)
    # The daemon's stdout is a pipe that is never read.
    reader, writer = os.pipe()
    try:
        proc = subprocess.Popen([CORRAL, "up"], cwd=env.path, env=env.env,
                                stdout=writer, stderr=subprocess.DEVNULL)
        env.foreground.append(proc)
        env.wait_log("progress.log", "progress 2000", timeout=LONG)
        began = time.monotonic()
        env.ok("status")
        assert time.monotonic() - began < 2
        row = env.one("flood.0")
        assert row["dropped_bytes"] > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(LONG) == 0
    finally:
        os.close(reader)
        os.close(writer)
    assert not pid_alive(proc.pid)


def test_binary_output_checksum(env: Env) -> None:
    """A program's output file is byte-identical to what it wrote (sha256)."""
    env.write("bin.py", """
        import hashlib, sys
        block = bytes((i * 7919 + 13) % 256 for i in range(256 * 1024))
        sys.stdout.buffer.write(block)
        sys.stdout.buffer.flush()
        open("sum", "w").write(hashlib.sha256(block).hexdigest())
    """)
    env.config("""
        [programs.bin]
        cmd = ["python3", "bin.py"]
        restart = "never"
        stdout = "bin.log"
    """)
    env.up()
    env.wait_state("bin.0", "exited")
    assert hashlib.sha256(env.read_bytes("bin.log")).hexdigest() == env.read("sum")


def test_a_link_to_the_daemon_s_stdout_is_never_rotated(env: Env) -> None:
    """stdout to a link to the daemon's own stdout (as /dev/stdout is), with
    rotation asked: everything arrives through it, and the link itself is
    never renamed, removed or replaced."""
    env.write("count.py", """
        for i in range(3000):
            print(f"line {i:05d}", flush=True)
    """)
    # A link of the test's own, like /dev/stdout, so /dev is never at stake.
    os.symlink("/proc/self/fd/1", env.path / "stdout-link")
    env.config("""
        [programs.p]
        cmd = ["python3", "count.py"]
        restart = "never"
        stdout = { file = "stdout-link", max_bytes = 1000, backups = 2 }
    """)
    proc = env.up_foreground()
    try:
        env.wait_log("up.out", "line 02999")
        env.wait_state("p.0", "exited")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(LONG) == 0
    lines = [line for line in env.read("up.out").splitlines() if line.startswith("line")]
    assert lines == [f"line {i:05d}" for i in range(3000)]
    assert os.readlink(env.path / "stdout-link") == "/proc/self/fd/1"
    assert not (env.path / "stdout-link.1").exists()
    assert "cannot write" not in env.read("up.err")


def test_rotation_racing_an_external_move_loses_no_line(env: Env) -> None:
    """Bug report: with small rotating files written fast, a rename of the
    log by someone else just before a rotation made the rotation fail and
    count the whole chunk as lost. Every line is now in exactly one file
    (a moved one, a backup or the current one), and backups have no gaps."""
    count = 20_000
    env.write("fast.py", f"""
        import sys, time
        out = sys.stdout.buffer
        for start in range(0, {count}, 50):
            out.write(b"".join(b"%06d %s\\n" % (i, b"f" * 33)
                               for i in range(start, start + 50)))
            out.flush()
            time.sleep(0.01)
        print("done", file=sys.stderr, flush=True)
        time.sleep(1000)
    """)
    env.config("""
        [programs.fast]
        cmd = ["python3", "fast.py"]
        stdout = { file = "logs/fast.log", max_bytes = 20000, backups = 1000 }
        stderr = "logs/fast.err"
    """)
    env.up()
    current = env.path / "logs/fast.log"
    for i in range(1, 6):
        wait_for(lambda: current.exists() and current.stat().st_size > 0, SHORT,
                 "fast.log with something in it")
        os.rename(current, env.path / f"logs/moved{i}.log")
    env.wait_log("logs/fast.err", "done", timeout=LONG)
    env.ok("stop", "fast")

    numbers: list[int] = []
    files = sorted((env.path / "logs").glob("*.log*"))
    for path in files:
        if path.name == "fast.err":
            continue
        data = path.read_bytes()
        assert data.endswith(b"\n") or not data, path.name
        lines = data.split(b"\n")[:-1]
        assert all(len(line) == 40 for line in lines), f"a torn line in {path.name}"
        mine = [int(line[:6]) for line in lines]
        assert mine == sorted(mine), path.name
        numbers += mine
    assert sorted(numbers) == list(range(count))
    backups = sorted(int(p.name.rsplit(".", 1)[1]) for p in files
                     if p.name.startswith("fast.log."))
    assert backups == list(range(1, len(backups) + 1))
    assert "cannot write" not in env.read(".corral/corral.log")


def test_a_rotation_that_cannot_rename_loses_nothing(env: Env) -> None:
    """A rename that fails (here the backup's name is taken by a directory)
    leaves the file growing past max_bytes, said once; no line is lost."""
    env.write("count.py", """
        for i in range(3000):
            print(f"line {i:05d}", flush=True)
    """)
    (env.path / "logs/r.log.1/taken").mkdir(parents=True)
    env.config("""
        [programs.r]
        cmd = ["python3", "count.py"]
        restart = "never"
        stdout = { file = "logs/r.log", max_bytes = 1000, backups = 1 }
    """)
    env.up()
    env.wait_state("r.0", "exited")
    lines = env.read("logs/r.log").splitlines()
    assert lines == [f"line {i:05d}" for i in range(3000)]
    assert env.one("r.0")["dropped_bytes"] == 0
    log = env.read(".corral/corral.log")
    assert log.count("cannot rotate") == 1
    assert "cannot write" not in log


@pytest.mark.parametrize("how", ["removed", "moved"])
def test_a_log_changed_while_stopped_gets_the_next_start_s_output(
        env: Env, how: str) -> None:
    """Bug report: a log file deleted (or moved) while its program was
    stopped got the first second of output after `corral start`. The file
    is checked when the program starts: its first line is in the new file."""
    env.write("hello.py", """
        import os, time
        print("hello", os.getpid(), flush=True)
        while True:
            print("tick", flush=True)
            time.sleep(0.1)
    """)
    env.config("""
        [programs.h]
        cmd = ["python3", "hello.py"]
        stdout = "logs/h.log"
    """)
    env.up()
    env.wait_log("logs/h.log", "tick", count=3)
    env.ok("stop", "h")
    if how == "removed":
        os.unlink(env.path / "logs/h.log")
    else:
        os.rename(env.path / "logs/h.log", env.path / "logs/h.old")
    before = env.read("logs/h.old")
    env.ok("start", "h")
    pid = env.one("h.0")["pid"]
    data = env.wait_log("logs/h.log", "tick")
    assert data.startswith(f"hello {pid}\n"), data[:40]
    assert env.read("logs/h.old") == before
    daemon = env.daemon_pid()
    assert daemon is not None
    fds = [os.readlink(f"/proc/{daemon}/fd/{fd}")
           for fd in os.listdir(f"/proc/{daemon}/fd")]
    assert not [fd for fd in fds if fd.endswith("(deleted)")], fds


STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+[+-]\d{4} tick \d+$")


def test_followed_lines_carry_their_timestamps(env: Env) -> None:
    """Bug report: `logs -f` showed streams with `timestamps = true` without
    their stamps, while `logs -n` showed them. Followed lines are now the
    lines of the file, stamps included; console streams keep theirs for
    `logs -n` too."""
    env.write("tick.py", TICK)
    env.config("""
        [programs.f]
        cmd = ["python3", "tick.py"]
        stdout = { file = "f.log", timestamps = true }

        [programs.c]
        cmd = ["python3", "tick.py"]
        timestamps = true
    """)
    env.up()
    env.wait_log("f.log", "tick 3")
    with open(env.path / "follow.out", "wb") as out:
        follower = subprocess.Popen([CORRAL, "logs", "-f", "-n", "0", "f"],
                                    cwd=env.path, env=env.env, stdout=out)
    try:
        env.wait_log("follow.out", "\n", count=10)
    finally:
        follower.terminate()
        follower.wait(SHORT)
    followed = env.read("follow.out").splitlines()[:10]
    assert all(STAMPED.match(line) for line in followed), followed
    in_file = env.read("f.log").splitlines()
    assert all(line in in_file for line in followed)

    tail = env.ok("logs", "-n", "3", "c").splitlines()
    assert len(tail) == 3 and all(STAMPED.match(line) for line in tail), tail
