"""Reading programs' output and delivering it, without losing a byte.

A program's stdout and stderr are pipes that the daemon reads until the
last writer closes them: the leader exiting is not the end, a helper or a
grandchild may still be printing. Reading never stops early, so no program
ever meets EPIPE or SIGPIPE because of corral.

Bytes are never decoded. They go to a sink (a file, the daemon's console,
or nowhere) and into a small in-memory tail for `corral logs`. A sink that
fails (disk full, file removed, permission lost) never blocks the reader:
the bytes it could not take are counted, reported once per incident, and
writing resumes when the sink works again.

Lines matter only where something is added to them: the console prefix,
timestamps, and files shared by several processes, where a line of one
must not be cut by a line of another. Everywhere else chunks pass through
as they were read.

The common case, one process appending to a log file of its own with no
timestamps and no rotation, and nobody following it, does not bring the
bytes into Python at all: splice(2) moves them from the pipe into the file
inside the kernel. `corral logs` reads such a stream's last lines from the
file, so nothing is lost by not keeping them in memory too.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import hashlib
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from corral.config.model import StreamConfig

log = logging.getLogger("corral.output")

# Reads start small and grow while the pipe keeps filling them, so a chatty
# program is read in large gulps and a quiet one costs no large buffers.
READ_MIN = 64 * 1024
READ_MAX = 1024 * 1024
SPLICE_SIZE = 1 << 20  # what a pipe of ours holds (process.PIPE_SIZE)
TAIL_BYTES = 64 * 1024
PARTIAL_LIMIT = 64 * 1024
IDENTITY_CHECK_SECONDS = 1.0


Mover = Callable[[int], int | None]


class PipeReader:
    """Reads one pipe on the event loop until end of file.

    A `mover`, when given, is asked first each time the pipe is readable:
    it may take the bytes itself (splice) and return how many it moved, 0
    at end of file, or None to let them be read and passed to `on_data`.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        on_data: Callable[[bytes], None],
        on_eof: Callable[[], None],
        mover: Mover | None = None,
    ) -> None:
        self.loop = loop
        self.fd = fd
        self.on_data = on_data
        self.on_eof = on_eof
        self.mover = mover
        self.closed = False
        self.bytes_read = 0
        self.size = READ_MIN
        loop.add_reader(fd, self._readable)

    def drain(self) -> None:
        """Read what is there now; notice end of file without waiting."""
        while self._read_once():
            pass

    def inode(self) -> int | None:
        try:
            return os.fstat(self.fd).st_ino
        except OSError:
            return None

    def _readable(self) -> None:
        self._read_once()

    def _read_once(self) -> bool:
        """One read; False once nothing more is there or the pipe ended."""
        if self.closed:
            return False
        if self.mover is not None:
            try:
                moved = self.mover(self.fd)
            except BlockingIOError:
                return False
            if moved:
                self.bytes_read += moved
                return True
            if moved == 0:
                self.close()
                self.on_eof()
                return False
        try:
            data = os.read(self.fd, self.size)
        except BlockingIOError:
            return False
        except OSError as exc:
            log.error("reading a pipe failed: %s", exc.strerror)
            data = b""
        if not data:
            self.close()
            self.on_eof()
            return False
        self.bytes_read += len(data)
        if len(data) == self.size:
            self.size = min(self.size * 2, READ_MAX)
        elif len(data) < READ_MIN:
            self.size = READ_MIN
        self.on_data(data)
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.fd)
            os.close(self.fd)


# ---------------------------------------------------------------------------
# Sinks


class Health:
    """Counts what a sink could not write, and reports it once per incident."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing: str | None = None
        self.dropped = 0
        self.incident_dropped = 0

    def failed(self, size: int, reason: str) -> None:
        self.dropped += size
        self.incident_dropped += size
        if self.failing is None:
            self.failing = reason
            log.error("%s: cannot write: %s; output is counted and dropped "
                      "until it works again", self.what, reason)

    def succeeded(self) -> None:
        if self.failing is not None:
            log.warning("%s: writing again; %d bytes were lost", self.what,
                        self.incident_dropped)
            self.failing = None
            self.incident_dropped = 0


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Stamper:
    """Puts a timestamp at the start of every line of one source."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.at_line_start = True

    def apply(self, data: bytes) -> bytes:
        stamp = datetime.now().astimezone().strftime(self.fmt).encode() + b" "
        lines = data.split(b"\n")
        out = []
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and not line:
                break
            if self.at_line_start or i > 0:
                out.append(stamp)
            out.append(line)
            if not last:
                out.append(b"\n")
        self.at_line_start = data.endswith(b"\n")
        return b"".join(out)


class LineJoiner:
    """Holds back a source's unfinished last line until it is complete."""

    def __init__(self) -> None:
        self.partial = b""

    def feed(self, data: bytes) -> bytes:
        """Return the complete lines of partial + data; keep the rest."""
        data = self.partial + data if self.partial else data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) <= PARTIAL_LIMIT:
            self.partial = data
            return b""
        if cut == 0:
            cut = len(data)  # a very long line: give up on keeping it whole
        self.partial = data[cut:]
        return data[:cut]

    def flush(self) -> bytes:
        data, self.partial = self.partial, b""
        return data


class FileSink:
    """An append-only log file, shared by every stream that names it.

    Opened with O_APPEND, so a file truncated behind our back gets no hole
    of NUL bytes. Rotation by size happens at a line boundary. A file moved
    or removed by someone else is noticed within a second of the next
    write and opened again under its name.
    """

    def __init__(self, config: StreamConfig) -> None:
        assert config.path is not None
        self.path = config.path
        self.max_bytes = config.max_bytes
        self.backups = config.backups
        self.health = Health(self.path)
        # The processes whose streams write here, one entry per stream.
        self.writers: list[str] = []
        self.fd: int | None = None
        self.size = 0
        self.regular = True
        self.movable = True
        self.identity: tuple[int, int] | None = None
        self.checked = 0.0
        self.written = 0
        # Rotation is due at this size: max_bytes, or further on while
        # renaming fails.
        self.limit = self.max_bytes
        self.rotate_failing: str | None = None
        self.joiners: dict[object, LineJoiner] = {}
        # The sources (pipes) writing now; a line can be in flight only
        # while one of them is.
        self.sources: set[object] = set()
        self.splice_fd: int | None = None
        self.splice_ok = False
        # The last byte written did not end a line: a switch of files waits
        # for the end of that line, so no line is cut across two files.
        self.mid_line = False
        self.switch_pending = False
        self.next_fd: int | None = None
        self._open()

    @property
    def users(self) -> int:
        return len(self.writers)

    def label(self) -> str:
        """Who writes here: one process's name, else its programs' names."""
        names = sorted(set(self.writers))
        if len(names) == 1:
            return names[0]
        return ",".join(dict.fromkeys(name.rpartition(".")[0] for name in names))

    def _create(self) -> int | None:
        """Open (or create) the file by its name, for appending."""
        try:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            return os.open(
                self.path,
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                0o644,
            )
        except OSError as exc:
            self.health.failed(0, f"{exc.strerror}")
            return None

    def _open(self, fd: int | None = None) -> None:
        self._forget_splice()
        self.splice_ok = hasattr(os, "splice")
        if fd is None:
            fd = self._create()
        if fd is None:
            self.fd = None
            return
        info = os.fstat(fd)
        self.fd = fd
        self.size = info.st_size
        self.regular = stat.S_ISREG(info.st_mode)
        # Renaming (rotation) and reopening by identity are for a log file
        # that is itself a regular file at its path: never for a link such
        # as /dev/stdout, or anything under /dev or /proc.
        try:
            own = stat.S_ISREG(os.lstat(self.path).st_mode)
        except OSError:
            own = False
        special = self.path.startswith(("/dev/", "/proc/"))
        self.movable = self.regular and own and not special
        self.identity = (info.st_dev, info.st_ino)
        self.checked = time.monotonic()
        self.limit = self.max_bytes

    def close(self) -> None:
        for key in list(self.joiners):
            self.end(key)
        if self.switch_pending:
            self._switch()
        self._forget_splice()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def reopen(self) -> None:
        """Close and open the file again by name (after external rotation).

        In the middle of a line, the switch waits for the line's end.
        """
        if self.mid_line and self.fd is not None and not self.switch_pending:
            # The new file exists at once; the old one gets the line's end.
            self.next_fd = self._create()
            if self.next_fd is not None:
                self.switch_pending = True
                return
        if not self.switch_pending:
            self._switch()

    def _switch(self) -> None:
        self.switch_pending = False
        self.mid_line = False
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        fd, self.next_fd = self.next_fd, None
        self._open(fd)

    def partials(self) -> list[tuple[object, bytes]]:
        """The lines its sources have begun and not yet ended."""
        return [(key, j.partial) for key, j in self.joiners.items() if j.partial]

    def begin(self) -> None:
        """A program (re)starts: its output goes to the path as it is now.

        A file moved or removed while nothing was writing to it is noticed
        here, not up to a second into the new output.
        """
        self._check_identity(force=True)

    def write(self, key: object, data: bytes) -> None:
        self.sources.add(key)
        if self.users > 1 or key in self.joiners:
            joiner = self.joiners.setdefault(key, LineJoiner())
            data = joiner.feed(data)
            if not data:
                return
        self._emit(data)

    def splice_from(self, key: object, pipe: int) -> int | None:
        """Move what the pipe holds straight into the file, in the kernel.

        Only for a plain append: a single source, no rotation, a regular
        file (and the stream asks only when it adds no timestamps). Returns
        the bytes moved, 0 at end of file, or None when the bytes must take
        the ordinary way (read, then write). Raises BlockingIOError when
        the pipe is empty.
        """
        if (not self.splice_ok or self.max_bytes or self.users > 1
                or key in self.joiners or self.switch_pending):
            return None
        self.sources.add(key)
        self._check_identity()
        if self.fd is None or not self.regular:
            return None
        try:
            if self.splice_fd is None:
                # splice(2) refuses a file opened with O_APPEND: use a second
                # open of the same file without it, moved to the end before
                # every call, which is what O_APPEND does for write(2).
                self.splice_fd = os.open(f"/proc/self/fd/{self.fd}",
                                         os.O_WRONLY | os.O_CLOEXEC)
            os.lseek(self.splice_fd, 0, os.SEEK_END)
            moved = os.splice(pipe, self.splice_fd, SPLICE_SIZE,
                              flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
        except BlockingIOError:
            raise
        except OSError as exc:
            # A file system without splice, a full disk: the ordinary way
            # takes over (until the file is opened again) and reports what
            # fails there.
            log.debug("%s: splice failed (%s); reading and writing instead",
                      self.path, exc.strerror)
            self._forget_splice()
            self.splice_ok = False
            return None
        if moved:
            self.size += moved
            self.health.succeeded()
            self.mid_line = True  # unknown here: assume the worst
        return moved

    def _forget_splice(self) -> None:
        if self.splice_fd is not None:
            os.close(self.splice_fd)
            self.splice_fd = None

    def end(self, key: object) -> None:
        """A source reached end of file: write what it held back."""
        joiner = self.joiners.pop(key, None)
        if joiner is not None and joiner.partial:
            self._emit(joiner.flush())
        self.sources.discard(key)
        if not self.sources:
            # Nobody is writing: no line is in flight.
            self.mid_line = False
            if self.switch_pending:
                self._switch()

    def _emit(self, data: bytes) -> None:
        self._check_identity()
        if self.switch_pending:
            # Finish the line in flight in the old file, then switch.
            cut = data.find(b"\n") + 1
            if cut == 0:
                self._put(data)
                return
            self._put(data[:cut])
            self._switch()
            data = data[cut:]
            if not data:
                return
        self._put(data)

    def _put(self, data: bytes) -> None:
        if self.fd is None:
            self._open()
            if self.fd is None:
                self.health.failed(len(data), self.health.failing or "not open")
                return
        before = self.written
        try:
            if self.max_bytes and self.movable:
                self._write_rotating(data)
            else:
                self._write(data)
        except OSError as exc:
            # Only what reached no file is lost.
            lost = len(data) - (self.written - before)
            self.health.failed(lost, exc.strerror or str(exc))
            if exc.errno in (errno.EBADF, errno.EIO, errno.ESTALE):
                self._switch()
            return
        self.mid_line = not data.endswith(b"\n")
        self.health.succeeded()

    def _write(self, data: bytes | memoryview) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
            self.size += written
            self.written += written

    def _write_rotating(self, data: bytes) -> None:
        while data:
            room = self.limit - self.size
            if len(data) <= room:
                self._write(data)
                return
            # Cut at the last newline that fits, else finish the current
            # line first: a line is never split across two files.
            cut = data.rfind(b"\n", 0, max(room, 0)) + 1
            if cut == 0:
                cut = data.find(b"\n", max(room, 0)) + 1
                if cut == 0:
                    self._write(data)
                    return
            self._write(data[:cut])
            data = data[cut:]
            self._rotate()

    def _rotate(self) -> None:
        """Keep the full file as PATH.1 (older ones move up) and start anew.

        Only the file still at the path is renamed: one that someone else
        moved away (or replaced) keeps what was written to it, and a fresh
        file is opened at the path. A rename that fails for another reason
        leaves the file growing, reported once, and is tried again after
        another max_bytes.
        """
        # Rotation happens at a line's end and opens a fresh file itself.
        if self.next_fd is not None:
            os.close(self.next_fd)
            self.next_fd = None
        self.switch_pending = False
        if self._at_path():
            try:
                self._shift()
            except FileNotFoundError:
                pass  # moved away meanwhile: what it holds stays there
            except OSError as exc:
                self.limit = self.size + self.max_bytes
                if self.rotate_failing is None:
                    self.rotate_failing = exc.strerror or str(exc)
                    log.error("%s: cannot rotate: %s; the file grows past "
                              "max_bytes until it can", self.path,
                              self.rotate_failing)
                return
            if self.rotate_failing is not None:
                log.warning("%s: rotating again", self.path)
                self.rotate_failing = None
        else:
            log.info("%s was moved or removed; opening it again", self.path)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self._open()
        if self.fd is None:
            raise OSError(errno.EIO, self.health.failing or "cannot reopen")

    def _shift(self) -> None:
        """Rename the backups one number up, then the file to PATH.1."""
        if self.backups == 0:
            os.unlink(self.path)
            return
        for i in range(self.backups - 1, 0, -1):
            try:
                os.replace(f"{self.path}.{i}", f"{self.path}.{i + 1}")
            except FileNotFoundError:
                pass
        os.replace(self.path, f"{self.path}.1")

    def _at_path(self) -> bool:
        """Whether the file open now is still the one at the path."""
        try:
            info = os.stat(self.path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self.identity

    def _check_identity(self, force: bool = False) -> None:
        """Open the file again if it was moved or removed since we opened it."""
        if self.fd is None or not self.movable:
            return
        now = time.monotonic()
        if now - self.checked < IDENTITY_CHECK_SECONDS and not force:
            return
        self.checked = now
        try:
            info = os.stat(self.path)
            current: tuple[int, int] | None = (info.st_dev, info.st_ino)
        except OSError:
            current = None
        if current != self.identity:
            log.info("%s was moved or removed; opening it again", self.path)
            self.reopen()


class Console:
    """The daemon's own output, where `console` streams are shown.

    Each line gets a ``name.N │`` prefix, coloured when the output is a
    terminal and NO_COLOR is not set. Only complete lines are shown, so
    lines of different programs never mix; a last line without a newline
    is shown when its pipe closes.

    A terminal or a pipe can stop taking bytes (a paused terminal, a log
    collector that hangs). Writes to those go through one writer thread
    with a bounded queue, so the event loop, and with it every program's
    output, never waits on the console; what does not fit is counted.
    """

    COLOURS = (32, 33, 34, 35, 36, 92, 93, 94, 95, 96)
    QUEUE_LIMIT = 8 * 1024 * 1024

    def __init__(self, fd: int = 1, colour: bool | None = None) -> None:
        self.fd = fd
        if colour is None:
            colour = os.isatty(fd) and not os.environ.get("NO_COLOR")
        self.colour = colour
        self.health = Health("console")
        self.joiners: dict[object, LineJoiner] = {}
        self.prefixes: dict[str, bytes] = {}
        self.width = 0
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:
            regular = True
        self.queue: collections.deque[bytes] | None = None
        if not regular:
            self.queue = collections.deque()
            self.queued = 0
            self.cond = threading.Condition()
            threading.Thread(target=self._drain, name="corral-console",
                             daemon=True).start()

    def prefix(self, name: str) -> bytes:
        cached = self.prefixes.get(name)
        if cached is not None:
            return cached
        self.width = max(self.width, len(name))
        label = name.ljust(self.width).encode()
        if self.colour:
            digest = hashlib.blake2s(name.split(".")[0].encode()).digest()
            code = self.COLOURS[digest[0] % len(self.COLOURS)]
            label = b"\x1b[%dm" % code + label + b"\x1b[0m"
        cached = self.prefixes[name] = label + " │ ".encode()
        return cached

    def write(self, key: object, name: str, data: bytes) -> None:
        joiner = self.joiners.setdefault(key, LineJoiner())
        self._emit(name, joiner.feed(data))

    def end(self, key: object, name: str) -> None:
        joiner = self.joiners.pop(key, None)
        if joiner is not None and joiner.partial:
            self._emit(name, joiner.flush())

    def _emit(self, name: str, data: bytes) -> None:
        if not data:
            return
        prefix = self.prefix(name)
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        self._out(b"".join(prefix + line + b"\n" for line in lines))

    def message(self, text: str) -> None:
        """A line of corral's own, shown between the programs' lines."""
        self._out(text.encode() + b"\n")

    def _out(self, data: bytes) -> None:
        if self.queue is None:
            try:
                _write_all(self.fd, data)
            except OSError as exc:
                self.health.failed(len(data), exc.strerror or str(exc))
                return
            self.health.succeeded()
            return
        with self.cond:
            if self.queued + len(data) > self.QUEUE_LIMIT:
                self.health.failed(len(data), "the console is not taking output")
                return
            self.queue.append(data)
            self.queued += len(data)
            self.cond.notify()

    def _drain(self) -> None:
        assert self.queue is not None
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                data = self.queue.popleft()
            try:
                _write_all(self.fd, data)
            except OSError as exc:
                self.health.failed(len(data), exc.strerror or str(exc))
            else:
                self.health.succeeded()
            with self.cond:
                self.queued -= len(data)
                self.cond.notify_all()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (a bounded time) until queued output has been written."""
        if self.queue is None:
            return
        with self.cond:
            self.cond.wait_for(lambda: self.queued == 0, timeout)


# ---------------------------------------------------------------------------
# One stream of one process


class Tail:
    """The last bytes of a stream, kept in memory for `corral logs`."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.limit = limit
        self.data = bytearray()

    def add(self, data: bytes) -> None:
        self.data += data
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]

    def lines(self, count: int) -> bytes:
        """The last COUNT lines (fewer if the tail does not hold them)."""
        if count <= 0:
            return b""
        data = bytes(self.data)
        end = len(data) - 1 if data.endswith(b"\n") else len(data)
        pos = end
        for _ in range(count):
            pos = data.rfind(b"\n", 0, pos)
            if pos < 0:
                return data
        return data[pos + 1 :]


class Sinks:
    """Every destination of the daemon, shared by name."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.files: dict[str, FileSink] = {}
        self.followers: list[Follower] = []

    def file(self, config: StreamConfig, writer: str) -> FileSink:
        assert config.path is not None
        sink = self.files.get(config.path)
        if sink is None:
            sink = self.files[config.path] = FileSink(config)
        sink.writers.append(writer)
        return sink

    def release(self, sink: FileSink, writer: str) -> None:
        sink.writers.remove(writer)
        if not sink.writers:
            sink.close()
            self.files.pop(sink.path, None)

    def following(self, stream: OutputStream) -> list[Follower]:
        """The followers that want STREAM's output."""
        if not self.followers:
            return []
        return [f for f in self.followers if f.wants(stream)]

    def reopen(self) -> int:
        for sink in self.files.values():
            sink.reopen()
        return len(self.files)


class Follower(Protocol):
    """One `corral logs -f`, told of the output of every stream it wants.

    KEY tells the sources of a stream apart: each pipe of each generation.
    """

    def wants(self, stream: OutputStream) -> bool: ...
    def data(self, stream: OutputStream, key: object, chunk: bytes) -> None: ...
    def end(self, stream: OutputStream, key: object) -> None: ...
    def closed(self, stream: OutputStream) -> None: ...


class OutputStream:
    """stdout or stderr of one process, across all its generations.

    Followers are found by what they ask for (a program, a process, every
    program), not held here: a stream that replaces this one (a reload
    that changed the program) or joins it (scaling up) is followed too.
    """

    def __init__(self, name: str, stream: str, config: StreamConfig,
                 sinks: Sinks) -> None:
        self.name = name
        self.program = name.rpartition(".")[0] or name
        self.stream = stream
        # What it carries: stderr too when stderr is merged into stdout.
        self.carries = {stream}
        self.config = config
        self.sinks = sinks
        self.tail = Tail()
        self.file: FileSink | None = None
        if config.kind == "file":
            self.file = sinks.file(config, name)
        self.bytes = 0

    @property
    def shared(self) -> bool:
        """Whether other streams write to this stream's file too."""
        return self.file is not None and self.file.users > 1

    @property
    def health(self) -> Health | None:
        if self.file is not None:
            return self.file.health
        if self.config.kind == "console":
            return self.sinks.console.health
        return None

    @property
    def dropped(self) -> int:
        return self.health.dropped if self.health is not None else 0

    @property
    def failing(self) -> str | None:
        return self.health.failing if self.health is not None else None

    def attach(self, loop: asyncio.AbstractEventLoop, fd: int,
               on_eof: Callable[[], None]) -> PipeReader:
        """Start reading one generation's pipe into this stream."""
        key = object()
        file = self.file
        if file is not None:
            file.begin()
        console = self.sinks.console if self.config.kind == "console" else None
        # Lines are stamped once, here: the file, the console, the tail and
        # every follower see the same bytes.
        stamps = self.config.timestamps
        stamper = Stamper(stamps) if stamps else None

        def data(chunk: bytes) -> None:
            self.bytes += len(chunk)
            if stamper is not None:
                chunk = stamper.apply(chunk)
            # A file of its own holds the stream's history; a shared one
            # cannot tell its lines apart, so this stream keeps its own.
            if file is None or file.users > 1:
                self.tail.add(chunk)
            if file is not None:
                file.write(key, chunk)
            elif console is not None:
                console.write(key, self.name, chunk)
            for follower in self.sinks.following(self):
                follower.data(self, key, chunk)

        def eof() -> None:
            if file is not None:
                file.end(key)
            elif console is not None:
                console.end(key, self.name)
            for follower in self.sinks.following(self):
                follower.end(self, key)
            on_eof()

        def move(pipe: int) -> int | None:
            # Followers need the bytes themselves, stamps need adding:
            # then they are read.
            if (self.file is None or stamper is not None
                    or self.sinks.following(self)):
                return None
            moved = self.file.splice_from(key, pipe)
            if moved:
                self.bytes += moved
            return moved

        return PipeReader(loop, fd, data, eof, move)

    def last_lines(self, count: int, own: bool = False) -> bytes:
        """The last COUNT lines, from the file when there is one.

        OWN asks for this stream's lines only: of a file other streams
        write too, those kept in memory.
        """
        if self.file is not None and self.file.regular and not (own and self.shared):
            data = read_file_tail(self.file.path, count)
            if data is not None:
                return data
        return self.tail.lines(count)

    def close(self) -> None:
        """The stream's process is forgotten (scaled down, removed, replaced)."""
        for follower in self.sinks.following(self):
            follower.closed(self)
        if self.file is not None:
            self.sinks.release(self.file, self.name)
            self.file = None


def read_file_tail(path: str, count: int) -> bytes | None:
    """The last COUNT lines of a file, read backwards in blocks."""
    if count <= 0:
        return b""
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            pos = end
            data = b""
            while pos > 0:
                step = min(65536, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + data
                body = data[:-1] if data.endswith(b"\n") else data
                if body.count(b"\n") >= count:
                    break
    except OSError:
        return None
    tail = Tail(limit=len(data) + 1)
    tail.add(data)
    return tail.lines(count)


def stdout_fd() -> int:
    """The daemon's stdout, flushed, for the console sink."""
    sys.stdout.flush()
    return 1
