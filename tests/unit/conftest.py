"""Fakes for unit tests: a hand-driven clock and a launcher of fake runs.

The state table of `corral.program.Process` takes its clock and its
launcher as arguments, so unit tests run it without processes, without an
event loop for timers, and without waiting: a test advances `FakeClock` by
hand, and fires LEADER_EXIT and GONE itself through `Harness`.

Everything the fakes are asked to do lands in one `journal`, in order, so
a test can assert what happened and in which sequence (a stop's SIGTERM
before a new launch, for instance).

`ScriptServer` plays the daemon's side of the control socket. It listens in
the test's temporary directory; each connection takes the next script from
its queue: it reads the whole request, then plays the script (byte strings
written one `sendall` each, `threading.Event`s it waits for, `ExpectClose`
to wait for the client to hang up) and closes. Reading the request first
matters: closing a Unix socket with unread data makes the peer's next read
fail with ECONNRESET, which would make the tests racy.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from corral.config.model import ProgramConfig
from corral.process import SpawnError
from corral.program import Event, Process

# -- the clock ---------------------------------------------------------------


class FakeTimer:
    """A pending call of `FakeClock`, cancellable like asyncio's handle."""

    def __init__(self, when: float, delay: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.delay = delay
        self.callback = callback
        self.cancelled = False
        self.fired = False

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def pending(self) -> bool:
        return not (self.cancelled or self.fired)

    def __repr__(self) -> str:
        return f"<FakeTimer at {self.when:g} (+{self.delay:g})>"


class FakeClock:
    """A clock that moves only when a test calls `advance`.

    It starts far from zero, as a monotonic clock does, so that no code can
    get away with treating a timestamp as a flag.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.timers: list[FakeTimer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self.now + delay, delay, callback)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[FakeTimer]:
        """Timers not yet fired nor cancelled, soonest first."""
        return sorted((t for t in self.timers if t.pending), key=lambda t: t.when)

    def delays(self) -> list[float]:
        """The delay each pending timer was armed with."""
        return [t.delay for t in self.pending()]

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer that falls due, in order."""
        target = self.now + seconds
        while True:
            due = [t for t in self.pending() if t.when <= target]
            if not due:
                break
            timer = due[0]
            self.now = timer.when
            timer.fired = True
            timer.callback()
        self.now = target

    def advance_to_next(self) -> float:
        """Jump to the one pending timer and fire it; return its delay."""
        pending = self.pending()
        assert pending, "no timer is armed"
        timer = pending[0]
        self.advance(timer.when - self.now)
        return timer.delay


# -- the runs of a process ---------------------------------------------------


class FakeGeneration:
    """One pretend run: records every signal the state table sends it."""

    def __init__(self, pid: int, journal: list[str]) -> None:
        self.pid = pid
        self.status: int | None = None
        self.journal = journal
        self.leftover_pids: list[int] = []
        self.kill_hits: list[int] = [pid]
        self.straggler_hits: list[int] = []
        self.send_result = True
        self.closed = False
        self.signals: list[int] = []
        self.kills = 0

    def terminate(self, sig: int) -> None:
        self.signals.append(sig)
        self.journal.append(f"terminate {self.pid} {signal.Signals(sig).name}")

    def kill(self) -> list[int]:
        self.kills += 1
        self.journal.append(f"kill {self.pid}")
        return list(self.kill_hits)

    def kill_stragglers(self) -> list[int]:
        return list(self.straggler_hits)

    def leftovers(self) -> str:
        return ", ".join(f"pid={p}" for p in self.leftover_pids)

    def send(self, sig: int, target: str) -> bool:
        self.journal.append(f"send {self.pid} {sig} {target}")
        return self.send_result

    def close(self) -> None:
        self.closed = True
        self.journal.append(f"close {self.pid}")

    def __repr__(self) -> str:
        return f"<FakeGeneration pid={self.pid} status={self.status}>"


class FakeLauncher:
    """Starts `FakeGeneration`s with pids 101, 102, ...; can be made to fail."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.generations: list[FakeGeneration] = []
        self.failures: list[str] = []  # messages of the next launches to fail
        self.next_pid = 101

    def __call__(self, process: Process) -> FakeGeneration:
        if self.failures:
            message = self.failures.pop(0)
            self.journal.append(f"spawn failed: {message}")
            raise SpawnError(message)
        gen = FakeGeneration(self.next_pid, self.journal)
        self.next_pid += 1
        self.generations.append(gen)
        self.journal.append(f"launch {gen.pid}")
        return gen

    @property
    def launches(self) -> int:
        return len(self.generations)

    @property
    def last(self) -> FakeGeneration:
        assert self.generations, "nothing was launched"
        return self.generations[-1]


def make_config(**overrides: Any) -> ProgramConfig:
    """A `ProgramConfig` with round numbers, changed by keyword."""
    base = ProgramConfig(
        name="web",
        argv=("web-server", "--port", "8000"),
        command_text="web-server --port 8000",
        start_secs=1.0,
        start_retries=3,
        backoff=1.0,
        backoff_max=5.0,
        stop_timeout=10.0,
    )
    return replace(base, **overrides)


@dataclass
class Harness:
    """A clock, a launcher and the helpers that play the kernel's part."""

    clock: FakeClock = field(default_factory=FakeClock)
    journal: list[str] = field(default_factory=list)
    launcher: FakeLauncher = field(init=False)

    def __post_init__(self) -> None:
        self.launcher = FakeLauncher(self.journal)

    def process(self, index: int = 0, **overrides: Any) -> Process:
        return Process(make_config(**overrides), index, self.launcher, self.clock)

    def exit(self, process: Process, status: int) -> None:
        """The leader of the current run ends with STATUS (returncode style)."""
        assert process.gen is not None, f"{process!r} has no run"
        gen = process.gen
        assert isinstance(gen, FakeGeneration)
        gen.status = status
        process.handle(Event.LEADER_EXIT)

    def gone(self, process: Process) -> None:
        """Every process of the run is reaped and its pipes are at EOF."""
        self.journal.append(f"gone {process.pid}")
        process.handle(Event.GONE)

    def crash(self, process: Process, status: int = 1) -> None:
        """The run ends on its own with nothing left behind."""
        self.exit(process, status)
        self.gone(process)

    def start_running(self, process: Process) -> None:
        """START, then let start_secs pass."""
        process.handle(Event.START)
        self.clock.advance(process.config.start_secs)


@pytest.fixture
def harness() -> Harness:
    return Harness()


# -- logs --------------------------------------------------------------------


class StrictHandler(logging.Handler):
    """Keeps formatted records; a bad format string fails the test at once."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # getMessage raises on a mismatch of format and arguments, where a
        # stock handler would print a "Logging error" and carry on.
        self.lines.append(record.getMessage())
        self.records.append(record)


@pytest.fixture
def corral_log() -> Iterator[StrictHandler]:
    """Every record of the corral loggers, at every level, strictly formatted."""
    logger = logging.getLogger("corral")
    handler = StrictHandler()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# -- a daemon that says what the test wants ------------------------------------

# Only catches hangs: every exchange here takes microseconds.
SHORT_TIMEOUT = 5.0


class ExpectClose:
    """A script step: wait until the client closes its end."""


Script = list[bytes | threading.Event | ExpectClose]


def reply(status: str, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
            .encode() + body)


def json_reply(status: str, data: Any) -> bytes:
    return reply(status, json.dumps(data).encode(), "Content-Type: application/json")


def chunked(status: str, *chunks: bytes) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return (f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + body + b"0\r\n\r\n")


class ScriptServer:
    """One thread answering connections with scripts, in order."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.scripts: list[Script] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.errors: list[BaseException] = []
        self.saw_close = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def answer(self, *items: bytes | threading.Event | ExpectClose) -> None:
        self.scripts.append(list(items))

    def _run(self) -> None:
        while True:
            watched = [self.listener.fileno(), self._wake_r]
            ready, _, _ = select.select(watched, [], [])
            if self._wake_r in ready:
                return
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(SHORT_TIMEOUT)
                try:
                    self._serve(conn)
                except Exception as exc:  # surfaced by close()
                    self.errors.append(exc)

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            more = conn.recv(4096)
            assert more, "the client closed before ending its request"
            data += more
        head, body = data.split(b"\r\n\r\n", 1)
        first, *lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines)}
        while len(body) < int(headers.get("content-length", 0)):
            body += conn.recv(4096)
        self.requests.append((first, headers, body))

        script = self.scripts.pop(0)
        for item in script:
            if isinstance(item, threading.Event):
                assert item.wait(SHORT_TIMEOUT), "the test never opened the gate"
            elif isinstance(item, ExpectClose):
                assert conn.recv(1) == b"", "the client sent more"
                self.saw_close = True
            else:
                conn.sendall(item)

    def close(self) -> None:
        if self.listener.fileno() == -1:
            return
        os.write(self._wake_w, b"x")
        self._thread.join(SHORT_TIMEOUT)
        assert not self._thread.is_alive()
        self.listener.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self.errors:
            raise self.errors[0]


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ScriptServer]:
    """A scripted server; the test fails if it or the client leaks an fd."""
    before = open_fds()
    srv = ScriptServer(str(tmp_path / "corral.sock"))
    yield srv
    srv.close()
    assert srv.scripts == [], "some scripted replies were never asked for"
    assert open_fds() == before


# -- random configs ------------------------------------------------------------


def exercise_config(text: str, name: str) -> None:
    """Load TEXT as a config file called NAME: it must end in a `Config`
    that can be described and run, or in a one-line `ConfigError` that
    names the file."""
    import os
    import tempfile

    from corral.checks import describe, warnings
    from corral.config import load
    from corral.errors import ConfigError

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)
        try:
            config = load(path)
        except ConfigError as exc:
            assert str(exc).startswith(directory) and "\n" not in str(exc)
            return
        for prog in config.programs.values():
            for index in range(min(prog.numprocs, 3)):
                prog.argv_for(index)
                prog.env_for(index)
        list(describe(config))
        list(warnings(config))
