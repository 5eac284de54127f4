"""All programs of one daemon: start order, stop order, reload, scale.

The supervisor turns requests into events for `Process`es and waits for
their outcome. It owns the dependency order: programs start after what
they depend on is running and stop in the reverse order, programs at the
same level in parallel.

Requests on processes (start, stop, restart, signal) may overlap freely:
each is a set of events, and the state table settles them. Requests that
change which processes exist (reload, scale) run one at a time, and a
request on processes that arrives meanwhile waits for them to finish, then
names the processes as they are: nothing is forgotten while it runs, and
nothing acts on a process that is about to be forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterable
from typing import Any

from corral.config.model import Config, ProgramConfig
from corral.errors import ActionFailed, UnknownName, UsageError
from corral.process import adopted_orphans, end_processes
from corral.program import DOWN, Context, Event, Process, Program, State

log = logging.getLogger("corral.supervisor")

# Spawns between two looks at pending signals during start-up.
SPAWN_BATCH = 8
# How long unclaimed descendants get after SIGTERM at shutdown.
ORPHAN_TIMEOUT = 5.0


class Supervisor:
    """Every program of a config, and the operations on them."""

    def __init__(self, config: Config, ctx: Context) -> None:
        self.config = config
        self.ctx = ctx
        self.programs: dict[str, Program] = {}
        self.closing = False
        self.background: set[asyncio.Future[None]] = set()
        self.on_critical: Callable[[Process], None] | None = None
        # Held by reload and scale, for as long as they run.
        self.layout = asyncio.Lock()
        for prog in config.ordered():
            self._add(Program(prog, ctx))

    def _add(self, prog: Program) -> Program:
        prog.on_state = self._state_changed
        for process in prog.processes:
            process.on_state = self._state_changed
            process.closing = self.closing
        self.programs[prog.config.name] = prog
        return prog

    async def settled(self) -> None:
        """Return when no reload or scale is changing the set of processes."""
        if self.layout.locked():
            async with self.layout:
                pass

    def _state_changed(self, process: Process) -> None:
        """A critical program that fails for good ends the daemon."""
        if (process.config.critical and not self.closing
                and process.state in (State.FATAL, State.EXITED)
                and self.on_critical is not None):
            self.on_critical(process)

    # -- names ---------------------------------------------------------------

    def resolve(self, names: Iterable[str], all_: bool = False) -> list[Process]:
        """Processes for program names and name.N; raise `UnknownName`."""
        if all_:
            return [p for prog in self.programs.values() for p in prog.processes]
        result: list[Process] = []
        for name in names:
            result.extend(self._resolve_one(name))
        if not result and not all_:
            names = list(names)
            if not names:
                raise UsageError("name a program, or use --all")
        return list({id(p): p for p in result}.values())

    def _resolve_one(self, name: str) -> list[Process]:
        prog = self.programs.get(name)
        if prog is not None:
            return list(prog.processes)
        base, dot, index = name.rpartition(".")
        # name.N as status shows it: ASCII digits, no leading zero.
        plain = index.isascii() and index.isdigit() and str(int(index)) == index
        if dot and plain and base in self.programs:
            for process in self.programs[base].processes:
                if process.index == int(index):
                    return [process]
        known = ", ".join(self.programs) or "none"
        if len(known) > 200:
            known = known[:200] + "…"
        raise UnknownName(f"no program or process named {_shown(name)} "
                          f"(known: {known})")

    # -- levels --------------------------------------------------------------

    def levels(self) -> list[list[Program]]:
        """Programs grouped so each group depends only on earlier ones."""
        depth: dict[str, int] = {}

        def level(name: str) -> int:
            if name not in depth:
                deps = self.programs[name].config.depends_on
                depth[name] = 1 + max((level(d) for d in deps if d in self.programs),
                                      default=-1)
            return depth[name]

        keyed: dict[tuple[int, int], list[Program]] = {}
        for name, prog in self.programs.items():
            key = (level(name), prog.config.priority)
            keyed.setdefault(key, []).append(prog)
        return [keyed[k] for k in sorted(keyed)]

    # -- start, stop, restart --------------------------------------------------

    async def start_all(self) -> None:
        """Start every program with autostart, in start order.

        Returns once every program that depends on nothing has been
        spawned; programs with dependencies start in the background when
        what they need is running. A stop signal is let in every few
        spawns, so shutdown can interrupt a long start-up at any point.
        """
        spawned = 0
        # Everything to start is wanted before anything starts: a program
        # waiting for its dependencies tells "not started yet" from "not
        # to be started" by this.
        for prog in self.programs.values():
            for process in prog.processes if prog.config.autostart else ():
                process.want_up = True
        for prog in list(self.programs.values()):
            if not prog.config.autostart:
                continue
            if prog.config.depends_on:
                self._launch_after_deps(prog)
                continue
            for process in prog.processes:
                if self.closing:
                    return
                process.handle(Event.START)
                spawned += 1
                if spawned % SPAWN_BATCH == 0:
                    await asyncio.sleep(0)

    def _launch_after_deps(self, prog: Program) -> None:
        """Start PROG once what it depends on runs. Its processes count as
        wanted meanwhile: what depends on them waits for them, and a stop
        in between cancels their start."""
        for process in prog.processes:
            process.want_up = True
        task = asyncio.ensure_future(self._start_after_deps(prog))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _start_after_deps(self, prog: Program) -> None:
        for dep in prog.config.depends_on:
            needed = self.programs[dep].processes if dep in self.programs else []
            try:
                await asyncio.gather(*(_ready(p) for p in needed))
            except ActionFailed as exc:
                log.error("%s: not started because %s did not start (%s)",
                          prog.config.name, dep, exc)
                for process in prog.processes:
                    if process.state is State.STOPPED and process.want_up:
                        process.handle(Event.STOP)  # what waits on it learns
                        process.reason = f"not started: {dep} did not start"
                return
        if self.closing:
            return
        for process in prog.processes:
            if process.want_up:
                process.handle(Event.START)

    async def start(self, processes: list[Process]) -> list[dict[str, Any]]:
        """Start processes and wait until each runs or fails; what they
        depend on is started first, if it is not running."""
        self._refuse_when_closing()
        results, processes = await self._before(processes)
        already = {id(p) for p in processes if p.state is State.RUNNING}
        for process in processes:
            process.handle(Event.START)
        mine = await self._outcomes(processes, self._started)
        for process, result in zip(processes, mine, strict=True):
            if id(process) in already and result["ok"]:
                result["message"] = f"{process.name} pid={process.pid} already running"
        return results + mine

    def _needed(self, processes: list[Process]) -> list[list[Process]]:
        """The processes that PROCESSES depend on and that are not up, by
        level: what depends on nothing first."""
        wanted = {p.config.name for p in processes}
        needed: set[str] = set()
        todo = list(wanted)
        while todo:
            prog = self.programs.get(todo.pop())
            for dep in prog.config.depends_on if prog is not None else ():
                if dep in self.programs and dep not in needed | wanted:
                    needed.add(dep)
                    todo.append(dep)
        up = (State.STARTING, State.RUNNING)
        return [down for level in self.levels() if (down := [
            p for prog in level if prog.config.name in needed
            for p in prog.processes if p.state not in up or not p.want_up])]

    async def stop(self, processes: list[Process]) -> list[dict[str, Any]]:
        """Stop processes and wait until nothing of them is left."""
        already = {id(p) for p in processes if p.state in DOWN}
        for process in processes:
            process.handle(Event.STOP)
        # Which generation each stop is about, taken now, before any other
        # request can run: see `Process.wait_stopped`.
        spawns = {id(p): p.spawns for p in processes}
        results = await self._outcomes(
            processes, lambda p: self._stopped(p, spawns[id(p)]))
        for process, result in zip(processes, results, strict=True):
            if id(process) in already and result["ok"]:
                result["message"] = f"{process.name} already stopped"
        return results

    async def restart(self, processes: list[Process]) -> list[dict[str, Any]]:
        """Stop then start each process; the old generation ends first.
        What they depend on is started first, if it is not running."""
        self._refuse_when_closing()
        results, processes = await self._before(processes)
        for process in processes:
            process.handle(Event.RESTART)
        return results + await self._outcomes(processes, self._started)

    async def _before(
        self, processes: list[Process]
    ) -> tuple[list[dict[str, Any]], list[Process]]:
        """Start what PROCESSES depend on and is not up, level by level.

        Returns the results so far (those starts, and a failure for each of
        PROCESSES that cannot go ahead) and the processes to act on.
        """
        levels = self._needed(processes)
        if not levels:
            return [], processes
        for process in processes:
            process.want_up = True  # a stop while the others start undoes it
        results: list[dict[str, Any]] = []
        for level in levels:
            for process in level:
                process.handle(Event.START)
            outcomes = await self._outcomes(level, self._started)
            results += outcomes
            failed = [p for p, o in zip(level, outcomes, strict=True) if not o["ok"]]
            if failed or self.closing:
                why = (f"not started: {failed[0].config.name}, which it depends "
                       "on, did not start") if failed else "the daemon is shutting down"
                for process in processes:
                    if process.state is State.STOPPED:
                        process.handle(Event.STOP)  # no longer wanted
                    elif process.state in DOWN:
                        process.want_up = False
                return results + [{"name": p.name, "ok": False, "message": why}
                                  for p in processes], []
        results += [{"name": p.name, "ok": False,
                     "message": f"{p.name} was stopped by another request"}
                    for p in processes if not p.want_up]
        return results, [p for p in processes if p.want_up]

    async def _started(self, process: Process) -> str:
        await process.wait_started()
        return f"{process.name} pid={process.pid} {process.state.value}"

    async def _stopped(self, process: Process, spawns: int) -> str:
        if not await process.wait_stopped(spawns):
            raise ActionFailed(f"{process.name} was stopped, then started again "
                               "by another request")
        report = process.stop_report
        took = f" in {report.duration:.3f} s" if report and report.duration else ""
        return f"{process.name} {process.state.value}{took}"

    async def _outcomes(
        self, processes: list[Process], wait: Any
    ) -> list[dict[str, Any]]:
        outcomes = await asyncio.gather(*(wait(p) for p in processes),
                                        return_exceptions=True)
        results = []
        for process, outcome in zip(processes, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, ActionFailed):
                    raise outcome
                results.append({"name": process.name, "ok": False,
                                "message": str(outcome)})
            else:
                results.append({"name": process.name, "ok": True,
                                "message": outcome})
        return results

    def _refuse_when_closing(self) -> None:
        if self.closing:
            raise ActionFailed("the daemon is shutting down")

    # -- shutdown -------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop everything, dependents before what they depend on."""
        self.closing = True
        for task in list(self.background):
            task.cancel()
        for prog in self.programs.values():
            for process in prog.processes:
                process.closing = True
        for level in reversed(self.levels()):
            processes = [p for prog in level for p in prog.processes]
            for process in processes:
                process.handle(Event.STOP)
            await asyncio.gather(*(p.wait_until(DOWN) for p in processes))

        # What no program claims but descends from us goes too.
        orphans = adopted_orphans(self.ctx.reaper.leaders)
        if orphans:
            log.warning("stopping %d process(es) that no program claims: %s",
                        len(orphans), ", ".join(f"pid={o.pid}" for o in orphans))
            await end_processes(orphans, signal.SIGTERM, ORPHAN_TIMEOUT)

    def kill_everything(self) -> None:
        """Second Ctrl-C: SIGKILL every process at once, no waiting."""
        for prog in self.programs.values():
            for process in prog.processes:
                if process.gen is not None:
                    process.gen.kill()

    # -- status and signals -------------------------------------------------

    def status(self, names: list[str]) -> list[dict[str, Any]]:
        processes = self.resolve(names, all_=not names)
        return [p.status() for p in processes]

    def signal(self, name: str, sig: int, target: str) -> list[dict[str, Any]]:
        processes = self.resolve([name])
        live = [p for p in processes if p.state not in DOWN and p.gen is not None]
        if not live:
            states = ", ".join(f"{p.name} {p.state.value}" for p in processes)
            raise ActionFailed(f"nothing to signal: {states}")
        results = []
        for process in live:
            try:
                process.signal(sig, target)
                results.append({"name": process.name, "ok": True,
                                "message": f"signalled pid={process.pid}"})
            except ActionFailed as exc:
                results.append({"name": process.name, "ok": False,
                                "message": str(exc)})
        return results

    # -- scale and reload ----------------------------------------------------

    async def scale(self, name: str, count: int) -> list[dict[str, Any]]:
        """Run COUNT processes of a program: start new ones, stop the highest."""
        if not 0 <= count <= 10_000:
            raise UsageError(f"invalid count {count}: expected 0..10000")
        async with self.layout:
            if name not in self.programs:
                raise UnknownName(f"no program named {_shown(name)}")
            return await self._scale(self.programs[name], count)

    async def _scale(self, prog: Program, count: int) -> list[dict[str, Any]]:
        self._refuse_when_closing()
        before = len(prog.processes)
        extra = prog.resize(count)
        prog.apply(_with(prog.config, numprocs=count))
        results = []
        if extra:
            results += await self._stop_for_good(extra)
            prog.drop(extra)
        new = prog.processes[before:]
        if new and not self.closing:
            results += await self.start(new)
        return results

    async def _stop_for_good(self, processes: list[Process]) -> list[dict[str, Any]]:
        """Stop processes about to be forgotten; return once each is down.

        Requests on processes wait while this runs, but a program that
        waited for its dependencies may still start one: it is stopped
        again, so none is forgotten while it runs.
        """
        results = await self.stop(processes)
        while live := [p for p in processes if p.state not in DOWN or p.gen]:
            for process in live:
                process.handle(Event.STOP)
            await asyncio.gather(*(p.wait_until(DOWN) for p in live))
        return results

    def _launch(self, prog: Program) -> None:
        """Start a program reload brought in, after what it depends on."""
        if self.closing:
            return
        if prog.config.depends_on:
            self._launch_after_deps(prog)
            return
        for process in prog.processes:
            process.handle(Event.START)

    async def reload(self, config: Config) -> dict[str, list[str]]:
        """Apply the difference between the running setup and CONFIG."""
        self._refuse_when_closing()
        async with self.layout:
            return await self._reload(config)

    async def _reload(self, config: Config) -> dict[str, list[str]]:
        self._refuse_when_closing()
        old = dict(self.programs)
        added = [n for n in config.programs if n not in old]
        removed = [n for n in old if n not in config.programs]
        changed = [n for n in config.programs if n in old
                   and config.programs[n].launch_key() != old[n].config.launch_key()]
        tuned = [n for n in config.programs if n in old and n not in changed
                 and config.programs[n] != old[n].config]

        # Removed programs stop first, then changed ones are replaced.
        gone = [p for n in removed for p in old[n].processes]
        if gone:
            await self._stop_for_good(gone)
        for name in removed:
            old[name].drop(list(old[name].processes))
            del self.programs[name]

        for name in changed:
            prog = old[name]
            was_up = any(p.want_up for p in prog.processes)
            await self._stop_for_good(list(prog.processes))
            prog.drop(list(prog.processes))
            fresh = self._add(Program(config.programs[name], self.ctx))
            if was_up:
                self._launch(fresh)

        for name in tuned:
            prog = old[name]
            new_cfg = config.programs[name]
            prog.apply(new_cfg)
            if new_cfg.numprocs != len(prog.processes) and not self.closing:
                await self._scale(prog, new_cfg.numprocs)

        for name in added:
            prog = self._add(Program(config.programs[name], self.ctx))
            if prog.config.autostart:
                self._launch(prog)

        # Keep the configured order for status and shutdown.
        order = [p.name for p in config.ordered()]
        self.programs = {n: self.programs[n] for n in order}
        self.config = config
        return {"added": added, "removed": removed, "changed": changed,
                "updated": tuned}

    def reopen_logs(self) -> int:
        return self.ctx.sinks.reopen()


async def _ready(process: Process) -> None:
    """Wait until PROCESS runs, also when its own start is still pending
    (stopped, but wanted: it waits for what it depends on). Raises
    `ActionFailed` if it will not run."""
    await process.wait_for(lambda: process.state is not State.STOPPED
                           or not process.want_up)
    if process.state is State.STOPPED:
        raise ActionFailed(f"{process.name} is stopped")
    await process.wait_started()


def _shown(name: str) -> str:
    """A name as a message quotes it: whole if it is of a sane length."""
    return repr(name) if len(name) <= 80 else repr(name[:80]) + "…"


def _with(config: ProgramConfig, **changes: Any) -> ProgramConfig:
    from dataclasses import replace

    return replace(config, **changes)
