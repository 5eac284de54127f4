"""The scenarios. Each takes the run's `Context` and returns `Metric`s.

Systems are driven in rounds, A B C A B C ..., so that whatever the
machine does meanwhile (a cron job, a CPU frequency change) hits every
system alike. The first rounds are warm-ups and are not kept.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    BenchError,
    Fifo,
    Janitor,
    Series,
    context_switches,
    cpu_ns,
    now,
    pids_of,
    rss_mib,
    run,
    sleep_until,
    spawn,
    threads,
    wait_child,
    wait_gone,
)
from systems import Prog, System, make

HERE = Path(__file__).resolve().parent
BURST = HERE / "programs" / "burst.py"
ORDER = ("corral", "circus", "supervisord")
ANCHORS = ("circus", "supervisord")
# Every supervisor here counts a process as started once it has lived 1 s
# (corral start_secs, supervisord startsecs); stop and kill only after that.
SETTLE = 1.3


@dataclass
class Context:
    janitor: Janitor
    work: Path
    shm: Path
    quick: bool
    runs: int | None = None  # overrides every scenario's own count
    log: Callable[[str], None] = print
    live: list[System] = field(default_factory=list)

    def rounds(self, full: int, quick: int) -> int:
        if self.runs is not None:
            return self.runs
        return quick if self.quick else full

    def warmups(self) -> int:
        return 0 if self.quick else 1


@dataclass
class Metric:
    """One measured quantity, with a series per system."""

    key: str
    scenario: str
    title: str
    unit: str
    lower_is_better: bool
    target: str = ""
    # met(corral median, best anchor median, reference median) -> bool | None
    check: Callable[[float, float | None, float | None], bool] | None = None
    series: dict[str, Series] = field(default_factory=dict)
    reference: str | None = None  # a row that is not an anchor (cat, floor)
    note: str = ""

    def add(self, system: str, value: float) -> None:
        self.series.setdefault(system, Series()).values.append(value)

    def fail(self, system: str, why: str) -> None:
        entry = self.series.setdefault(system, Series())
        entry.failures += 1
        entry.note = why


def ready_argv(fifo: Fifo) -> list[str]:
    """A test process: report its pid on FIFO, then become `sleep`.

    `exec` keeps the pid, so the pid reported is the one that receives the
    stop signal; sleep ends on SIGTERM (default action).
    """
    return ["/bin/sh", "-c", f"echo $$ > {fifo.path}; exec sleep 86400"]


@contextmanager
def daemons(ctx: Context, tag: str, progs: Callable[[System, Fifo], list[Prog]],
            kinds: tuple[tuple[str, str, dict[str, str]], ...] = (),
            graceful: bool = True) -> Iterator[list[tuple[System, Fifo]]]:
    """Configure and launch one daemon per system; shut them all down after.

    GRACEFUL false ends them with SIGKILL instead (their processes too, by
    pid), where the way down is not what is measured and would take long.
    """
    kinds = kinds or tuple((k, "", {}) for k in ORDER)
    pairs: list[tuple[System, Fifo]] = []
    try:
        for kind, key, extra in kinds:
            system = make(kind, ctx.work / tag, ctx.janitor, key, **extra)
            fifo = Fifo(system.root / "ready.fifo")
            pairs.append((system, fifo))
            system.configure(progs(system, fifo))
            ctx.live.append(system)
            system.launch()
        yield pairs
    finally:
        for system, fifo in pairs:
            try:
                if graceful:
                    system.shutdown()
                else:
                    system.kill()
            finally:
                fifo.close()
                if system in ctx.live:
                    ctx.live.remove(system)


def _start(system: System, fifo: Fifo, name: str, count: int,
           timeout: float = 120.0) -> tuple[list[int], float]:
    proc = subprocess.Popen(system.start_argv(name), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        lines, seen = fifo.wait(count, timeout / 4)
    except BenchError as exc:
        # A start between measurements that did nothing at all (seen with
        # circus now and then): say so, and ask once more.
        wait_child(proc, timeout)
        if not str(exc).startswith(f"{fifo.path.name}: 0 of"):
            raise
        print(f"bench: {system.name} did not start {name} ({exc}); asking again",
              file=sys.stderr, flush=True)
        proc = subprocess.Popen(system.start_argv(name), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        lines, seen = fifo.wait(count, timeout)
    wait_child(proc, timeout)
    return pids_of(lines), seen


def _stop(system: System, name: str, pids: list[int],
          timeout: float = 120.0) -> tuple[float, float, int]:
    """Issue stop; return (last process exited, command returned, status)."""
    proc = subprocess.Popen(system.stop_argv(name), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    last, ended = wait_gone(pids, timeout, proc)
    return last, ended, proc.returncode or 0


# ---------------------------------------------------------------------------
# stop


def stop(ctx: Context) -> list[Metric]:
    metrics = []
    for n in (1, 20):
        m = Metric(f"stop_{n}", "stop", f"stop, {n} process{'es' if n > 1 else ''}",
                   "ms", True, "≤ 1/10 of best anchor",
                   lambda c, a, r: a is not None and c <= a / 10)
        rounds = ctx.warmups() + ctx.rounds(7, 1)

        def progs(system: System, fifo: Fifo, n: int = n) -> list[Prog]:
            return [Prog("s", ready_argv(fifo), numprocs=n)]

        with daemons(ctx, f"stop{n}", progs) as pairs:
            state = {}
            for system, fifo in pairs:
                lines, seen = fifo.wait(n, 60)
                state[system.name] = (pids_of(lines), seen)
            for r in range(rounds):
                for system, fifo in pairs:
                    pids, seen = state[system.name]
                    sleep_until(seen + SETTLE)
                    t0 = now()
                    last, ended, status = _stop(system, "s", pids)
                    value = (max(last, ended) - t0) * 1000
                    if status != 0:
                        m.fail(system.name, f"stop exited {status}")
                    elif r >= ctx.warmups():
                        m.add(system.name, value)
                    ctx.log(f"  {m.title:<22} {system.name:<12} {value:9.1f} ms"
                            f"{' (warm-up)' if r < ctx.warmups() else ''}")
                    fifo.drain()
                    state[system.name] = _start(system, fifo, "s", n)
        metrics.append(m)
    return metrics


# ---------------------------------------------------------------------------
# respawn


def respawn(ctx: Context) -> list[Metric]:
    m = Metric("respawn", "respawn", "respawn after kill -9", "ms", True, "≤ 8 ms",
               lambda c, a, r: c <= 8.0, reference="direct spawn")
    m.note = ("'direct spawn' is the floor: the same `sh -c 'echo $$ > fifo; exec "
              "sleep'` started by the suite itself (subprocess.Popen), from call to "
              "line seen.")
    kinds: tuple[tuple[str, str, dict[str, str]], ...] = (
        ("corral", "", {}), ("circus", "", {}), ("supervisord", "", {}),
        ("circus", "circus-tuned", {"check_delay": "0.1"}))
    rounds = ctx.warmups() + ctx.rounds(7, 1)

    def progs(system: System, fifo: Fifo) -> list[Prog]:
        return [Prog("r", ready_argv(fifo))]

    floor_fifo = Fifo(ctx.work / "respawn-floor.fifo")
    try:
        with daemons(ctx, "respawn", progs, kinds) as pairs:
            state = {}
            for system, fifo in pairs:
                lines, seen = fifo.wait(1, 60)
                state[system.name] = (pids_of(lines)[0], seen)
            for r in range(rounds):
                for system, fifo in pairs:
                    pid, seen = state[system.name]
                    sleep_until(seen + SETTLE)
                    t0 = now()
                    os.kill(pid, signal.SIGKILL)
                    try:
                        lines, seen = fifo.wait(1, 30)
                    except BenchError as exc:
                        m.fail(system.name, str(exc))
                        raise
                    value = (seen - t0) * 1000
                    state[system.name] = (pids_of(lines)[0], seen)
                    if r >= ctx.warmups():
                        m.add(system.name, value)
                    ctx.log(f"  respawn {system.name:<14} {value:9.1f} ms")
                # The floor, in the same round.
                t0 = now()
                proc = subprocess.Popen(ready_argv(floor_fifo), start_new_session=True)
                _, seen = floor_fifo.wait(1, 10)
                value = (seen - t0) * 1000
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                if r >= ctx.warmups():
                    m.add("direct spawn", value)
    finally:
        floor_fifo.close()
    return [m]


# ---------------------------------------------------------------------------
# output capture


def output(ctx: Context) -> list[Metric]:
    total = (64 if ctx.quick else 200) * 1_000_000  # multiples of one write
    m = Metric("output", "output", f"output capture, {total // 1_000_000} MB of "
               "100-byte lines", "MB/s", False, "≥ 1.0 × cat",
               lambda c, a, r: r is not None and c >= r, reference="cat")
    rounds = ctx.warmups() + ctx.rounds(7, 1)
    ctx.shm.mkdir(parents=True, exist_ok=True)
    go: dict[str, Fifo] = {}
    files: dict[str, Path] = {}

    def progs(system: System, fifo: Fifo) -> list[Prog]:
        go[system.name] = Fifo(system.root / "go.fifo")
        files[system.name] = ctx.shm / f"{system.name}.log"
        files[system.name].touch()
        return [Prog("burst", [sys.executable, str(BURST), str(go[system.name].path),
                               str(fifo.path), str(total)],
                     stdout=str(files[system.name]))]

    cat_ready = Fifo(ctx.work / "output-cat-ready.fifo")
    go["cat"] = Fifo(ctx.work / "output-cat-go.fifo")
    files["cat"] = ctx.shm / "cat.log"
    writer = cat = None
    try:
        with daemons(ctx, "output", progs) as pairs:
            writer = subprocess.Popen(
                [sys.executable, str(BURST), str(go["cat"].path), str(cat_ready.path),
                 str(total)], stdout=subprocess.PIPE, start_new_session=True)
            # `cat >> file`: O_APPEND, as every supervisor opens its logs, so
            # that truncating the file between rounds leaves no hole.
            with open(files["cat"], "ab") as sink:
                cat = subprocess.Popen(["cat"], stdin=writer.stdout, stdout=sink,
                                       start_new_session=True)
            assert writer.stdout is not None
            writer.stdout.close()
            rows: list[tuple[str, Fifo]] = [(s.name, f) for s, f in pairs]
            rows.append(("cat", cat_ready))
            for _, fifo in rows:
                fifo.wait(1, 30)
            for r in range(rounds):
                for name, fifo in rows:
                    path = files[name]
                    os.truncate(path, 0)
                    t0 = now()
                    go[name].send("go\n")
                    t1 = _wait_size(path, total, 120)
                    fifo.wait(1, 120)  # the writer's "done"
                    time.sleep(0.05)
                    info = os.stat(path)
                    if info.st_size != total or info.st_blocks * 512 < total:
                        m.fail(name, f"file holds {info.st_size} bytes, "
                                     f"{info.st_blocks * 512} allocated")
                        continue
                    value = total / 1e6 / (t1 - t0)
                    if r >= ctx.warmups():
                        m.add(name, value)
                    ctx.log(f"  output {name:<12} {value:9.1f} MB/s")
    finally:
        for proc in (writer, cat):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        for fifo in (cat_ready, *go.values()):
            fifo.close()
        for path in files.values():
            path.unlink(missing_ok=True)
    return [m]


def _wait_size(path: Path, size: int, timeout: float) -> float:
    """When PATH reached SIZE bytes, looking every millisecond."""
    deadline = now() + timeout
    while True:
        if os.stat(path).st_size >= size:
            return now()
        if now() > deadline:
            raise BenchError(f"{path} did not reach {size} bytes in {timeout:g} s")
        time.sleep(0.001)


# ---------------------------------------------------------------------------
# control round trip


def control(ctx: Context) -> list[Metric]:
    m = Metric("status", "control", "control round trip (`status`)", "ms", True,
               "≤ 30 ms", lambda c, a, r: c <= 30.0)
    cpu = Metric("status_cpu", "control", "`status` client CPU (user+sys)", "ms",
                 True)
    rounds = ctx.warmups() * 3 + ctx.rounds(20, 5)

    def progs(system: System, fifo: Fifo) -> list[Prog]:
        return [Prog("s", ready_argv(fifo))]

    with daemons(ctx, "control", progs) as pairs:
        for _, fifo in pairs:
            fifo.wait(1, 60)
        for r in range(rounds):
            for system, _ in pairs:
                result = run(system.status_argv(), timeout=30, check=False)
                if result.returncode != 0:
                    m.fail(system.name, f"status exited {result.returncode}")
                elif r >= ctx.warmups() * 3:
                    m.add(system.name, result.seconds * 1000)
                    cpu.add(system.name, result.cpu * 1000)
        for system, _ in pairs:
            ctx.log(f"  status {system.name:<12} median "
                    f"{m.series[system.name].median or 0:7.1f} ms")
    return [m, cpu]


# ---------------------------------------------------------------------------
# start many


def start(ctx: Context) -> list[Metric]:
    sizes = (1, 200) if ctx.quick else (1, 200, 1000)
    metrics = []
    threads_metric = Metric("threads", "start", "daemon threads with 1 / "
                            f"{sizes[-1]} processes", "", True,
                            "constant", None)
    counts: dict[str, list[int]] = {}
    floor_fifo = Fifo(ctx.work / "start-floor.fifo")
    try:
        for n in sizes:
            m = Metric(f"start_{n}", "start",
                       f"start {n} process{'es' if n > 1 else ''}", "s", True,
                       reference="direct spawn")
            m.note = ("'direct spawn' is the floor: the suite itself starts the "
                      "same N test processes with subprocess.Popen in a loop "
                      "(new session each, like every supervisor here), in the "
                      "same rounds.")
            down = Metric(f"stop_after_{n}", "start",
                          f"stop {n} process{'es' if n > 1 else ''}", "s", True)
            down.note = ("The stop that follows each start of the *start* "
                         "scenario: command issued to command returned and "
                         "every process gone, as in *stop*")
            if n == 200:
                m.target = "≤ 0.4 s"
                m.check = lambda c, a, r: c <= 0.4
            full, quick = (7, 1) if n == 1 else (5, 1) if n == 200 else (3, 1)
            # 1,000 needs no warm-up of its own: the smaller sizes were one.
            warmups = ctx.warmups() if n < 1000 else 0
            rounds = warmups + ctx.rounds(full, quick)

            def progs(system: System, fifo: Fifo, n: int = n) -> list[Prog]:
                return [Prog("s", ready_argv(fifo), numprocs=n, autostart=False)]

            with daemons(ctx, f"start{n}", progs) as pairs:
                for r in range(rounds):
                    for system, fifo in pairs:
                        t0 = now()
                        proc = subprocess.Popen(
                            system.start_argv("s"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
                        lines, seen = fifo.wait(n, 300)
                        value = seen - t0
                        count = threads(system.pid)
                        counts.setdefault(system.name, []).append(count)
                        code, _ = wait_child(proc, 300)
                        if code != 0:
                            m.fail(system.name, f"start exited {code}")
                        elif r >= warmups:
                            m.add(system.name, value)
                        t1 = now()
                        last, ended, code = _stop(system, "s", pids_of(lines), 300)
                        if code != 0:
                            down.fail(system.name, f"stop exited {code}")
                        elif r >= warmups:
                            down.add(system.name, max(last, ended) - t1)

                        took = max(last, ended) - t1
                        ctx.log(f"  start {n:<5} {system.name:<12} {value:8.3f} s, "
                                f"{count} thread(s); stop {took:.3f} s")
                        fifo.drain()
                    value = _direct_spawn(floor_fifo, n)
                    if r >= warmups:
                        m.add("direct spawn", value)
            metrics += [m, down]
    finally:
        floor_fifo.close()
    for name, found in counts.items():
        threads_metric.add(name, min(found))
        threads_metric.add(name, max(found))
    threads_metric.note = ("Min and max of the daemon's thread count "
                           "(/proc/PID/status) taken when every process of a "
                           f"start had reported, over starts of {sizes} "
                           "processes")
    metrics.append(threads_metric)
    return metrics


def _direct_spawn(fifo: Fifo, n: int) -> float:
    """Start N test processes from the suite itself; the time until all run."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        t0 = now()
        for _ in range(n):
            procs.append(subprocess.Popen(
                ready_argv(fifo), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        _, seen = fifo.wait(n, 300)
        return seen - t0
    finally:
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.wait()
        fifo.drain()


# ---------------------------------------------------------------------------
# idle cost


def idle(ctx: Context) -> list[Metric]:
    window = 5.0 if ctx.quick else 30.0
    n = 100
    wake = Metric("idle_wakeups", "idle", f"idle wake-ups, {n} processes", "/s",
                  True, "0", lambda c, a, r: c == 0)
    cpu = Metric("idle_cpu", "idle", f"idle CPU, {n} processes", "%", True)
    rss = Metric("idle_rss", "idle", f"daemon RSS, {n} processes", "MiB", True,
                 "≤ 25 MiB", lambda c, a, r: c <= 25.0)
    windows = ctx.rounds(3, 1)
    wake.note = (f"Windows: {windows} of {window:g} s, all daemons measured in "
                 "the same windows; voluntary context switches of every thread "
                 "of the daemon (/proc/PID/task/*/status)")

    def progs(system: System, fifo: Fifo) -> list[Prog]:
        return [Prog("s", ready_argv(fifo), numprocs=n)]

    with daemons(ctx, "idle", progs) as pairs:
        for _, fifo in pairs:
            fifo.wait(n, 120)
        time.sleep(3.0)  # past start_secs / startsecs, and the first checks
        for _ in range(windows):
            before = {s.name: (context_switches(s.pid), cpu_ns(s.pid) / 1e9)
                      for s, _ in pairs}
            time.sleep(window)
            for system, _ in pairs:
                (v0, _), c0 = before[system.name]
                (v1, _), c1 = context_switches(system.pid), cpu_ns(system.pid) / 1e9
                wake.add(system.name, (v1 - v0) / window)
                cpu.add(system.name, (c1 - c0) / window * 100)
                rss.add(system.name, rss_mib(system.pid))
                ctx.log(f"  idle {system.name:<12} {(v1 - v0) / window:6.2f} "
                        f"wake-ups/s, {(c1 - c0) / window * 100:5.2f} % CPU, "
                        f"{rss_mib(system.pid):5.1f} MiB")
    return [wake, cpu, rss]


# ---------------------------------------------------------------------------
# crash storm


def storm(ctx: Context) -> list[Metric]:
    window = 2.0 if ctx.quick else 10.0
    count = 50
    timeout = 5.0
    latency = Metric("storm_status", "storm", f"`status` during a crash storm of "
                     f"{count} programs (worst)", "ms", True, "< 100 ms",
                     lambda c, a, r: c < 100)
    median = Metric("storm_status_median", "storm", "`status` during the storm "
                    "(median)", "ms", True)
    cpu = Metric("storm_cpu", "storm", "daemon CPU during the storm", "%", True)
    latency.note = (f"Each sample: a fresh daemon whose {count} programs exit 1 "
                    f"at once; `status` issued back to back (0.2 s apart) for "
                    f"{window:g} s from the moment the daemon answers; a status "
                    f"that takes more than {timeout:g} s counts as {timeout:g} s")
    rounds = ctx.rounds(3, 1)

    def progs(system: System, fifo: Fifo) -> list[Prog]:
        return [Prog(f"crash{i}", ["/bin/sh", "-c", "exit 1"]) for i in range(count)]

    for _ in range(rounds):
        for kind in ORDER:
            # Shut down with SIGKILL: supervisord stops one program per turn
            # of its one-second loop, 50 s for 50 programs, and the way down
            # is not what is measured here.
            with daemons(ctx, "storm", progs, ((kind, "", {}),),
                         graceful=False) as pairs:
                system = pairs[0][0]
                t0 = now()
                c0 = cpu_ns(system.pid) / 1e9
                seen: list[float] = []
                while now() < t0 + window:
                    try:
                        result = run(system.status_argv(), timeout=timeout,
                                     check=False)
                        took = result.seconds
                        if "crash" not in result.output:
                            latency.fail(system.name, "status gave no answer: "
                                         + result.output.strip()[-200:])
                            took = timeout
                    except BenchError:
                        latency.fail(system.name, f"status took > {timeout:g} s")
                        took = timeout
                    seen.append(took * 1000)
                    time.sleep(0.2)
                c1 = cpu_ns(system.pid) / 1e9
                elapsed = now() - t0
                latency.add(system.name, max(seen))
                median.add(system.name, statistics.median(seen))
                cpu.add(system.name, (c1 - c0) / elapsed * 100)
                ctx.log(f"  storm {system.name:<12} status worst {max(seen):7.1f} ms"
                        f", median {statistics.median(seen):6.1f} ms, CPU "
                        f"{(c1 - c0) / elapsed * 100:5.1f} %")
    return [latency, median, cpu]


SCENARIOS: dict[str, Callable[[Context], list[Metric]]] = {
    "stop": stop,
    "respawn": respawn,
    "output": output,
    "control": control,
    "start": start,
    "idle": idle,
    "storm": storm,
}

__all__ = ["ANCHORS", "ORDER", "SCENARIOS", "Context", "Metric", "spawn"]
