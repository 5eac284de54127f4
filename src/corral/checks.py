"""`corral check`: what a config resolves to, and what looks risky in it.

`describe` prints every program as corral will run it, whatever format it
came from, so a user switching from circus, supervisord or a Procfile
sees the translation before anything runs: the command of each process
when it differs per process, the defaults of the original tool that
were kept, and the notes of the reader about options that mean nothing
to corral. `warnings` lists settings that are valid but likely to
surprise; they never make `check` fail.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
from collections.abc import Iterator

from corral.config.model import Config, ProgramConfig, StreamConfig
from corral.signals import signal_name

# Per-process lines shown for a program whose command or environment
# differs between its processes.
SHOWN_PROCESSES = 3


def describe(config: Config) -> Iterator[str]:
    """The resolved programs, one block each, then the reader's notes."""
    count = len(config.programs)
    yield (f"{config.path} ({config.format}): {count} program(s), "
           f"state in {config.state_dir}")
    for prog in config.ordered():
        yield from _program(prog)
    for note in config.notes:
        yield f"note: {note}"
    for prog in config.programs.values():
        for note in prog.notes:
            yield f"note: {note}"


def _program(prog: ProgramConfig) -> Iterator[str]:
    shell = "  (via /bin/sh -c)" if prog.shell else ""
    yield f"[{prog.name}]"
    yield f"  command      {prog.command_text}{shell}"
    started = "" if prog.autostart else " (not started by 'up')"
    yield f"  processes    {prog.numprocs}{started}"
    yield from _per_process(prog)
    yield f"  cwd          {prog.cwd}"

    # When it comes back, and how it is stopped.
    retries = ("retries forever" if prog.start_retries < 0 else
               f"fatal after {prog.start_retries + 1} failed starts in a row")
    codes = ",".join(str(c) for c in sorted(prog.exit_codes))
    expected = f", exit codes {codes} expected" if prog.restart == "on-failure" \
        else ""
    yield (f"  restart      {prog.restart}{expected}; a start counts after "
           f"{prog.start_secs:g} s, {retries}, back-off {prog.backoff:g} s "
           f"doubling to {prog.backoff_max:g} s")
    yield (f"  stop         {signal_name(prog.stop_signal)} to the whole group, "
           f"SIGKILL after {prog.stop_timeout:g} s")

    # Where output goes, and the environment.
    yield f"  stdout       {_stream(prog.stdout)}"
    yield f"  stderr       {_stream(prog.stderr)}"
    base = ("corral's environment" if prog.inherit_env
            else "an empty environment")
    added = " ".join(f"{k}={_quote(v)}" for k, v in _shown_env(prog))
    yield f"  env          {base}" + (f" + {added}" if added else "")
    if prog.user or prog.group or prog.umask is not None:
        umask = "-" if prog.umask is None else f"{prog.umask:03o}"
        yield (f"  user         {prog.user or '-'}:{prog.group or '-'}, "
               f"umask {umask}")
    if prog.depends_on:
        yield f"  after        {', '.join(prog.depends_on)}"


def _per_process(prog: ProgramConfig) -> Iterator[str]:
    """The command and variables of the first processes, if they differ."""
    if not prog.template or prog.numprocs == 0:
        return
    varying = [k for k, v in prog.env if v != _render(v)]
    for index in range(min(prog.numprocs, SHOWN_PROCESSES)):
        argv = prog.argv_for(index)
        env = dict(prog.env_for(index))
        shown = " ".join(f"{k}={_quote(env[k])}" for k in varying)
        command = argv[2] if prog.shell else shlex.join(argv)
        label = f"{prog.name}.{index}"
        yield f"    {label:<12} {command}" + (f"  [{shown}]" if shown else "")
    if prog.numprocs > SHOWN_PROCESSES:
        yield f"    … and {prog.numprocs - SHOWN_PROCESSES} more"


def _quote(value: str) -> str:
    """A value as one readable token, on one line."""
    if all(c.isprintable() for c in value):
        return shlex.quote(value)
    return repr(value)


def _render(template: str) -> str:
    """A template with no fields filled in; differs if it has fields."""
    try:
        return template.format_map({})
    except (KeyError, ValueError, IndexError):
        return "\0"


def _shown_env(prog: ProgramConfig) -> list[tuple[str, str]]:
    if not prog.template:
        return list(prog.env)
    from corral.config.model import display_template

    return [(k, display_template(v)) for k, v in prog.env]


def _stream(stream: StreamConfig) -> str:
    if stream.kind == "stdout":
        return "merged into stdout"
    if stream.kind == "null":
        return "discarded"
    stamps = f", time-stamped ({stream.timestamps})" if stream.timestamps else ""
    if stream.kind == "console":
        return f"console (corral's own output){stamps}"
    return stream.describe() + stamps


def warnings(config: Config) -> Iterator[str]:
    """Valid but risky settings, as ``FILE:LINE: name: what``."""
    yield from config.warnings
    if not config.programs:
        yield f"{config.path}:1: no programs: corral would start nothing"
    for prog in config.programs.values():
        yield from prog.warnings
        yield from _program_warnings(prog)


def _program_warnings(prog: ProgramConfig) -> Iterator[str]:
    where = f"{prog.file}:{prog.line or 1}: {prog.name}"

    # Stopping that cannot be graceful.
    if prog.stop_timeout == 0:
        yield f"{where}: stop_timeout is 0: every stop is an immediate SIGKILL"
    if prog.stop_signal == signal.SIGKILL:
        yield f"{where}: the stop signal is SIGKILL: no chance to finish"

    # What cannot start as written.
    if not prog.shell and prog.numprocs:
        exe = prog.argv_for(0)[0]
        found = (os.access(os.path.join(prog.cwd, exe), os.X_OK) if "/" in exe
                 else shutil.which(exe) is not None)
        if not found:
            yield f"{where}: {exe} is not an executable file (yet)"
    if not os.path.isdir(prog.cwd):
        yield f"{where}: working directory {prog.cwd} does not exist (yet)"

    # Output files that are not what they seem.
    for name, stream in (("stdout", prog.stdout), ("stderr", prog.stderr)):
        if stream.kind != "file" or not stream.path:
            continue
        if os.path.isdir(stream.path):
            yield f"{where}: {name} {stream.path} is a directory, not a file"
        elif os.path.basename(stream.path) in ("stdout", "stderr"):
            yield (f"{where}: {name} goes to a file named "
                   f"{os.path.basename(stream.path)}; to merge stderr into "
                   "stdout, write stderr = \"stdout\"")
    yield from _user_warnings(prog, where)


def _user_warnings(prog: ProgramConfig, where: str) -> Iterator[str]:
    if prog.user is None:
        return
    try:
        entry = (pwd.getpwuid(int(prog.user)) if prog.user.isdigit()
                 else pwd.getpwnam(prog.user))
    except (KeyError, OverflowError):
        yield f"{where}: there is no user {prog.user!r} on this system"
        return
    if os.geteuid() != 0 and entry.pw_uid != os.geteuid():
        yield (f"{where}: runs as {prog.user}, which needs corral to run as "
               "root")
