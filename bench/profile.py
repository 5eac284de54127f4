"""Where corral's time goes, for the "What stands in the way" section.

    .venv/bin/python bench/profile.py split            client vs daemon
    .venv/bin/python bench/profile.py scan             cost of one /proc scan
    .venv/bin/python bench/profile.py pyspy WORKLOAD   py-spy on the daemon
    .venv/bin/python bench/profile.py strace WORKLOAD  strace -c -f on it
    .venv/bin/python bench/profile.py client           imports of `corral`

WORKLOAD is respawn, stop, start, output or storm: the same work as the
scenario of that name, on corral alone. py-spy and pyinstrument come from
bench/.env (`./dev bench` installs them); strace from the system. Output
goes to bench/work/profile/ and a summary to the terminal. Run it on a
quiet machine, not while `./dev bench` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Fifo, Janitor, now, pids_of, run, wait_gone  # noqa: E402
from scenarios import BURST, SETTLE, ready_argv  # noqa: E402
from systems import CORRAL, ENV_BIN, Prog, System, make  # noqa: E402

OUT = HERE / "work" / "profile"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Rig:
    """One corral daemon running one workload's programs."""

    def __init__(self, janitor: Janitor, workload: str, n: int = 1) -> None:
        self.system: System = make("corral", OUT, janitor)
        self.fifo = Fifo(self.system.root / "ready.fifo")
        self.go = Fifo(self.system.root / "go.fifo")
        self.workload = workload
        self.n = n
        self.log = Path(f"/dev/shm/corral-bench-profile-{os.getpid()}.log")
        if workload == "storm":
            progs = [Prog(f"crash{i}", ["/bin/sh", "-c", "exit 1"]) for i in range(50)]
        elif workload == "output":
            self.log.touch()
            progs = [Prog("burst", [sys.executable, str(BURST), str(self.go.path),
                                    str(self.fifo.path), "200000000"],
                          stdout=str(self.log))]
        else:
            progs = [Prog("r", ready_argv(self.fifo), numprocs=n,
                          autostart=workload != "start")]
        self.system.configure(progs)
        self.system.launch()
        self.pids: list[int] = []
        self.seen = now()
        if workload in ("respawn", "stop"):
            lines, self.seen = self.fifo.wait(n, 60)
            self.pids = pids_of(lines)
        elif workload == "output":
            self.fifo.wait(1, 60)

    @property
    def socket(self) -> str:
        return str(self.system.root / "state" / "corral.sock")

    def raw(self, method: str, target: str, body: object = None) -> bytes:
        """One request over the control socket, without the client."""
        payload = b"" if body is None else json.dumps(body).encode()
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(self.socket)
        conn.sendall(f"{method} {target} HTTP/1.1\r\nHost: corral\r\n"
                     f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
                     .encode() + payload)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.close()
        return data

    def step(self) -> float:
        """One round of the workload; returns its figure (ms or MB/s)."""
        s = self.system
        if self.workload == "respawn":
            time.sleep(max(0.0, self.seen + SETTLE - now()))
            t0 = now()
            os.kill(self.pids[0], signal.SIGKILL)
            lines, self.seen = self.fifo.wait(1, 30)
            self.pids = pids_of(lines)
            return (self.seen - t0) * 1000
        if self.workload == "stop":
            time.sleep(max(0.0, self.seen + SETTLE - now()))
            t0 = now()
            proc = subprocess.Popen(s.stop_argv("r"), stdout=subprocess.DEVNULL)
            last, ended = wait_gone(self.pids, 60, proc)
            value = (max(last, ended) - t0) * 1000
            run(s.start_argv("r"))
            lines, self.seen = self.fifo.wait(self.n, 60)
            self.pids = pids_of(lines)
            return value
        if self.workload == "start":
            t0 = now()
            proc = subprocess.Popen(s.start_argv("r"), stdout=subprocess.DEVNULL)
            lines, seen = self.fifo.wait(self.n, 300)
            proc.wait()
            run(s.stop_argv("r"), timeout=300)
            self.fifo.drain()
            return (seen - t0) * 1000
        if self.workload == "output":
            os.truncate(self.log, 0)
            t0 = now()
            self.go.send("go\n")
            while os.stat(self.log).st_size < 200_000_000:
                time.sleep(0.001)
            value = 200 / (now() - t0)
            self.fifo.wait(1, 60)
            return value
        # storm: one status over the socket, every 50 ms
        t0 = now()
        self.raw("GET", "/v1/status")
        time.sleep(0.05)
        return (now() - t0) * 1000 - 50

    def close(self) -> None:
        self.system.kill()
        self.fifo.close()
        self.go.close()
        self.log.unlink(missing_ok=True)


def rounds_of(workload: str) -> int:
    return {"respawn": 15, "stop": 10, "start": 3, "output": 3, "storm": 150}[workload]


def attach(tool: str, rig: Rig, workload: str) -> subprocess.Popen[bytes]:
    pid = str(rig.system.pid)
    if tool == "pyspy":
        rate = "200" if rig.n >= 200 else "1000"
        argv = [str(ENV_BIN / "py-spy"), "record", "-p", pid, "-r", rate, "-f",
                "raw", "-o", str(OUT / f"{workload}.pyspy.txt"), "--nonblocking"]
    else:
        argv = ["strace", "-c", "-f", "-p", pid, "-o",
                str(OUT / f"{workload}.strace.txt")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return proc


def summarize_pyspy(path: Path, top: int = 15) -> None:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    print(f"{samples} samples; by own time:")
    for frame, count in own.most_common(top):
        print(f"  {count / samples * 100:5.1f}%  {frame}")
    print("by total time (corral's frames):")
    shown = 0
    for frame, count in total.most_common():
        if "corral/" in frame and "cli.py" not in frame and "daemon.py" not in frame:
            print(f"  {count / samples * 100:5.1f}%  {frame}")
            shown += 1
            if shown == top:
                break


def profile(tool: str, workload: str, n: int) -> None:
    janitor = Janitor()
    OUT.mkdir(parents=True, exist_ok=True)
    rig = Rig(janitor, workload, n)
    try:
        proc = attach(tool, rig, workload)
        values = [rig.step() for _ in range(rounds_of(workload))]
        proc.send_signal(signal.SIGINT)
        proc.wait()
    finally:
        rig.close()
        janitor.sweep()
    unit = "MB/s" if workload == "output" else "ms"
    print(f"{workload} (n={n}) under {tool}: median {median(values):.1f} {unit}, "
          f"min {min(values):.1f}, max {max(values):.1f}")
    if tool == "pyspy":
        summarize_pyspy(OUT / f"{workload}.pyspy.txt")
    else:
        print((OUT / f"{workload}.strace.txt").read_text()[:2500])


def split() -> None:
    """stop and status: how much is the client, how much the daemon."""
    janitor = Janitor()
    OUT.mkdir(parents=True, exist_ok=True)
    for n in (1, 20):
        rig = Rig(janitor, "stop", n)
        daemon_stop: list[float] = []
        daemon_status: list[float] = []
        client_status: list[float] = []
        version: list[float] = []
        bare: list[float] = []
        try:
            for _ in range(10):
                time.sleep(max(0.0, rig.seen + SETTLE - now()))
                t0 = now()
                rig.raw("POST", "/v1/stop", {"names": ["r"], "all": False})
                last, _ = wait_gone(rig.pids, 30)
                daemon_stop.append((max(last, now()) - t0) * 1000)
                rig.raw("POST", "/v1/start", {"names": ["r"], "all": False})
                lines, rig.seen = rig.fifo.wait(n, 30)
                rig.pids = pids_of(lines)
                t0 = now()
                rig.raw("GET", "/v1/status")
                daemon_status.append((now() - t0) * 1000)
                client_status.append(run(rig.system.status_argv()).seconds * 1000)
                version.append(run([str(CORRAL), "--version"]).seconds * 1000)
                bare.append(run([sys.executable, "-c", "pass"]).seconds * 1000)
        finally:
            rig.close()
        print(f"{n} process(es): stop over the socket {median(daemon_stop):.1f} ms; "
              f"status over the socket {median(daemon_status):.2f} ms; "
              f"`corral status` {median(client_status):.1f} ms; `corral --version` "
              f"{median(version):.1f} ms; `python -c pass` {median(bare):.1f} ms")
    janitor.sweep()


def scan() -> None:
    """One scan of /proc as process.scan does it, and with os.open/os.read."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from corral.process import scan as corral_scan

    def raw_scan() -> dict[int, bytes]:
        table = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fd = os.open(f"/proc/{entry}/stat", os.O_RDONLY)
            except OSError:
                continue
            try:
                table[int(entry)] = os.read(fd, 1024)
            except OSError:
                pass
            finally:
                os.close(fd)
        return table

    def timed(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return median(times)

    janitor = Janitor()
    for extra in (0, 1000):
        procs = [subprocess.Popen(["sleep", "600"], start_new_session=True)
                 for _ in range(extra)]
        try:
            count = sum(1 for e in os.listdir("/proc") if e.isdigit())
            print(f"{count} processes: process.scan() {timed(corral_scan):.2f} ms; "
                  f"the same with os.open/os.read {timed(raw_scan):.2f} ms")
        finally:
            for proc in procs:
                proc.kill()
            for proc in procs:
                proc.wait()
    janitor.sweep()


def client() -> None:
    """What `corral --version` imports, best of 15 (-X importtime)."""
    best: dict[str, int] = {}
    top: list[str] = []
    pattern = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)")
    for _ in range(15):
        err = run([sys.executable, "-X", "importtime", str(CORRAL), "--version"],
                  check=False).output
        for line in err.splitlines():
            m = pattern.match(line)
            if not m:
                continue
            name = m.group(3)
            if name not in best and len(m.group(2)) == 1:  # top level
                top.append(name)
            best[name] = min(best.get(name, 1 << 30), int(m.group(1)))
    for name in sorted(top, key=lambda t: -best[t])[:12]:
        print(f"  {best[name] / 1000:6.1f} ms  {name}")
    print(f"  {sum(best[t] for t in top) / 1000:6.1f} ms  in all")
    for argv in ([sys.executable, "-c", "pass"], [sys.executable, "-I", "-S", "-c",
                                                   "pass"], [str(CORRAL), "--version"]):
        times = [run(argv).seconds * 1000 for _ in range(15)]
        print(f"  {' '.join(Path(a).name for a in argv)}: best {min(times):.1f} ms, "
              f"median {median(times):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("what", choices=["split", "scan", "pyspy", "strace", "client"])
    parser.add_argument("workload", nargs="?", default="respawn",
                        choices=["respawn", "stop", "start", "output", "storm"])
    parser.add_argument("-n", type=int, default=0,
                        help="processes (default: 1, start: 200)")
    args = parser.parse_args()
    n = args.n or (200 if args.workload == "start" else 1)
    if args.what == "split":
        split()
    elif args.what == "scan":
        scan()
    elif args.what == "client":
        client()
    else:
        profile(args.what, args.workload, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
