"""Shared test fixtures: a scratch directory with a real `corral` in it.

Integration tests run the installed `corral` executable in a temporary
directory, against real processes, signals and sockets. Every process a
test starts carries the test's marker in its environment (or lives in its
directory); after the test, anything still alive with that marker is a
leak: it is killed by pid and the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# How long to wait for things that happen within milliseconds when all is
# well: long enough for a loaded CI machine, short enough to fail fast.
SHORT = 5.0
# How long to wait for things that take seconds by design (back-off, kills).
LONG = 30.0
# The interval between two looks at a condition we cannot be woken by.
POLL = 0.02

CORRAL = str(Path(sys.executable).with_name("corral"))
PYTHON = sys.executable


def wait_for(check: Callable[[], Any], timeout: float = SHORT,
             what: str = "condition") -> Any:
    """Return the first truthy result of CHECK; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL)


def pid_alive(pid: int) -> bool:
    """True if PID exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def processes_with(marker: str, directory: str) -> dict[int, str]:
    """Live processes carrying MARKER or living under DIRECTORY."""
    found = {}
    needle = f"CORRAL_TEST_ID={marker}".encode()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        cwd = _cwd(pid)
        if (needle in _environ(pid) or cwd == directory
                or cwd.startswith(directory + "/")) and pid_alive(pid):
            found[pid] = _cmdline(pid)
    return found

# A program that prints a numbered line twenty times a second, for ever.
TICK = """
import time
i = 0
while True:
    print("tick", i, flush=True)
    i += 1
    time.sleep(0.05)
"""


def tcp_listen_sockets() -> dict[str, str]:
    """Every TCP socket listening on this machine (IPv4 and IPv6): its
    inode, and its local address as /proc/net/tcp writes it."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A":  # LISTEN
                found[fields[9]] = fields[1]
    return found


class Env:
    """A scratch directory and the commands to drive corral in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marker = uuid.uuid4().hex
        self.env = dict(os.environ)
        self.env.update(NO_COLOR="1", CORRAL_TEST_ID=self.marker,
                        PYTHONUNBUFFERED="1")
        for key in ("CORRAL_CONFIG", "CORRAL_SOCKET"):
            self.env.pop(key, None)
        self.foreground: list[subprocess.Popen[bytes]] = []

    # -- files ---------------------------------------------------------------

    def write(self, name: str, text: str, mode: int | None = None) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
        if mode is not None:
            target.chmod(mode)
        return target

    def config(self, text: str, name: str = "corral.toml") -> Path:
        return self.write(name, text)

    def read(self, name: str) -> str:
        path = self.path / name
        return path.read_text(errors="replace") if path.exists() else ""

    def read_bytes(self, name: str) -> bytes:
        path = self.path / name
        return path.read_bytes() if path.exists() else b""

    # -- commands ------------------------------------------------------------

    def run(self, *args: str, timeout: float = LONG,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run `corral ARGS` here and return what it did."""
        return subprocess.run(
            [CORRAL, *args], cwd=self.path, env=self.env, capture_output=True,
            text=True, timeout=timeout, input=input.decode() if input else None,
        )

    def ok(self, *args: str, timeout: float = LONG) -> str:
        """Run `corral ARGS`; fail the test unless it exits 0."""
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, (
            f"corral {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result.stdout

    def up(self, *args: str) -> None:
        """`corral up --detach` and wait until it answers."""
        self.ok("up", "--detach", *args)

    def up_foreground(self, *args: str) -> subprocess.Popen[bytes]:
        """`corral up` in the foreground, its output in files."""
        with open(self.path / "up.out", "wb") as out, \
                open(self.path / "up.err", "wb") as err:
            proc = subprocess.Popen([CORRAL, "up", *args], cwd=self.path,
                                    env=self.env, stdout=out, stderr=err)
        self.foreground.append(proc)
        return proc

    def status(self, *names: str, config: str | None = None) -> list[dict[str, Any]]:
        args = ["status", "--json", *names]
        if config:
            args += ["-c", config]
        result = self.run(*args)
        assert result.returncode in (0, 1), result.stderr
        data: list[dict[str, Any]] = json.loads(result.stdout)
        return data

    def one(self, name: str, config: str | None = None) -> dict[str, Any]:
        rows = [p for p in self.status(config=config) if p["name"] == name]
        assert rows, f"no process {name} in status"
        return rows[0]

    def wait_state(self, name: str, *states: str, timeout: float = SHORT,
                   config: str | None = None) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            row = self.one(name, config=config)
            return row if row["state"] in states else None

        result: dict[str, Any] = wait_for(check, timeout, f"{name} to be {states}")
        return result

    def wait_log(self, name: str, text: str, timeout: float = SHORT,
                 count: int = 1) -> str:
        def check() -> str | None:
            data = self.read(name)
            return data if data.count(text) >= count else None

        result: str = wait_for(check, timeout, f"{text!r} in {name}")
        return result

    def daemon_pid(self, state_dir: str = ".corral") -> int | None:
        try:
            return int((self.path / state_dir / "corral.pid").read_text())
        except (OSError, ValueError):
            return None

    def processes(self) -> dict[int, str]:
        """Live processes of this test (its marker or its directory)."""
        return processes_with(self.marker, str(self.path))

    def matching(self, text: str) -> list[int]:
        return [pid for pid, cmd in self.processes().items() if text in cmd]

    # -- teardown ------------------------------------------------------------

    def cleanup(self) -> dict[int, str]:
        """Stop daemons, then kill and report whatever is left."""
        for state in self.path.rglob("corral.pid"):
            pid = int(state.read_text() or 0)
            if pid and pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda p=pid: not pid_alive(p), LONG, f"daemon {pid} to exit")
        for proc in self.foreground:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(LONG)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        leaked = self.processes()
        for pid in leaked:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return leaked


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """A scratch directory for one test; fails the test on leaked processes."""
    real = Path(os.path.realpath(tmp_path))
    e = Env(real)
    yield e
    leaked = e.cleanup()
    assert not leaked, f"processes left behind: {leaked}"


@pytest.fixture
def seed(env: Env) -> Env:
    """The example folder of the circus bug reproduction, copied in."""
    source = Path(__file__).resolve().parent.parent / "examples" / "seed"
    for name in ("test.py", "test.ini"):
        shutil.copy(source / name, env.path / name)
    return env
