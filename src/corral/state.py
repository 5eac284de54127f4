"""The state directory: lock, pid file, control socket, and the record of
what the daemon started, so that a daemon killed with SIGKILL can be
cleaned up after by the next one.

The record names each process by pid *and* start time (and the boot it
ran in), so a pid that was recycled by an unrelated program is never
touched. Every process corral starts also carries ``CORRAL_SESSION`` in its
environment; the next daemon ends exactly the processes whose environment
carries the dead daemon's session, plus recorded leaders that are provably
the same processes.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import stat
from typing import Any

from corral.client import runtime_lock_path
from corral.errors import CorralError
from corral.process import ProcInfo, boot_id, end_processes, environ_value, scan
from corral.process import stat as proc_stat

log = logging.getLogger("corral.state")

SOCKET = "corral.sock"
PIDFILE = "corral.pid"
LOCKFILE = "corral.lock"
RECORD = "processes.json"
LOGFILE = "corral.log"
MAX_SOCKET_PATH = 107
RECORD_INTERVAL = 0.25


class AlreadyRunning(CorralError):
    """Another daemon holds the state directory's lock."""


def prepare_dir(path: str) -> list[str]:
    """Create the state directory owner-only; tighten it if it is not.

    Returns the warnings to show. Raises `CorralError` when the directory
    belongs to someone else or cannot be made private.
    """
    warnings = []
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise CorralError(f"cannot create state directory {path}: {exc.strerror}") \
            from None
    if not stat.S_ISDIR(info.st_mode):
        raise CorralError(f"state directory {path} is not a directory")
    if info.st_uid != os.getuid():
        raise CorralError(
            f"state directory {path} belongs to uid {info.st_uid}, not to you "
            f"(uid {os.getuid()}); refusing to put the control socket there"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            raise CorralError(f"cannot make {path} private: {exc.strerror}") from None
        warnings.append(
            f"state directory {path} was mode {mode:04o}; tightened to 0700"
        )
    socket_path = os.path.join(path, SOCKET)
    if len(socket_path.encode()) > MAX_SOCKET_PATH:
        raise CorralError(
            f"control socket path {socket_path} is longer than "
            f"{MAX_SOCKET_PATH} bytes; set a shorter state_dir in [corral]"
        )
    return warnings


class Lock:
    """An exclusive lock on the state directory for the daemon's lifetime.

    The lock file names the config of the daemon holding it, so that a
    second config pointed at the same directory is told whose it is.
    """

    def __init__(self, state_dir: str, config: str = "") -> None:
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, LOCKFILE)
        self.config = os.path.abspath(config) if config else ""
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_text(fd).strip()
            os.close(fd)
            pid = read_pid(self.state_dir)
            who = f" (pid {pid})" if pid else ""
            if holder and self.config and not same_file(holder, self.config):
                raise AlreadyRunning(
                    f"the state directory {self.state_dir} is in use by the "
                    f"daemon of {holder}{who}; give {self.config} a state_dir "
                    "of its own in [corral]") from None
            raise AlreadyRunning(
                f"a daemon is already running for this config{who}"
            ) from None
        _write_text(fd, self.config)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class ConfigLock:
    """One daemon per config file, whatever state directory it names.

    The state directory's lock cannot see a daemon of the same config
    started before its state_dir was edited; this lock, in a private
    directory of the user's (`$XDG_RUNTIME_DIR/corral`, else
    `/tmp/corral-UID`), is keyed by the config's real path. Where no such
    directory can be had safely, it is skipped: the state directory's lock
    still holds.
    """

    def __init__(self, config: str, state_dir: str) -> None:
        self.config = config
        self.state_dir = os.path.abspath(state_dir)
        self.path = lock_path_for(config)
        self.fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = _read_text(fd).strip() or "?"
                os.close(fd)
                pid = read_pid(other)
                who = f"pid {pid}, " if pid else ""
                raise AlreadyRunning(
                    f"a daemon is already running for {self.config} ({who}state "
                    f"directory {other}): its state_dir changed since it "
                    f"started; stop it with 'corral --socket "
                    f"{os.path.join(other, SOCKET)} down'") from None
            # A daemon that was exiting may have removed the file meanwhile.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if same:
                break
            os.close(fd)
        _write_text(fd, self.state_dir)
        self.fd = fd

    def release(self, remove: bool = True) -> None:
        if self.fd is None:
            return
        if remove and self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        os.close(self.fd)
        self.fd = None


def lock_path_for(config: str) -> str | None:
    """Where the `ConfigLock` of CONFIG lives, or None without a safe place."""
    return runtime_lock_path(config, create=True)


def _read_text(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "surrogateescape")
    except OSError:
        return ""


def _write_text(fd: int, text: str) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{text}\n".encode("utf-8", "surrogateescape"), 0)
    except OSError:
        pass  # only a better message depends on it


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file; by their absolute paths if either
    cannot be looked at (removed, say)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.abspath(a) == os.path.abspath(b)


def read_pid(state_dir: str) -> int | None:
    try:
        with open(os.path.join(state_dir, PIDFILE)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def write_pid(state_dir: str) -> None:
    _write_atomic(os.path.join(state_dir, PIDFILE), f"{os.getpid()}\n")


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def remove_files(state_dir: str) -> None:
    for name in (PIDFILE, RECORD):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass


class Record:
    """Writes what the daemon runs to processes.json, a few times a second
    at most. It only backs up the session marker every process carries, so
    a record a fraction of a second old loses nothing."""

    def __init__(self, state_dir: str, session: str,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.path = os.path.join(state_dir, RECORD)
        self.session = session
        self.loop = loop
        self.source: Any = None
        self.pending = False
        self.boot = boot_id()
        self.written = 0.0

    def changed(self) -> None:
        if not self.pending:
            self.pending = True
            delay = self.written + RECORD_INTERVAL - self.loop.time()
            self.loop.call_later(max(delay, 0.0), self.write)

    def write(self) -> None:
        self.pending = False
        self.written = self.loop.time()
        processes = []
        if self.source is not None:
            for prog in self.source.programs.values():
                for process in prog.processes:
                    gen = process.gen
                    if gen is None:
                        continue
                    processes.append({
                        "name": process.name,
                        "pid": gen.pid,
                        "start": getattr(getattr(gen, "child", None), "start_ticks", 0),
                        "stop_signal": process.config.stop_signal,
                        "stop_timeout": process.config.stop_timeout,
                    })
        data = {"daemon": os.getpid(), "session": self.session, "boot_id": self.boot,
                "processes": processes}
        try:
            _write_atomic(self.path, json.dumps(data))
        except OSError as exc:
            log.error("cannot write %s: %s", self.path, exc.strerror)


async def end_leftovers(state_dir: str) -> str | None:
    """End what a daemon that died without cleaning up left running.

    Returns a one-line summary, or None when there was nothing to do.
    """
    path = os.path.join(state_dir, RECORD)
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("boot_id") != boot_id():
        os.unlink(path)
        return None

    session = str(data.get("session", ""))
    records = data.get("processes", [])
    timeout = max([float(r.get("stop_timeout", 10)) for r in records] or [10.0])
    sigs = {int(r.get("stop_signal", signal.SIGTERM)) for r in records}
    sig = sigs.pop() if len(sigs) == 1 else signal.SIGTERM

    # Who is left: recorded leaders with the same start time, and every
    # process whose environment carries the dead daemon's session.
    found: dict[int, ProcInfo] = {}
    names: dict[int, str] = {}
    for rec in records:
        info = proc_stat(int(rec.get("pid", 0)))
        if info is not None and info.start == rec.get("start") and not info.zombie:
            found[info.pid] = info
            names[info.pid] = str(rec.get("name", "?"))
    me = os.getpid()
    for info in scan().values():
        if info.pid in found or info.pid == me or info.zombie:
            continue
        if session and environ_value(info.pid, "CORRAL_SESSION") == session:
            found[info.pid] = info
            names[info.pid] = environ_value(info.pid, "CORRAL_PROCESS") or "?"

    if not found:
        os.unlink(path)
        return None

    await end_processes(list(found.values()), sig, timeout)
    os.unlink(path)
    listed = ", ".join(f"{names[pid]} pid={pid}" for pid in found)
    return (f"ended {len(found)} process(es) left running by a previous daemon "
            f"(pid {data.get('daemon')}): {listed}")
