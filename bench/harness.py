"""Plumbing shared by every scenario: timed commands, readiness FIFOs,
waiting for processes to end, reading /proc, and cleaning up.

Every process the suite starts carries ``CORRAL_BENCH_RUN=<token>`` in its
environment, the token being new for each run. Cleanup finds what is left
by that marker and ends it by pid; nothing is ever matched by name.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MARK_VAR = "CORRAL_BENCH_RUN"
F_SETPIPE_SZ = 1031
CLK_TCK = os.sysconf("SC_CLK_TCK")


def now() -> float:
    """The suite's clock: CLOCK_MONOTONIC, in seconds."""
    return time.perf_counter()


class BenchError(Exception):
    """A scenario could not be measured (a system failed, a wait timed out)."""


# ---------------------------------------------------------------------------
# Cleanup


class Janitor:
    """Knows every process of this run and ends the leftovers by pid."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.marker = f"{MARK_VAR}={self.token}".encode()
        os.environ[MARK_VAR] = self.token

    def marked(self) -> list[int]:
        """Pids of live processes (not this one) carrying this run's marker."""
        me = os.getpid()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if self.marker in env.split(b"\0"):
                found.append(int(entry))
        return found

    def sweep(self) -> list[int]:
        """SIGKILL every marked process that is left; returns their pids."""
        hit = []
        for _ in range(5):
            pids = [p for p in self.marked() if alive(p)]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    hit.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        return sorted(set(hit))


# ---------------------------------------------------------------------------
# /proc


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()


def alive(pid: int) -> bool:
    """True if PID exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in (b"Z", b"X")


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of PID in nanoseconds (/proc/.../schedstat).

    Finer than the 10 ms ticks of /proc/PID/stat, which matters for a
    daemon that uses a few milliseconds a second.
    """
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            continue
    return total


def _status(path: str) -> dict[str, str]:
    result = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            result[key] = value.strip()
    return result


def threads(pid: int) -> int:
    return int(_status(f"/proc/{pid}/status")["Threads"])


def rss_mib(pid: int) -> float:
    return int(_status(f"/proc/{pid}/status")["VmRSS"].split()[0]) / 1024


def context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches summed over every thread.

    A voluntary switch is the thread going to sleep and later being woken:
    for an event loop, one per wake-up.
    """
    vol = invol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = _status(f"/proc/{pid}/task/{tid}/status")
        except OSError:
            continue
        vol += int(status["voluntary_ctxt_switches"])
        invol += int(status["nonvoluntary_ctxt_switches"])
    return vol, invol


# ---------------------------------------------------------------------------
# Commands


@dataclass
class Timed:
    """One command run to its end."""

    argv: Sequence[str]
    seconds: float
    returncode: int
    cpu: float  # user + system seconds of the command (and its children)
    output: str


def spawn(argv: Sequence[str], cwd: Path | None = None,
          log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a command in a session of its own (so Ctrl-C reaches only us)."""
    out: int | None = subprocess.DEVNULL
    if log is not None:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return subprocess.Popen(
            list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log is not None and isinstance(out, int):
            os.close(out)


def wait_child(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for a child; return (exit code, CPU seconds). Kill it on timeout."""
    fd = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        os.kill(proc.pid, signal.SIGKILL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if not ready:
        raise BenchError(f"{proc.args!r} took more than {timeout:g} s")
    return proc.returncode, usage.ru_utime + usage.ru_stime


def run(argv: Sequence[str], timeout: float = 60.0, check: bool = True,
        cwd: Path | None = None) -> Timed:
    """Run a command to its end, timed from fork to reap, output captured."""
    start = now()
    proc = subprocess.Popen(
        list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    chunks = []
    deadline = start + timeout
    while True:
        left = deadline - now()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    code, cpu = wait_child(proc, max(deadline - now(), 0.001))
    seconds = now() - start
    proc.stdout.close()
    text = b"".join(chunks).decode(errors="replace")
    if check and code != 0:
        raise BenchError(f"{' '.join(argv)} exited {code}: {text.strip()[-500:]}")
    return Timed(argv, seconds, code, cpu, text)


# ---------------------------------------------------------------------------
# Readiness: every test process writes a line to a FIFO


class Fifo:
    """A FIFO the test processes write one line to when they have started.

    The suite holds it open for reading and writing, so writers never block
    on open and it never reports end of file. Lines shorter than PIPE_BUF
    arrive whole. Waiting is a blocking poll, not a loop: the time a line is
    seen is within microseconds of its write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists():
            path.unlink()
        os.mkfifo(path, 0o600)
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(self.fd, F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        self.partial = b""

    def _read(self) -> list[str]:
        chunks = []
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        data = self.partial + b"".join(chunks)
        *lines, self.partial = data.split(b"\n")
        return [line.decode() for line in lines]

    def wait(self, count: int, timeout: float) -> tuple[list[str], float]:
        """Collect COUNT lines; return them and when the last one was seen."""
        lines: list[str] = []
        seen = now()
        deadline = seen + timeout
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while len(lines) < count:
            left = deadline - now()
            if left <= 0:
                raise BenchError(f"{self.path.name}: {len(lines)} of {count} "
                                 f"processes reported within {timeout:g} s")
            if poller.poll(left * 1000):
                got = self._read()
                if got:
                    seen = now()
                    lines.extend(got)
        return lines, seen

    def drain(self) -> list[str]:
        return self._read()

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def close(self) -> None:
        os.close(self.fd)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def wait_gone(pids: Iterable[int], timeout: float,
              also: subprocess.Popen[bytes] | None = None) -> tuple[float, float]:
    """Wait until every pid has exited (and ALSO, a command, has ended).

    Each pid is watched through a pidfd, which becomes readable when the
    process exits: no polling. Returns (when the last pid exited, when the
    command ended); the second is 0.0 without a command.
    """
    fds: dict[int, str] = {}
    last_exit = now()
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = "pid"
        except ProcessLookupError:
            pass
    cmd_fd = None
    if also is not None:
        cmd_fd = os.pidfd_open(also.pid)
        fds[cmd_fd] = "cmd"
    cmd_end = 0.0
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    deadline = now() + timeout
    try:
        while fds:
            left = deadline - now()
            if left <= 0:
                raise BenchError(f"{len(fds)} process(es) still there after "
                                 f"{timeout:g} s")
            for fd, _ in poller.poll(left * 1000):
                t = now()
                if fds.pop(fd) == "cmd":
                    cmd_end = t
                else:
                    last_exit = t
                poller.unregister(fd)
                os.close(fd)
    finally:
        for fd in fds:
            os.close(fd)
    if also is not None:
        _, status, _ = os.wait4(also.pid, 0)
        also.returncode = os.waitstatus_to_exitcode(status)
    return last_exit, cmd_end


def pids_of(lines: Iterable[str]) -> list[int]:
    """The pids in readiness lines ('PID' or 'word PID')."""
    return [int(line.split()[-1]) for line in lines if line.strip()]


# ---------------------------------------------------------------------------
# Figures


@dataclass
class Series:
    """The samples of one metric on one system."""

    values: list[float] = field(default_factory=list)
    failures: int = 0
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def low(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def high(self) -> float | None:
        return max(self.values) if self.values else None


def sleep_until(t: float) -> None:
    delay = t - now()
    if delay > 0:
        time.sleep(delay)
