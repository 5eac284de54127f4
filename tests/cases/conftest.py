"""Helpers for the regression tests built from public bug reports.

Each case runs the real `corral` against the case's own programs, once per
config format the case gives. `Corral` binds the scratch directory of the
`env` fixture to one config file, so a test reads the same whichever
format it was given. The rest are small probes of /proc that the cases'
checkable facts need (CPU time, listening sockets, deleted files).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORRAL, LONG, POLL, SHORT, Env, tcp_listen_sockets, wait_for

# Marks the supervisord variants (kept as a name for the parameter lists).
SUPERVISORD = pytest.mark.supervisord

FORMATS = {"toml": "corral.toml", "circus": "circus.ini", "supervisord": "supervisord.conf"}


class Corral:
    """`corral -c FILE …` in one scratch directory."""

    def __init__(self, env: Env, config: str) -> None:
        self.env = env
        self.config = config

    @property
    def path(self) -> Path:
        return self.env.path

    def run(self, *args: str, timeout: float = LONG) -> subprocess.CompletedProcess[str]:
        return self.env.run(*args, "-c", self.config, timeout=timeout)

    def run_bytes(self, *args: str, timeout: float = LONG) -> subprocess.CompletedProcess[bytes]:
        """As `run`, but output is kept as bytes (programs may print anything)."""
        return subprocess.run(
            [CORRAL, *args, "-c", self.config], cwd=self.path, env=self.env.env,
            capture_output=True, timeout=timeout,
        )

    def ok(self, *args: str, timeout: float = LONG) -> str:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, (
            f"corral {' '.join(args)} -c {self.config} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result.stdout

    def up(self) -> None:
        self.ok("up", "--detach")

    def up_foreground(self, ready: bool = True) -> subprocess.Popen[bytes]:
        """`corral up` in the foreground; by default, wait until it serves."""
        proc = self.env.up_foreground("-c", self.config)
        if ready:
            def serving() -> bool:
                assert proc.poll() is None, self.env.read("up.err")
                return self.env.daemon_pid() == proc.pid
            wait_for(serving, SHORT, "the daemon's pid file")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start `corral ARGS` without waiting (to watch it while it works)."""
        return subprocess.Popen(
            [CORRAL, *args, "-c", self.config], cwd=self.path, env=self.env.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def status(self, *names: str) -> list[dict[str, Any]]:
        return self.env.status(*names, config=self.config)

    def one(self, name: str) -> dict[str, Any]:
        return self.env.one(name, config=self.config)

    def wait_state(self, name: str, *states: str, timeout: float = SHORT) -> dict[str, Any]:
        return self.env.wait_state(name, *states, timeout=timeout, config=self.config)

    def daemon_pid(self) -> int:
        pid = self.env.daemon_pid()
        assert pid is not None, "the daemon wrote no pid file"
        return pid

    def daemon_log(self) -> str:
        return self.env.read(".corral/corral.log")


def configure(env: Env, fmt: str, texts: dict[str, str]) -> Corral:
    """Write the config of format FMT (from TEXTS) and return its driver."""
    name = FORMATS[fmt]
    env.config(texts[fmt], name=name)
    return Corral(env, name)


def one_line(text: str) -> bool:
    """True for exactly one non-empty line of text, without a traceback."""
    return text.count("\n") == 1 and text.strip() != "" and "Traceback" not in text


def observe(check: Callable[[], Any], seconds: float, what: str,
            every: float = POLL) -> int:
    """Assert CHECK holds during a whole window of SECONDS; return the looks.

    Not a way to wait for something: the cases ask that a fact *stays*
    true for a stated time (no process comes back, no restart happens), and
    only watching for that long can show it. EVERY spaces the looks out
    where each look costs the daemon work that the test also measures.
    """
    deadline = time.monotonic() + seconds
    looks = 0
    while True:
        assert check(), f"{what} stopped holding after {looks} looks"
        looks += 1
        if time.monotonic() >= deadline:
            return looks
        time.sleep(every)  # the window is the point; see the docstring


def wait_exit(proc: subprocess.Popen[Any], timeout: float = LONG) -> int:
    """Wait for a process we started; fail (and kill it) after TIMEOUT."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{proc.args!r} still running after {timeout} s") from None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of PID so far, in seconds."""
    fields = stat_fields(pid)
    assert fields is not None, f"pid {pid} is gone"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat after the command name: state, ppid, pgrp, session…"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()


def session_of(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[3]) if fields else None


def start_ticks(pid: int) -> int | None:
    """When PID started, in clock ticks since boot (None if it is gone)."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None


def boot_ticks() -> float:
    """Now, on the clock of `start_ticks`."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK")


def started_at(pid: int) -> float:
    """When PID started, as a wall-clock time (comparable to file mtimes)."""
    ticks = start_ticks(pid)
    assert ticks is not None, f"pid {pid} is gone"
    booted = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return booted + ticks / os.sysconf("SC_CLK_TCK")


def ask(sock: Path, target: str) -> tuple[int, float]:
    """GET TARGET from a daemon's control socket; return status and seconds.

    This times the daemon alone: the `corral` client's own start-up is
    the machine's cost, not the daemon's, and swings with the load of a
    parallel test run.
    """
    began = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(SHORT)
        s.connect(str(sock))
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: corral\r\n"
                  "Connection: close\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    took = time.monotonic() - began
    head = reply.split(b"\r\n", 1)[0].split()
    return int(head[1]), took


def open_files(pid: int) -> list[str]:
    """What each fd of PID points to."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return targets


def tcp_listeners(pid: int) -> list[str]:
    """Local addresses of TCP sockets in LISTEN state that PID holds."""
    inodes = {t[len("socket:[") : -1] for t in open_files(pid) if t.startswith("socket:[")}
    return [address for inode, address in tcp_listen_sockets().items()
            if inode in inodes]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def send(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """Signal a process this test started, by its pid."""
    os.kill(proc.pid, sig)


@pytest.fixture
def public_env() -> Iterator[Env]:
    """An `env` whose directory other users can reach (mode 0755 up to /).

    pytest's tmp_path sits below a 0700 directory, so another user would be
    stopped there and a permission test would prove nothing about corral.
    """
    path = Path(tempfile.mkdtemp(prefix="corral-case-"))
    path.chmod(0o755)
    e = Env(Path(os.path.realpath(path)))
    try:
        yield e
    finally:
        leaked = e.cleanup()
        shutil.rmtree(path, ignore_errors=True)
    assert not leaked, f"processes left behind: {leaked}"
