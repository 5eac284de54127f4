"""The three supervisors, driven the way their users drive them: a config
file, a daemon, and each one's own command-line client.

Each `System` lives in a directory of its own under bench/work/ and talks
over a Unix socket of its own there (circus: ipc:// endpoints, i.e. Unix
sockets too). Settings are each system's defaults except where a
scenario needs otherwise; `SETTINGS` says which, for RESULTS.md.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from harness import MARK_VAR, BenchError, Janitor, alive, run, spawn, wait_child

HERE = Path(__file__).resolve().parent
ENV_BIN = HERE / ".env" / "bin"
CORRAL = Path(sys.executable).with_name("corral")


@dataclass
class Prog:
    """One program, as every system is told to run it."""

    name: str
    argv: list[str]
    numprocs: int = 1
    autostart: bool = True
    stdout: str | None = None  # a file, or None: output thrown away


@dataclass
class System(ABC):
    """One supervisor daemon and its client."""

    root: Path
    janitor: Janitor
    extra: dict[str, str] = field(default_factory=dict)
    pid: int = 0
    key: str = ""
    progs: list[Prog] = field(default_factory=list)

    label = "?"

    def __post_init__(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)

    @property
    def name(self) -> str:
        return self.key or self.label

    @abstractmethod
    def configure(self, progs: list[Prog]) -> None: ...

    @abstractmethod
    def launch(self) -> None:
        """Start the daemon; return once its control socket answers."""

    @abstractmethod
    def ctl(self, *args: str) -> list[str]:
        """The argv of one client command."""

    @abstractmethod
    def start_argv(self, name: str) -> list[str]: ...

    @abstractmethod
    def stop_argv(self, name: str) -> list[str]: ...

    def status_argv(self) -> list[str]:
        return self.ctl("status")


    def _stop_daemon(self) -> None:
        os.kill(self.pid, signal.SIGTERM)

    def shutdown(self, grace: float = 60.0) -> None:
        """Stop everything gracefully; SIGKILL the daemon after GRACE."""
        if not self.pid or not alive(self.pid):
            self.pid = 0
            return
        try:
            self._stop_daemon()
        except (BenchError, ProcessLookupError):
            pass
        deadline = time.monotonic() + grace
        while alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self._reap()
        self.pid = 0

    def kill(self) -> None:
        """End the daemon at once (SIGKILL) and whatever it left, by pid."""
        if self.pid and alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
            self._reap()
        self.pid = 0
        self.janitor.sweep()

    def _reap(self) -> None:  # noqa: B027 (only daemons we forked need it)
        """Collect the daemon's exit status if it is our child."""

    def env(self) -> dict[str, str]:
        """Variables every test process gets (the run's cleanup marker)."""
        return {MARK_VAR: self.janitor.token}


# ---------------------------------------------------------------------------


class Corral(System):
    label = "corral"

    @property
    def config(self) -> Path:
        return self.root / "corral.toml"

    def configure(self, progs: list[Prog]) -> None:
        self.progs = progs
        q = json.dumps  # a JSON string is a valid TOML basic string
        lines = ["[corral]", f"state_dir = {q(str(self.root / 'state'))}", ""]
        for prog in progs:
            env = ", ".join(f"{k} = {q(v)}" for k, v in self.env().items())
            lines += [
                f"[programs.{prog.name}]",
                f"cmd = [{', '.join(q(a) for a in prog.argv)}]",
                f"numprocs = {prog.numprocs}",
                f"autostart = {'true' if prog.autostart else 'false'}",
                f"stdout = {q(prog.stdout or 'null')}",
                'stderr = "null"',
                f"env = {{ {env} }}",
                *(f"{k} = {v}" for k, v in self.extra.items()),
                "",
            ]
        self.config.write_text("\n".join(lines))

    def ctl(self, *args: str) -> list[str]:
        return [str(CORRAL), "-c", str(self.config), *args]

    def launch(self) -> None:
        run(self.ctl("up", "--detach"), timeout=60)
        self.pid = int((self.root / "state" / "corral.pid").read_text())

    def start_argv(self, name: str) -> list[str]:
        return self.ctl("start", name)

    def stop_argv(self, name: str) -> list[str]:
        return self.ctl("stop", name)

    def _stop_daemon(self) -> None:
        run(self.ctl("down"), timeout=60, check=False)



class Circus(System):
    label = "circus"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "circus.ini"

    @property
    def endpoint(self) -> str:
        return f"ipc://{self.root / 'ctl.sock'}"

    def configure(self, progs: list[Prog]) -> None:
        self.progs = progs
        lines = [
            "[circus]",
            f"endpoint = {self.endpoint}",
            f"pubsub_endpoint = ipc://{self.root / 'pubsub.sock'}",
            # No cluster discovery: circus would otherwise listen on UDP
            # 0.0.0.0 and join a multicast group. Everything stays local.
            "multicast_endpoint =",
            *(f"{k} = {v}" for k, v in self.extra.items()),
            "",
        ]
        for prog in progs:
            lines += [
                f"[watcher:{prog.name}]",
                f"cmd = {prog.argv[0]}",
                f"args = {shlex.join(prog.argv[1:])}",
                f"numprocesses = {prog.numprocs}",
                f"autostart = {'true' if prog.autostart else 'false'}",
            ]
            if prog.stdout:
                lines += ["stdout_stream.class = FileStream",
                          f"stdout_stream.filename = {prog.stdout}"]
            lines += ["", f"[env:{prog.name}]",
                      *(f"{k} = {v}" for k, v in self.env().items()), ""]
        self.config.write_text("\n".join(lines))

    def ctl(self, *args: str) -> list[str]:
        return [str(ENV_BIN / "circusctl"), "--endpoint", self.endpoint,
                "--timeout", "30", *args]

    def launch(self) -> None:
        self.proc = spawn([str(ENV_BIN / "circusd"), str(self.config)],
                          cwd=self.root, log=self.root / "circusd.log")
        self.pid = self.proc.pid
        _wait_answer(self, self.ctl("list"))

    def start_argv(self, name: str) -> list[str]:
        return self.ctl("start", name)

    def stop_argv(self, name: str) -> list[str]:
        return self.ctl("stop", name)

    def _reap(self) -> None:
        if self.proc is not None:
            wait_child(self.proc, 5)
            self.proc = None



class Supervisord(System):
    label = "supervisord"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "supervisord.conf"

    def configure(self, progs: list[Prog]) -> None:
        self.progs = progs
        sock = self.root / "sv.sock"
        env = ",".join(f'{k}="{v}"' for k, v in self.env().items())
        lines = [
            "[unix_http_server]", f"file = {sock}", "",
            "[supervisord]", f"logfile = {self.root / 'supervisord.log'}",
            f"pidfile = {self.root / 'supervisord.pid'}",
            f"childlogdir = {self.root}", "nodaemon = true", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = "
            "supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl = unix://{sock}", "",
        ]
        for prog in progs:
            lines += [
                f"[program:{prog.name}]",
                f"command = {shlex.join(prog.argv)}",
                f"numprocs = {prog.numprocs}",
                "process_name = %(program_name)s_%(process_num)d",
                f"autostart = {'true' if prog.autostart else 'false'}",
                f"environment = {env}",
                "stderr_logfile = NONE",
            ]
            if prog.stdout:
                lines += [f"stdout_logfile = {prog.stdout}",
                          "stdout_logfile_maxbytes = 0",
                          "stdout_logfile_backups = 0"]
            else:
                lines += ["stdout_logfile = NONE"]
            lines += [*(f"{k} = {v}" for k, v in self.extra.items()), ""]
        self.config.write_text("\n".join(lines))

    def ctl(self, *args: str) -> list[str]:
        return [str(ENV_BIN / "supervisorctl"), "-c", str(self.config), *args]

    def launch(self) -> None:
        self.proc = spawn([str(ENV_BIN / "supervisord"), "-n", "-c",
                           str(self.config)], cwd=self.root,
                          log=self.root / "supervisord.out")
        self.pid = self.proc.pid
        _wait_answer(self, self.ctl("pid"))

    def start_argv(self, name: str) -> list[str]:
        return self.ctl("start", f"{name}:*")

    def stop_argv(self, name: str) -> list[str]:
        return self.ctl("stop", f"{name}:*")

    def _reap(self) -> None:
        if self.proc is not None:
            wait_child(self.proc, 5)
            self.proc = None



def _wait_answer(system: System, argv: list[str], timeout: float = 30.0) -> None:
    """Poll a cheap client command until the daemon answers it."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive(system.pid):
            raise BenchError(f"{system.name} exited during start-up; see "
                             f"{system.root}")
        result = run(argv, timeout=timeout, check=False)
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{system.name} did not answer within "
                             f"{timeout:g} s: {result.output.strip()[-300:]}")
        time.sleep(0.05)


SETTINGS = {
    "corral": "defaults (start_secs = 1, stop_timeout = 10, back-off 0.25 s "
    "doubling, start_retries = 5); `stdout = stderr = \"null\"`, except in "
    "*output*: `stdout` = a file on /dev/shm",
    "circus": "defaults (check_delay = 5, graceful_timeout = 30, max_retry = 5, "
    "no output stream), except: endpoints on ipc:// (Unix sockets) of its own; "
    "`multicast_endpoint` empty (no cluster discovery on UDP); in *output* "
    "`stdout_stream.class = FileStream`; *respawn* also runs a second circus "
    "with `check_delay = 0.1` (circus-tuned)",
    "supervisord": "defaults (startsecs = 1, startretries = 3, stopwaitsecs = "
    "10, stopasgroup = false, autorestart = unexpected), except: "
    "`stdout_logfile = stderr_logfile = NONE`; in *output* `stdout_logfile` = a "
    "file on /dev/shm with `stdout_logfile_maxbytes = 0` (the default 50 MB "
    "rotation would split the burst)",
}

KINDS: dict[str, type[System]] = {
    "corral": Corral,
    "circus": Circus,
    "supervisord": Supervisord,
}


def make(kind: str, root: Path, janitor: Janitor, key: str = "",
         **extra: str) -> System:
    system = KINDS[kind](root / (key or kind), janitor, extra=dict(extra))
    system.key = key
    return system


__all__ = ["CORRAL", "ENV_BIN", "KINDS", "SETTINGS", "Prog", "System", "make"]
