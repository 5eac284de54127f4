"""`corral up`: the daemon's life from first check to last exit.

The steps, in order: validate the config (before anything is touched),
take the state directory's lock, end what a killed predecessor left
behind, become a subreaper, bind the control socket, start the programs,
then wait for signals and requests. Shutdown stops every program, waits
for the last byte of their output, and removes the socket and pid file.

With --detach the process forks once before any of this; the parent stays
until the child reports that it is ready (or why it failed), so `corral up
--detach` returns 0 only for a daemon that is really serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import uuid
from typing import Any

from corral import __version__
from corral.config import load
from corral.config.model import Config
from corral.control import Api, ControlServer
from corral.errors import ConfigError, CorralError
from corral.output import Console, Sinks
from corral.process import Reaper, pidfd_supported, set_subreaper
from corral.program import Context
from corral.state import (
    LOGFILE,
    SOCKET,
    ConfigLock,
    Lock,
    Record,
    end_leftovers,
    prepare_dir,
    remove_files,
    write_pid,
)
from corral.supervisor import Supervisor

log = logging.getLogger("corral.daemon")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Daemon:
    """One running daemon for one config."""

    def __init__(self, config: Config, console: Console,
                 ready: Any = None, logfile: str | None = None) -> None:
        self.config = config
        self.console = console
        self.ready = ready
        # The daemon's own log (its stdout and stderr), when detached.
        self.logfile = logfile
        self.session = uuid.uuid4().hex
        self.exit_status = 0
        self.stopping: asyncio.Task[None] | None = None
        self.interrupts = 0
        self.done = asyncio.Event()
        self.tasks: set[asyncio.Future[None]] = set()
        self.notices: list[str] = []
        self.supervisor: Supervisor
        self.loop: asyncio.AbstractEventLoop
        self.server: ControlServer
        self.record: Record

    async def run(self) -> int:
        loop = self.loop = asyncio.get_running_loop()
        cfg = self.config

        # End what a daemon killed before us left running, before anything
        # of ours starts.
        summary = await end_leftovers(cfg.state_dir)
        if summary:
            log.warning("%s", summary)
            self._tell(summary)

        # Become the reaper of everything our programs start.
        if not set_subreaper():
            log.warning("cannot become a child subreaper: processes that leave "
                        "their program's group may escape 'stop'")
        if not pidfd_supported():
            log.warning("this kernel has no pidfd_open (Linux < 5.3): exits of "
                        "processes outside a program's group are checked every "
                        "0.1 s while stopping")
        reaper = Reaper()
        self.record = Record(cfg.state_dir, self.session, loop)
        ctx = Context(loop=loop, reaper=reaper, sinks=Sinks(self.console),
                      session=self.session, on_change=self.record.changed)
        self.supervisor = Supervisor(cfg, ctx)
        self.record.source = self.supervisor

        # Signals: SIGCHLD reaps, TERM/INT stop, HUP reloads, USR1 reopens.
        loop.add_signal_handler(signal.SIGCHLD, reaper.reap)
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, self._stop_signal_arrived)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)
        loop.add_signal_handler(signal.SIGUSR1, self._on_reopen_signal)
        # `corral up` held these until now; programs must not inherit the mask.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

        # The control socket, then the pid file: clients can talk to us now.
        self.server = ControlServer(Api(self), os.path.join(cfg.state_dir, SOCKET),
                                    cfg.listen, cfg.token)
        try:
            os.unlink(self.server.path)
        except FileNotFoundError:
            pass
        await self.server.start()
        write_pid(cfg.state_dir)
        log.info("corral %s pid=%d serving %s on %s", __version__, os.getpid(),
                 cfg.path, self.server.path)
        if not cfg.programs:
            self._tell(f"{cfg.path} names no programs: nothing to run until "
                       "a reload adds some")

        # Start the programs; a stop signal may interrupt this at any point.
        self.supervisor.on_critical = self._critical_failed
        starting = asyncio.ensure_future(self.supervisor.start_all())
        finished = asyncio.ensure_future(self.done.wait())
        await asyncio.wait({starting, finished}, return_when=asyncio.FIRST_COMPLETED)
        self._report_ready()
        await finished
        starting.cancel()

        await self.server.close()
        self.console.flush()
        remove_files(cfg.state_dir)
        log.info("corral pid=%d exiting with status %d", os.getpid(),
                 self.exit_status)
        return self.exit_status

    def _tell(self, text: str) -> None:
        """Say something to whoever ran `corral up`."""
        if self.ready is None:
            self.console.message(f"corral: {text}")
        else:
            self.notices.append(text)

    def _report_ready(self) -> None:
        if self.ready is not None:
            self.ready.send("\n".join(["ok", *self.notices]))
            self.ready = None

    # -- stopping ------------------------------------------------------------

    def _stop_signal_arrived(self, signum: int, frame: object) -> None:
        # A plain Python handler, not the event loop's: it runs between two
        # bytecodes, even in the middle of a long spawn loop, so nothing is
        # started after a stop signal arrives.
        self.supervisor.closing = True
        name = signal.Signals(signum).name
        self.loop.call_soon_threadsafe(self._on_stop_signal, name)

    def _on_stop_signal(self, name: str) -> None:
        self.interrupts += 1
        if self.stopping is None:
            log.info("received %s: stopping every program (again to kill them "
                     "at once)", name)
            self.stopping = asyncio.ensure_future(self._shutdown())
            return
        if name == "SIGINT" or self.interrupts >= 3:
            log.warning("received %s again: killing every program now", name)
            self.supervisor.kill_everything()
            self.exit_status = 1

    def _critical_failed(self, process: Any) -> None:
        status = process.exit_code
        if status is None:
            self.exit_status = 1
        elif status < 0:
            self.exit_status = 128 - status
        else:
            self.exit_status = status
        why = (f"critical program {process.name} {process.state.value} "
               f"({process.reason or 'no reason'}) and is not restarted; "
               f"stopping everything, exiting with status {self.exit_status}")
        # Ending for good is a failure unless the program ended as expected.
        log.log(logging.INFO if self.exit_status == 0 else logging.ERROR, "%s", why)
        if self.stopping is None:
            self.supervisor.closing = True
            self.stopping = asyncio.ensure_future(self._shutdown())

    async def shutdown(self, why: str) -> None:
        """Stop every program, then let the daemon exit. Waits for the end."""
        log.info("stopping every program: %s", why)
        if self.stopping is None:
            self.stopping = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self.stopping)

    async def _shutdown(self) -> None:
        try:
            await self.supervisor.shutdown()
        finally:
            self.record.write()
            self.done.set()

    # -- reload and reopen -------------------------------------------------

    def _on_reload_signal(self) -> None:
        log.info("received SIGHUP: reloading %s", self.config.path)
        task = asyncio.ensure_future(self._reload_logged())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reload_logged(self) -> None:
        try:
            result = await self.reload()
        except CorralError as exc:
            log.error("reload refused, nothing changed: %s", exc)
            return
        log.info("reload done: %s", result)

    async def reload(self) -> dict[str, Any]:
        """Read the config again and apply only the difference."""
        config = load(self.config.path)
        if os.path.abspath(config.state_dir) != os.path.abspath(self.config.state_dir):
            raise ConfigError("cannot change while the daemon runs",
                              file=config.path, key="state_dir")
        result = await self.supervisor.reload(config)
        self.config = config
        return result

    def _on_reopen_signal(self) -> None:
        count = self.reopen_logs()
        log.info("received SIGUSR1: reopened %d log file(s)", count)

    def reopen_logs(self) -> int:
        """Reopen every log file by name, the daemon's own too; count them."""
        count = self.supervisor.reopen_logs()
        if self.logfile is not None:
            try:
                fd = open_logfile(self.logfile)
            except OSError as exc:
                log.error("cannot reopen %s: %s; still writing to the file it "
                          "was", self.logfile, exc.strerror)
            else:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.close(fd)
                count += 1
        return count


# ---------------------------------------------------------------------------
# Entry point used by the command line


class ReadyPipe:
    """Tells the waiting parent of a detached daemon how start-up went."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: str) -> None:
        try:
            os.write(self.fd, message.encode()[:4000])
        except OSError:
            pass
        os.close(self.fd)


def open_logfile(path: str) -> int:
    """The daemon's own log, for appending; owner-only."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def setup_logging(level: str, stream: Any) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s corral[%(process)d] %(levelname)s %(message)s",
        "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("corral")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def up(config_path: str, detach: bool) -> int:
    """Run `corral up`. Returns the exit status."""
    config = load(config_path)
    warnings = prepare_dir(config.state_dir)
    lock = Lock(config.state_dir, config.path)
    lock.acquire()
    mine = ConfigLock(config.path, config.state_dir)
    try:
        mine.acquire()
    except CorralError:
        lock.release()
        raise

    if detach:
        return _detach(config, lock, mine, warnings)

    setup_logging(config.log_level, sys.stderr)
    for warning in warnings:
        log.warning("%s", warning)
    try:
        return asyncio.run(Daemon(config, Console(1)).run())
    finally:
        mine.release()
        lock.release()


def _detach(config: Config, lock: Lock, mine: ConfigLock, warnings: list[str]) -> int:
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid > 0:
        # The parent: wait for the child's word, then leave.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        os.close(write_end)
        lock.fd = mine.fd = None  # the child holds the locks now
        chunks = []
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
        os.close(read_end)
        message = b"".join(chunks).decode(errors="replace")
        if message.startswith("ok"):
            for warning in warnings:
                print(f"corral: {warning}", file=sys.stderr)
            for notice in message.splitlines()[1:]:
                print(f"corral: {notice}", file=sys.stderr)
            print(f"corral: daemon pid {pid} started for {config.path}")
            return 0
        print(f"corral: {message or 'the daemon exited during start-up'}",
              file=sys.stderr)
        return 1

    # The child: a new session, output to the state directory's log.
    os.close(read_end)
    os.setsid()
    status = 1
    path = os.path.join(config.state_dir, LOGFILE)
    try:
        logfile = open_logfile(path)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(logfile, 1)
        os.dup2(logfile, 2)
        os.close(null)
        os.close(logfile)
        setup_logging(config.log_level, sys.stderr)
        for warning in warnings:
            log.warning("%s", warning)
        ready = ReadyPipe(write_end)
        daemon = Daemon(config, Console(1, colour=False), ready, logfile=path)
        status = asyncio.run(daemon.run())
    except CorralError as exc:
        os.write(write_end, str(exc).encode())
    except BaseException:
        log.exception("the daemon failed")
    finally:
        mine.release()
        os._exit(status)
