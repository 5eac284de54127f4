"""The lifecycle of one process, as one explicit state table.

A `Process` (shown as ``name.N``) is always in exactly one `State`. Things
that happen to it are `Event`s; `Process.handle` looks up the pair in
`TABLE` and runs its handler. Pairs that do nothing are listed too, with
`_ignore`, so the table is complete and a test can walk it.

There is at most one timer per process, for whatever is pending in the
current state: start_secs in STARTING, the kill deadline in STOPPING, the
back-off delay in BACKOFF. It arrives as the TIMER event.

What the user asked for is kept apart from what is happening: `want_up`
says whether the process should run. A stop that was requested (stop,
restart, shutdown) and an exit that happened on its own lead to different
decisions when the generation is GONE; the generation remembers which.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from corral.config.model import QUICK_EXIT_SECS, ProgramConfig
from corral.errors import ActionFailed, CorralError
from corral.output import OutputStream, PipeReader, Sinks
from corral.process import Child, LaunchSpec, Reaper, SpawnError, describe_status, spawn
from corral.signals import signal_name

log = logging.getLogger("corral.program")

KILL_RECHECK_SECONDS = 5.0


class State(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    EXITED = "exited"
    BACKOFF = "backoff"
    FATAL = "fatal"


class Event(enum.Enum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    LEADER_EXIT = "leader_exit"
    GONE = "gone"
    TIMER = "timer"


# States in which a generation of the process exists.
LIVE = frozenset({State.STARTING, State.RUNNING, State.STOPPING})
# States a stop waits for.
DOWN = frozenset({State.STOPPED, State.EXITED, State.FATAL})


class Generation(Protocol):
    """One started run of a process, as the state table sees it."""

    pid: int

    @property
    def status(self) -> int | None: ...

    def terminate(self, sig: int) -> None: ...
    def kill(self) -> list[int]: ...
    def kill_stragglers(self) -> list[int]: ...
    def leftovers(self) -> str: ...
    def send(self, sig: int, target: str) -> bool: ...
    def close(self) -> None: ...


Launcher = Callable[["Process"], Generation]


class Clock(Protocol):
    def time(self) -> float: ...
    def call_later(
        self, delay: float, callback: Callable[[], None]
    ) -> asyncio.TimerHandle | Any: ...


@dataclass
class StopReport:
    """What the last stop of a process did, for `status --json`."""

    signal: str
    started: float
    duration: float | None = None
    killed: list[int] = field(default_factory=list)
    status: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "duration": self.duration,
            "sigkill": self.killed,
            "exit": describe_status(self.status),
        }


class Process:
    """One process of a program: ``name.N``, across all its generations."""

    def __init__(
        self,
        config: ProgramConfig,
        index: int,
        launcher: Launcher,
        clock: Clock,
    ) -> None:
        self.config = config
        self.index = index
        self.name = f"{config.name}.{index}"
        self.launcher = launcher
        self.clock = clock
        self.state = State.STOPPED
        self.since = time.time()
        self.want_up = False
        self.gen: Generation | None = None
        self.requested = False  # the current generation was asked to stop
        self.timer: Any = None
        self.failures = 0
        self.restarts = 0
        self.exit_code: int | None = None
        self.reason = ""
        self.started_at: float | None = None
        self.exited_at: float | None = None
        self.retry_at: float | None = None
        self.spawns = 0
        self.stop_report: StopReport | None = None
        self.outputs: dict[str, OutputStream] = {}
        self.closing = False
        self.escalated = False
        self.on_state: Callable[[Process], None] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        pid = self.gen.pid if self.gen else None
        return f"<Process {self.name} pid={pid} state={self.state.value}>"

    @property
    def pid(self) -> int | None:
        return self.gen.pid if self.gen is not None else None

    # -- the table ----------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Apply one event to the current state."""
        handler = TABLE[(self.state, event)]
        log.debug("%s pid=%s %s + %s", self.name, self.pid, self.state.value,
                  event.value)
        handler(self)

    def _set(self, state: State) -> None:
        # The only place the state changes.
        self.state = state
        self.since = time.time()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self.on_state is not None:
            self.on_state(self)

    def _ignore(self) -> None:
        pass

    def _start(self) -> None:
        """START from a resting state: a manual start forgets past failures."""
        self.want_up = True
        self.failures = 0
        self._cancel_timer()
        self._spawn()

    def _want_up(self) -> None:
        self.want_up = True

    def _want_up_again(self) -> None:
        """START or RESTART while stopping: come back up once it is gone."""
        self.want_up = True
        self.requested = True

    def _stop(self) -> None:
        """STOP while running: signal every process, arm the kill deadline."""
        self.want_up = False
        self._begin_stop()

    def _stop_resting(self) -> None:
        self.want_up = False
        self._cancel_timer()
        self.retry_at = None
        self.reason = ""  # a back-off or a give-up no longer pending
        self._set(State.STOPPED)

    def _want_down(self) -> None:
        """STOP while stopping: stay down once it is gone, whatever the exit."""
        self.want_up = False
        self.requested = True

    def _restart(self) -> None:
        self.want_up = True
        self._begin_stop()

    def _running(self) -> None:
        """TIMER in STARTING: it stayed up for start_secs."""
        self.timer = None
        self.failures = 0
        self._set(State.RUNNING)
        log.debug("%s pid=%s running", self.name, self.pid)

    def _leader_exit(self) -> None:
        """LEADER_EXIT while up: it ended on its own; end what it left."""
        assert self.gen is not None
        self.exit_code = self.gen.status
        self.exited_at = self.clock.time()
        self.requested = False
        self._cancel_timer()
        leftovers = self.gen.leftovers()
        if leftovers:
            log.warning("%s pid=%d exited on its own (%s) leaving %s; sending "
                        "them %s", self.name, self.gen.pid,
                        describe_status(self.exit_code), leftovers,
                        signal_name(self.config.stop_signal))
        self._set(State.STOPPING)
        self.gen.terminate(self.config.stop_signal)
        self._arm(self.config.stop_timeout)

    def _leader_exit_stopping(self) -> None:
        assert self.gen is not None
        self.exit_code = self.gen.status
        self.exited_at = self.clock.time()
        if self.stop_report is not None:
            self.stop_report.status = self.gen.status

    def _escalate(self) -> None:
        """TIMER in STOPPING: the stop timeout passed; SIGKILL what is left."""
        assert self.gen is not None
        first = not self.escalated
        self.escalated = True
        hit = self.gen.kill()
        hit += self.gen.kill_stragglers()
        if self.stop_report is not None:
            self.stop_report.killed = sorted(set(self.stop_report.killed + hit))
        if first:
            log.warning("%s pid=%d still running %g s after %s: SIGKILL to %s",
                        self.name, self.gen.pid, self.config.stop_timeout,
                        signal_name(self.config.stop_signal),
                        ", ".join(f"pid={p}" for p in hit) or "its pipes' holders")
        else:
            log.warning("%s pid=%d: still waiting for %s after SIGKILL",
                        self.name, self.gen.pid,
                        ", ".join(f"pid={p}" for p in hit)
                        or "its output pipes to close")
        self._arm(KILL_RECHECK_SECONDS)

    def _gone(self) -> None:
        """GONE: nothing of the generation is left and its pipes are closed."""
        assert self.gen is not None
        gen, self.gen = self.gen, None
        self._cancel_timer()
        self.escalated = False
        gen.close()
        status = gen.status
        self.exit_code = status
        report = self.stop_report
        if self.requested and report is not None:
            report.status = status
            report.duration = round(self.clock.time() - report.started, 6)
            log.info("%s pid=%d stopped in %.3f s (%s)", self.name, gen.pid,
                     report.duration, describe_status(status))

        if self.requested:
            self.requested = False
            if self.want_up and not self.closing:
                self._spawn()
            else:
                self._set(State.STOPPED)
            return
        self._after_exit(gen.pid, status)

    def _retry(self) -> None:
        """TIMER in BACKOFF: try again."""
        self.timer = None
        self.retry_at = None
        if not self.closing:
            self.restarts += 1
        self._spawn()

    # -- helpers -------------------------------------------------------------

    def _expected(self, status: int | None) -> bool:
        return status is not None and status >= 0 and status in self.config.exit_codes

    def _after_exit(self, pid: int, status: int | None) -> None:
        """Decide what follows an exit that nobody asked for."""
        cfg = self.config
        now = self.clock.time()
        ended = self.exited_at if self.exited_at is not None else now
        uptime = ended - (self.started_at if self.started_at is not None else ended)
        what = f"exited after {uptime:.2f} s: {describe_status(status)}"
        policy_restarts = cfg.restart == "always" or (
            cfg.restart == "on-failure" and not self._expected(status)
        )
        if not self.want_up or self.closing or not policy_restarts:
            self.reason = describe_status(status)
            level = logging.INFO if self._expected(status) else logging.WARNING
            log.log(level, "%s pid=%d %s; not restarted (restart = %s)",
                    self.name, pid, what, cfg.restart)
            self._set(State.EXITED)
            return
        if uptime >= max(cfg.start_secs, QUICK_EXIT_SECS):
            log.warning("%s pid=%d %s; restarting", self.name, pid, what)
            self.failures = 0
            self.restarts += 1
            self._spawn()
            return
        self._failed(pid, what)

    def _failed(self, pid: int | None, why: str) -> None:
        """A start that did not last: back off, or give up for good."""
        cfg = self.config
        self.failures += 1
        shown = f"pid={pid}" if pid else "pid=-"
        if cfg.start_retries >= 0 and self.failures > cfg.start_retries:
            starts = "start" if self.failures == 1 else "starts"
            self.reason = f"{why}; gave up after {self.failures} failed {starts}"
            log.error("%s %s %s; gave up after %d failed %s, state fatal "
                      "('corral start %s' tries again)", self.name, shown, why,
                      self.failures, starts, cfg.name)
            self._set(State.FATAL)
            return
        delay = min(cfg.backoff * 2 ** (self.failures - 1), cfg.backoff_max)
        self.reason = f"{why}; next try in {delay:g} s"
        limit = "" if cfg.start_retries < 0 else f" of {cfg.start_retries}"
        log.warning("%s %s %s; retry %d%s in %g s", self.name, shown, why,
                    self.failures, limit, delay)
        self.retry_at = self.clock.time() + delay
        self._set(State.BACKOFF)
        self._arm(delay)

    def _spawn(self) -> None:
        if self.closing:
            self._set(State.STOPPED)
            return
        try:
            gen = self.launcher(self)
        except SpawnError as exc:
            self.exit_code = None
            self._failed(None, f"could not start: {exc}")
            return
        self.gen = gen
        self.spawns += 1
        self.requested = False
        self.started_at = self.clock.time()
        self.exited_at = None
        self.reason = ""
        log.info("%s pid=%d started: %s", self.name, gen.pid,
                 self.config.command_text.replace("\n", "\\n"))
        if self.config.start_secs > 0:
            self._set(State.STARTING)
            self._arm(self.config.start_secs)
        else:
            self._set(State.RUNNING)

    def _begin_stop(self) -> None:
        assert self.gen is not None
        self._cancel_timer()
        self.requested = True
        sig = self.config.stop_signal
        self.stop_report = StopReport(signal_name(sig), self.clock.time())
        log.info("%s pid=%d stopping: %s to its group and descendants, "
                 "SIGKILL in %g s", self.name, self.gen.pid, signal_name(sig),
                 self.config.stop_timeout)
        self._set(State.STOPPING)
        self.gen.terminate(sig)
        self._arm(self.config.stop_timeout)

    def _arm(self, delay: float) -> None:
        self._cancel_timer()
        self.timer = self.clock.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.handle(Event.TIMER)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # -- used by the supervisor ---------------------------------------------

    async def wait_until(self, states: frozenset[State]) -> None:
        """Return once the process is in one of STATES."""
        await self.wait_for(lambda: self.state in states)

    async def wait_for(self, done: Callable[[], bool]) -> None:
        """Return once DONE() is true, checked at every change of state."""
        loop = asyncio.get_running_loop()
        while not done():
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            await waiter

    async def wait_stopped(self, spawns: int | None = None) -> bool:
        """Wait until the generation running now is gone and nothing runs.

        SPAWNS is the count of generations when the stop was asked for,
        taken then: a waiting task runs later, and by then another request
        may have started a new generation. Returns False when one did.
        """
        if spawns is None:
            spawns = self.spawns
        await self.wait_for(lambda: self.state in DOWN or self.spawns != spawns)
        return self.state in DOWN

    async def wait_started(self) -> None:
        """Wait for a start to succeed; raise `ActionFailed` if it does not.

        A start succeeds once the process is `running` and has outlived the
        quick-exit floor: with start_secs = 0 it is `running` at once, yet an
        exit within the floor still counts as a failed start.
        """
        while True:
            await self.wait_until(frozenset({State.RUNNING, *DOWN}))
            if self.state is State.RUNNING:
                since = self.started_at if self.started_at is not None else 0.0
                settle = since + QUICK_EXIT_SECS - self.clock.time()
                if settle <= 0:
                    return
                left = self.wait_for(lambda: self.state is not State.RUNNING)
                try:
                    await asyncio.wait_for(left, settle)
                except TimeoutError:
                    return
                continue
            if self.state is State.EXITED and self._expected(self.exit_code):
                return
            if self.state is State.STOPPED:
                raise ActionFailed(f"{self.name} was stopped by another request")
            raise ActionFailed(f"{self.name}: {self.reason or self.state.value}")

    def signal(self, sig: int, target: str) -> None:
        """Deliver SIG to the main process, the group, or the whole tree."""
        if self.gen is None or self.state not in LIVE:
            raise ActionFailed(f"{self.name} is {self.state.value}, not running")
        if not self.gen.send(sig, target):
            raise ActionFailed(f"{self.name}: no process left to signal")
        log.info("%s pid=%d: %s sent to its %s", self.name, self.gen.pid,
                 signal_name(sig), target)

    def status(self) -> dict[str, Any]:
        now = self.clock.time()
        uptime = None
        up = self.state in (State.STARTING, State.RUNNING)
        if up and self.started_at is not None:
            uptime = round(now - self.started_at, 3)
        dropped = sum(o.dropped for o in {id(o): o for o in
                                           self.outputs.values()}.values())
        failing = [o.failing for o in self.outputs.values() if o.failing]
        return {
            "name": self.name,
            "program": self.config.name,
            "index": self.index,
            "pid": self.pid,
            "state": self.state.value,
            "since": self.since,
            "uptime": uptime,
            "restarts": self.restarts,
            "exit_code": self.exit_code,
            "exit": describe_status(self.exit_code) if self.exit_code is not None
            else None,
            "reason": self.reason or None,
            "retry_in": round(max(self.retry_at - now, 0), 3)
            if self.retry_at is not None and self.state is State.BACKOFF else None,
            "failures": self.failures,
            "dropped_bytes": dropped,
            "output_error": failing[0] if failing else None,
            "last_stop": self.stop_report.as_dict() if self.stop_report else None,
        }


TABLE: dict[tuple[State, Event], Callable[[Process], None]] = {
    # START: rest -> spawn; up -> nothing; stopping -> come back up after.
    (State.STOPPED, Event.START): Process._start,
    (State.EXITED, Event.START): Process._start,
    (State.FATAL, Event.START): Process._start,
    (State.BACKOFF, Event.START): Process._start,
    (State.STARTING, Event.START): Process._want_up,
    (State.RUNNING, Event.START): Process._want_up,
    (State.STOPPING, Event.START): Process._want_up_again,
    # STOP
    (State.STOPPED, Event.STOP): Process._stop_resting,
    (State.EXITED, Event.STOP): Process._stop_resting,
    (State.FATAL, Event.STOP): Process._stop_resting,
    (State.BACKOFF, Event.STOP): Process._stop_resting,
    (State.STARTING, Event.STOP): Process._stop,
    (State.RUNNING, Event.STOP): Process._stop,
    (State.STOPPING, Event.STOP): Process._want_down,
    # RESTART: stop, then start; from rest it is a start.
    (State.STOPPED, Event.RESTART): Process._start,
    (State.EXITED, Event.RESTART): Process._start,
    (State.FATAL, Event.RESTART): Process._start,
    (State.BACKOFF, Event.RESTART): Process._start,
    (State.STARTING, Event.RESTART): Process._restart,
    (State.RUNNING, Event.RESTART): Process._restart,
    (State.STOPPING, Event.RESTART): Process._want_up_again,
    # LEADER_EXIT: only a live generation has a leader.
    (State.STARTING, Event.LEADER_EXIT): Process._leader_exit,
    (State.RUNNING, Event.LEADER_EXIT): Process._leader_exit,
    (State.STOPPING, Event.LEADER_EXIT): Process._leader_exit_stopping,
    (State.STOPPED, Event.LEADER_EXIT): Process._ignore,
    (State.EXITED, Event.LEADER_EXIT): Process._ignore,
    (State.FATAL, Event.LEADER_EXIT): Process._ignore,
    (State.BACKOFF, Event.LEADER_EXIT): Process._ignore,
    # GONE: a generation ends only while stopping (its leader exit or our
    # stop put it there first).
    (State.STOPPING, Event.GONE): Process._gone,
    (State.STARTING, Event.GONE): Process._ignore,
    (State.RUNNING, Event.GONE): Process._ignore,
    (State.STOPPED, Event.GONE): Process._ignore,
    (State.EXITED, Event.GONE): Process._ignore,
    (State.FATAL, Event.GONE): Process._ignore,
    (State.BACKOFF, Event.GONE): Process._ignore,
    # TIMER: the one pending deadline of the state.
    (State.STARTING, Event.TIMER): Process._running,
    (State.STOPPING, Event.TIMER): Process._escalate,
    (State.BACKOFF, Event.TIMER): Process._retry,
    (State.RUNNING, Event.TIMER): Process._ignore,
    (State.STOPPED, Event.TIMER): Process._ignore,
    (State.EXITED, Event.TIMER): Process._ignore,
    (State.FATAL, Event.TIMER): Process._ignore,
}


# ---------------------------------------------------------------------------
# The real generation: a Child plus the readers of its pipes


@dataclass
class Context:
    """What every process of a daemon shares."""

    loop: asyncio.AbstractEventLoop
    reaper: Reaper
    sinks: Sinks
    session: str
    on_change: Callable[[], None] = lambda: None


class Run:
    """A started generation: its processes (`Child`) and its pipes.

    It is over when the child is gone *and* every pipe reached end of file.
    """

    def __init__(self, process: Process, ctx: Context) -> None:
        cfg = process.config
        self.process = process
        self.ctx = ctx
        merge = cfg.stderr.kind == "stdout"
        popen, pipes = spawn(
            LaunchSpec(
                argv=cfg.argv_for(process.index),
                cwd=cfg.cwd,
                env=launch_env(cfg, process, ctx.session),
                user=cfg.user,
                group=cfg.group,
                umask=cfg.umask,
                merge_stderr=merge,
            )
        )
        self.pid = popen.pid
        self.child = Child(ctx.loop, ctx.reaper, popen, process.name,
                           self._leader_exit, self._maybe_over)
        self.readers: list[PipeReader] = []
        self.open_pipes = 0
        out = process.outputs["stdout"]
        self.readers.append(out.attach(ctx.loop, pipes.stdout, self._eof))
        self.open_pipes += 1
        if pipes.stderr is not None:
            err = process.outputs["stderr"]
            self.readers.append(err.attach(ctx.loop, pipes.stderr, self._eof))
            self.open_pipes += 1
        self.over = False
        self.hunted = False
        ctx.on_change()

    @property
    def status(self) -> int | None:
        return self.child.status

    def _leader_exit(self, status: int) -> None:
        self.process.handle(Event.LEADER_EXIT)

    def _eof(self) -> None:
        self.open_pipes -= 1
        self._maybe_over()

    def _maybe_over(self) -> None:
        if self.over or not self.child.gone:
            return
        if self.open_pipes > 0:
            # Every process we know of is gone: the pipes are at end of
            # file now, unless something we never saw still holds them.
            for reader in list(self.readers):
                reader.drain()
            if self.open_pipes > 0 and not self.hunted:
                self.hunted = True
                self._hunt_pipe_holders()
            return
        self.over = True
        self.process.handle(Event.GONE)

    def _hunt_pipe_holders(self) -> None:
        inodes = [i for r in self.readers if not r.closed
                  for i in [r.inode()] if i is not None]
        found = self.child.adopt_pipe_holders(inodes)
        if found:
            log.warning("%s: pid(s) %s outlived the program and hold its output "
                        "open; stopping them too", self.process.name,
                        ", ".join(map(str, found)))

    def terminate(self, sig: int) -> None:
        self.child.terminate(sig)

    def kill(self) -> list[int]:
        return self.child.kill()

    def kill_stragglers(self) -> list[int]:
        """If only the pipes hold us up, end whoever still holds them."""
        if not self.child.gone or self.open_pipes == 0:
            return []
        inodes = [i for r in self.readers if not r.closed
                  for i in [r.inode()] if i is not None]
        found = self.child.adopt_pipe_holders(inodes)
        self.child.kill()
        return found

    def leftovers(self) -> str:
        pids = sorted(info.pid for info in self.child.find_members())
        return ", ".join(f"pid={pid}" for pid in pids)

    def send(self, sig: int, target: str) -> bool:
        if target == "main":
            return self.child.send_main(sig)
        if target == "tree":
            return self.child.send_tree(sig)
        return self.child.send_group(sig)

    def close(self) -> None:
        self.child.close()
        for reader in self.readers:
            reader.close()
        self.ctx.on_change()


def launch_env(cfg: ProgramConfig, process: Process, session: str) -> dict[str, str]:
    """The environment a process starts with."""
    env = dict(os.environ) if cfg.inherit_env else {}
    if cfg.user is not None:
        import pwd

        try:
            pw = (pwd.getpwuid(int(cfg.user)) if cfg.user.isdigit()
                  else pwd.getpwnam(cfg.user))
            env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name)
        except KeyError:
            pass  # spawn reports the unknown user
    env.update(cfg.env_for(process.index))
    env.update(
        CORRAL_PROGRAM=cfg.name,
        CORRAL_PROCESS=process.name,
        CORRAL_PROCESS_NUM=str(process.index),
        CORRAL_SESSION=session,
    )
    return env


class Program:
    """All processes of one configured program."""

    def __init__(self, config: ProgramConfig, ctx: Context) -> None:
        self.config = config
        self.ctx = ctx
        self.processes: list[Process] = []
        self.on_state: Callable[[Process], None] | None = None
        self.resize(config.numprocs)

    def __repr__(self) -> str:
        return f"<Program {self.config.name} x{len(self.processes)}>"

    def _launch(self, process: Process) -> Generation:
        return Run(process, self.ctx)

    def new_process(self, index: int) -> Process:
        process = Process(self.config, index, self._launch, self.ctx.loop)
        process.on_state = self.on_state
        self._attach_outputs(process)
        return process

    def _attach_outputs(self, process: Process) -> None:
        out = OutputStream(process.name, "stdout", self.config.stdout, self.ctx.sinks)
        process.outputs["stdout"] = out
        if self.config.stderr.kind == "stdout":
            out.carries.add("stderr")
            process.outputs["stderr"] = out
        else:
            process.outputs["stderr"] = OutputStream(
                process.name, "stderr", self.config.stderr, self.ctx.sinks
            )

    def resize(self, count: int) -> list[Process]:
        """Grow to COUNT processes; return those beyond COUNT (to stop)."""
        while len(self.processes) < count:
            self.processes.append(self.new_process(len(self.processes)))
        return self.processes[count:]

    def drop(self, processes: list[Process]) -> None:
        """Forget stopped processes (after scaling down)."""
        for process in processes:
            if process in self.processes:
                self.processes.remove(process)
            for output in {id(o): o for o in process.outputs.values()}.values():
                output.close()

    def apply(self, config: ProgramConfig) -> None:
        """Take new settings that do not need a restart (policy, timeouts)."""
        self.config = config
        for process in self.processes:
            process.config = config


__all__ = [
    "DOWN",
    "LIVE",
    "TABLE",
    "ActionFailed",
    "Context",
    "CorralError",
    "Event",
    "Process",
    "Program",
    "State",
]
