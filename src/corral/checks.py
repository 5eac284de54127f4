"""`corral check`: what a config resolves to, and what looks risky in it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

from corral.config.model import Config, ProgramConfig
from corral.signals import signal_name


def describe(config: Config) -> Iterator[str]:
    """The resolved programs, one block each."""
    count = len(config.programs)
    yield f"{config.path}: {count} program(s), state in {config.state_dir}"
    for prog in config.ordered():
        yield f"[{prog.name}]"
        yield f"  command      {prog.command_text}" + ("  (via /bin/sh -c)"
                                                       if prog.shell else "")
        yield f"  processes    {prog.numprocs}" + ("" if prog.autostart
                                                   else " (not started by 'up')")
        yield f"  cwd          {prog.cwd}"
        yield f"  restart      {prog.restart}, give up after {prog.start_retries} " \
              f"quick failures (start_secs {prog.start_secs:g})"
        yield f"  stop         {signal_name(prog.stop_signal)} to the whole group, " \
              f"SIGKILL after {prog.stop_timeout:g} s"
        yield f"  stdout       {prog.stdout.describe()}"
        yield f"  stderr       {prog.stderr.describe()}"
        if prog.env:
            yield "  env          " + " ".join(f"{k}={v}" for k, v in prog.env)
        if prog.user or prog.group:
            yield f"  user         {prog.user or '-'}:{prog.group or '-'}"
        if prog.depends_on:
            yield f"  after        {', '.join(prog.depends_on)}"
    for note in config.notes:
        yield f"note: {note}"
    for prog in config.programs.values():
        for note in prog.notes:
            yield f"note: {note}"


def warnings(config: Config) -> Iterator[str]:
    """Valid but risky settings."""
    for prog in config.programs.values():
        yield from _program_warnings(prog)


def _program_warnings(prog: ProgramConfig) -> Iterator[str]:
    where = f"{prog.file}:{prog.line or 1}: {prog.name}"
    if prog.stop_timeout == 0:
        yield f"{where}: stop_timeout is 0: every stop is an immediate SIGKILL"
    if not prog.shell:
        exe = prog.argv[0]
        found = (os.access(os.path.join(prog.cwd, exe), os.X_OK) if "/" in exe
                 else shutil.which(exe) is not None)
        if not found:
            yield f"{where}: {exe} is not an executable file (yet)"
    if not os.path.isdir(prog.cwd):
        yield f"{where}: working directory {prog.cwd} does not exist (yet)"
