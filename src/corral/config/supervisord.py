"""supervisord `.conf` files, read the way supervisord 4 reads them.

A ``[program:x]`` keeps supervisord's defaults, which differ from
corral's: startsecs 1, startretries 3, stopwaitsecs 10, autorestart
``unexpected`` (corral's ``on-failure``), exitcodes 0, priority 999, the
environment of the daemon inherited, and both streams to ``AUTO`` files
rotated at 50 MB with 10 backups. Values go through supervisord's
``%(name)s`` expansion (``here``, ``program_name``, ``group_name``,
``host_node_name``, ``ENV_X``; in the per-process keys also
``process_num`` and ``numprocs``), ``%%`` is a literal percent sign, and
``[include] files`` globs are relative to the main file.

Where corral cannot do what supervisord did, it says so instead of
guessing:

- Every process of a program is named ``name.N``. ``process_name`` is
  still expanded for each process, checked for uniqueness as supervisord
  does, given to the process as ``SUPERVISOR_PROCESS_NAME``, and the
  mapping is listed by ``corral check``.
- Stop and kill always reach the whole process group, so ``stopasgroup``
  and ``killasgroup`` are accepted and noted, and ``false`` is noted as
  the difference it is.
- ``startsecs = 0`` tells supervisord that a start succeeds at once, so a
  program that crashes right away is restarted forever and never becomes
  FATAL. corral keeps ``start_secs = 0`` (the process is running at
  once) but its lifecycle still counts an exit within `QUICK_EXIT_SECS`
  as a failed start, so such a program backs off and becomes fatal after
  ``startretries`` tries; ``corral check`` warns about the difference.
- ``AUTO`` log files go to ``[supervisord] childlogdir`` when it is set,
  else to ``logs/`` in the state directory, as ``NAME-stdout.log`` and
  ``NAME-stderr.log``, with the same rotation.
- Groups order the start (by the group's priority, then the program's)
  but are not a name for commands: corral has programs only.
- Relative paths are relative to the file they are written in, and the
  default working directory is the main file's directory, since corral
  does not run from supervisord's working directory.

Options about supervisord's own plumbing (its HTTP servers, its log and
pid files, event listener buffers) are accepted and listed as notes. Any
other unknown key, event listeners and FastCGI programs are errors.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from corral.config.ini import Option, Section, parse_ini
from corral.config.model import (
    MAX_COMMAND,
    QUICK_EXIT_SECS,
    Config,
    Entry,
    ProgramConfig,
    build_program,
    display_template,
    literal,
)
from corral.config.toml_reader import _read_text
from corral.errors import ConfigError

# supervisord waits 1 s, 2 s, 3 s... between tries; corral doubles from 1 s.
BACKOFF_SECS = 1.0
DEFAULT_MAXBYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 10
DEFAULT_PRIORITY = 999

PROGRAM_KEYS = frozenset(
    {
        "command",
        "process_name",
        "numprocs",
        "numprocs_start",
        "priority",
        "autostart",
        "startsecs",
        "startretries",
        "autorestart",
        "exitcodes",
        "stopsignal",
        "stopwaitsecs",
        "stopasgroup",
        "killasgroup",
        "user",
        "redirect_stderr",
        "environment",
        "directory",
        "umask",
        "serverurl",
    }
    | {
        f"{stream}_{suffix}"
        for stream in ("stdout", "stderr")
        for suffix in (
            "logfile",
            "logfile_maxbytes",
            "logfile_backups",
            "capture_maxbytes",
            "events_enabled",
            "syslog",
        )
    }
)

# Keys of [program:x] that only feed supervisord's event system.
EVENT_KEYS = frozenset(
    {
        "serverurl",
        "stdout_capture_maxbytes",
        "stdout_events_enabled",
        "stderr_capture_maxbytes",
        "stderr_events_enabled",
    }
)

# Sections about supervisord itself, with the keys it knows in each and
# why none of them means anything to corral.
PLUMBING: dict[str, tuple[frozenset[str] | None, str]] = {
    "supervisord": (
        frozenset(
            {
                "logfile",
                "logfile_maxbytes",
                "logfile_backups",
                "loglevel",
                "pidfile",
                "umask",
                "nodaemon",
                "silent",
                "minfds",
                "minprocs",
                "nocleanup",
                "childlogdir",
                "user",
                "directory",
                "strip_ansi",
                "environment",
                "identifier",
            }
        ),
        "settings of the supervisord daemon itself; corral keeps its pid "
        "file, socket and log in its state directory",
    ),
    "unix_http_server": (
        frozenset({"file", "chmod", "chown", "username", "password"}),
        "corral's control socket is corral.sock in the state directory, "
        "mode 0600",
    ),
    "inet_http_server": (
        frozenset({"port", "username", "password"}),
        "corral listens on no TCP port",
    ),
    "supervisorctl": (
        frozenset({"serverurl", "username", "password", "prompt", "history_file"}),
        "the corral command replaces supervisorctl",
    ),
    "rpcinterface": (None, "corral serves its own HTTP/JSON API"),
    "ctlplugin": (None, "the corral command takes no plugins"),
}

# What supervisord calls corral's keys, for error messages.
SOURCE_KEYS = {
    "cmd": "command",
    "numprocs": "numprocs",
    "env": "environment",
    "cwd": "directory",
    "autostart": "autostart",
    "restart": "autorestart",
    "exit_codes": "exitcodes",
    "start_secs": "startsecs",
    "start_retries": "startretries",
    "stop_signal": "stopsignal",
    "stop_timeout": "stopwaitsecs",
    "stdout": "stdout_logfile",
    "stderr": "stderr_logfile",
}

# [supervisord] keys that do reach the programs.
APPLIED_SUPERVISORD_KEYS = frozenset({"environment", "childlogdir"})

_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh"})
_CONSOLE_FILES = frozenset(
    {"/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2",
     "/proc/self/fd/1", "/proc/self/fd/2"}
)
_SPEC = re.compile(r"([-#0 +]*)(\d*)(?:\.(\d+))?([a-zA-Z]?)")


def read_supervisord(path: str) -> Config:
    """Read a supervisord `.conf` file. Raises `ConfigError` at a line."""
    main = path
    base_dir = os.path.dirname(os.path.abspath(path))
    state_dir = os.path.join(base_dir, ".corral")
    ctx = _Context(main, state_dir)

    # The main file, then whatever its [include] section names.
    sections = _parse(main)
    include = next((s for s in sections if s.name == "include"), None)
    if include is not None:
        sections.remove(include)
        sections += _includes(include, ctx)

    # Sort the sections out by kind; [supervisord] first, it feeds the rest.
    programs: list[Section] = []
    groups: list[Section] = []
    by_name: dict[str, Section] = {}
    for section in sections:
        kind, colon, name = section.name.partition(":")
        _no_twice(section, by_name)
        if section.name == "supervisord":
            _supervisord_section(section, ctx)
        elif kind == "program" and colon:
            programs.append(section)
        elif kind == "group" and colon:
            groups.append(section)
        elif section.name in PLUMBING or (colon and kind in PLUMBING):
            _plumbing(section, kind, ctx)
        elif kind in ("eventlistener", "fcgi-program") and colon:
            raise ConfigError(
                f"[{section.name}]: supervisord {kind} sections are not "
                "supported by corral",
                file=section.file,
                line=section.line,
            )
        else:
            raise ConfigError(
                f"unknown section [{section.name}] (corral reads [program:x], "
                "[group:x], [include] and supervisord's own sections)",
                file=section.file,
                line=section.line,
            )

    # Groups decide the order; then each program on its own.
    names = {_program_name(s): s for s in programs}
    order = _groups(groups, names, ctx)
    built: list[tuple[tuple[int, str, int, str], ProgramConfig]] = []
    for name, section in names.items():
        group, group_priority = order.get(name, (name, None))
        prog, priority = _program(name, section, group, ctx)
        if group_priority is None:
            group_priority = priority
        rank = (group_priority, group, priority, name)
        built.append((rank, _with_priority(prog, group_priority)))

    # supervisord's start order: group priority, group, priority, name.
    built.sort(key=lambda item: item[0])
    return Config(
        path=os.path.abspath(main),
        state_dir=state_dir,
        programs={prog.name: prog for _, prog in built},
        notes=tuple(ctx.notes),
        format="supervisord",
    )


@dataclass
class _Context:
    """What the whole file shares: environment, notes, where logs go."""

    main: str
    state_dir: str
    env: dict[str, str] = field(default_factory=dict)
    env_line: int | None = None
    childlogdir: str | None = None
    notes: list[str] = field(default_factory=list)

    def names(self, here: str) -> dict[str, object]:
        """Expansion names known everywhere: here, host, ENV_X."""
        names: dict[str, object] = {
            f"ENV_{k}": v for k, v in os.environ.items()
        }
        names.update({f"ENV_{k}": v for k, v in self.env.items()})
        names["here"] = here
        names["host_node_name"] = platform.node()
        return names


def _parse(path: str) -> list[Section]:
    text = _read_text(path)
    return parse_ini(text, path, inline_comments=";#")


def _no_twice(section: Section, seen: dict[str, Section]) -> None:
    first = seen.setdefault(section.name, section)
    if first is not section:
        raise ConfigError(
            f"section [{section.name}] is defined again (first at "
            f"{first.file}:{first.line}); corral does not merge sections",
            file=section.file,
            line=section.line,
        )


def _includes(include: Section, ctx: _Context) -> list[Section]:
    """The sections of every file that [include] files= matches."""
    here = _here(include)
    option = include.options.get("files")
    for key, extra in include.options.items():
        if key != "files":
            raise _error(include, extra, "unknown key in [include]")
    if option is None:
        raise ConfigError(
            "[include] needs a files= setting",
            file=include.file,
            line=include.line,
            key="files",
        )

    # Each pattern is a glob relative to the main file; the main file
    # itself is skipped if a pattern matches it.
    names = ctx.names(here)
    value = _plain(_Expander(include, option, names).run(), include, option)
    found: list[Section] = []
    seen = {os.path.realpath(ctx.main)}
    for pattern in value.split():
        shown_dir = os.path.dirname(include.file)
        matches = sorted(glob.glob(os.path.join(shown_dir, pattern)))
        if not matches:
            ctx.notes.append(
                f"{include.file}:{option.line}: files: no file matches "
                f"{pattern!r}"
            )
        for match in matches:
            real = os.path.realpath(match)
            if real in seen or os.path.isdir(real):
                continue
            seen.add(real)
            found += _included(match)
    return found


def _here(section: Section) -> str:
    """%(here)s: the directory of the file a section is written in."""
    return os.path.dirname(os.path.abspath(section.file))


def _included(path: str) -> list[Section]:
    sections = _parse(path)
    for section in sections:
        if section.name == "include":
            raise ConfigError(
                "[include] in an included file: supervisord reads only the "
                "[include] of the main file; move it there",
                file=section.file,
                line=section.line,
            )
    return sections


def _supervisord_section(section: Section, ctx: _Context) -> None:
    """[supervisord]: its environment and childlogdir reach the programs."""
    known, why = PLUMBING["supervisord"]
    assert known is not None
    here = _here(section)
    ignored: list[str] = []
    for key, option in section.options.items():
        if key not in known:
            raise _error(section, option, "unknown key in [supervisord]")
        if key == "environment":
            text = _Expander(section, option, ctx.names(here)).run()
            pairs = parse_environment(text, section.file, option)
            ctx.env = {k: _plain(v, section, option) for k, v in pairs.items()}
            ctx.env_line = option.line
        elif key == "childlogdir":
            text = _Values(section, ctx.names(here)).text(key) or ""
            ctx.childlogdir = os.path.normpath(
                os.path.join(here, os.path.expanduser(text))
            )
        else:
            ignored.append(key)
    if ignored:
        ctx.notes.append(
            f"{section.file}:{section.line}: [supervisord] "
            f"{', '.join(ignored)}: not applicable ({why})"
        )


def _plumbing(section: Section, kind: str, ctx: _Context) -> None:
    known, why = PLUMBING[section.name if section.name in PLUMBING else kind]
    for key, option in section.options.items():
        if known is not None and key not in known:
            raise _error(section, option, f"unknown key in [{section.name}]")
    keys = ", ".join(section.options) or "the section"
    ctx.notes.append(
        f"{section.file}:{section.line}: [{section.name}] {keys}: "
        f"not applicable ({why})"
    )


def _program_name(section: Section) -> str:
    name = section.name.partition(":")[2].strip()
    if not name or any(c in name for c in " :/"):
        raise ConfigError(
            f"invalid program name {name!r}", file=section.file, line=section.line
        )
    return name


def _groups(
    groups: list[Section], programs: Mapping[str, Section], ctx: _Context
) -> dict[str, tuple[str, int]]:
    """Map each grouped program to its group and the group's priority."""
    member: dict[str, tuple[str, int]] = {}
    for section in groups:
        group = _program_name(section)
        here = _here(section)
        for key, extra in section.options.items():
            if key not in ("programs", "priority"):
                raise _error(section, extra, f"unknown key in [{section.name}]")
        option = section.options.get("programs")
        if option is None:
            raise ConfigError(
                f"[{section.name}] needs a programs= setting",
                file=section.file,
                line=section.line,
                key="programs",
            )
        values = _Values(section, ctx.names(here))
        priority = values.integer("priority", DEFAULT_PRIORITY, -999_999,
                                  999_999)
        text = values.text("programs") or ""
        names = [n.strip() for n in text.split(",") if n.strip()]
        for name in names:
            if name not in programs:
                raise _error(
                    section, option, f"no [program:{name}] for group {group!r}"
                )
            if name in member:
                raise _error(
                    section, option,
                    f"program {name!r} is already in group {member[name][0]!r}",
                )
            member[name] = (group, priority)
        ctx.notes.append(
            f"{section.file}:{section.line}: [{section.name}]: corral has no "
            f"groups; its programs ({', '.join(names)}) start in the group's "
            f"order (priority {priority}) and go by their own names"
        )
    return member


def _with_priority(prog: ProgramConfig, priority: int) -> ProgramConfig:
    return replace(prog, priority=priority)


# ---------------------------------------------------------------------------
# One [program:x]


@dataclass
class _Program:
    """What reading one [program:x] section collects."""

    name: str
    section: Section
    entries: dict[str, Entry] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def option(self, key: str) -> Option | None:
        return self.section.options.get(key)

    def where(self, option: Option | None) -> str:
        line = option.line if option is not None else self.section.line
        return f"{self.section.file}:{line}"

    def note(self, option: Option | None, text: str) -> None:
        self.notes.append(f"{self.where(option)}: {text}")

    def warn(self, option: Option | None, text: str) -> None:
        self.warnings.append(f"{self.where(option)}: {self.name}: {text}")


def _program(
    name: str, section: Section, group: str, ctx: _Context
) -> tuple[ProgramConfig, int]:
    """Translate one [program:x] into a `ProgramConfig` and its priority."""
    p = _Program(name, section)
    for key, option in section.options.items():
        if key not in PROGRAM_KEYS:
            raise _error(section, option, f"unknown key in [{section.name}]")
    command = section.options.get("command")
    if command is None:
        raise ConfigError(
            f"missing required key in [{section.name}]",
            file=section.file,
            line=section.line,
            key="command",
        )

    # Names every key may use; the per-process keys also get process_num.
    here = _here(section)
    names = ctx.names(here)
    names.update(program_name=name, group_name=group)
    value = _Values(section, dict(names))
    numprocs = value.integer("numprocs", 1, 0, 10_000)
    num_start = value.integer("numprocs_start", 0, 0, 1_000_000)
    names.update(process_num=_FIELD, numprocs=numprocs)
    p.entries["numprocs"] = Entry(numprocs, _line(p, "numprocs"))

    # The environment: supervisord's own variables, then [supervisord]
    # environment=, then the program's. Its values may name the process.
    used: set[str] = set()
    own: dict[str, str] = {}
    env_option = p.option("environment")
    if env_option is not None:
        expander = _Expander(section, env_option, names)
        own = parse_environment(expander.run(), section.file, env_option)
        used |= expander.used
    names.update({f"ENV_{k}": _Template(v) for k, v in own.items()})
    process_name = _process_names(p, names, numprocs, num_start, used)
    env = {
        "SUPERVISOR_ENABLED": "1",
        "SUPERVISOR_PROCESS_NAME": process_name,
        "SUPERVISOR_GROUP_NAME": literal(group),
    }
    env.update({k: literal(v) for k, v in ctx.env.items()})
    env.update(own)

    # The command, split later as supervisord splits it: no shell.
    expander = _Expander(section, command, names)
    command_t = expander.run()
    used |= expander.used
    template = "process_num" in used
    env_line = (env_option or command).line
    if template:
        p.entries["cmd"] = Entry(command_t, command.line)
        p.entries["env"] = Entry(env, env_line)
    else:
        p.entries["cmd"] = Entry(_plain(command_t, section, command),
                                 command.line)
        where = env_option or command
        plain = {k: _plain(v, section, where) for k, v in env.items()}
        p.entries["env"] = Entry(plain, env_line)

    # Where, as whom, and the rest of the behaviour.
    # The default working directory is the main file's, for every program.
    constant = _Constant(p, names, numprocs, num_start)
    directory = constant.get("directory")
    main_dir = os.path.dirname(os.path.abspath(ctx.main))
    p.entries["cwd"] = Entry(main_dir if directory is None else directory,
                             _line(p, "directory"))
    for key in ("user", "umask"):
        text = value.text(key)
        if text is not None:
            p.entries[key] = Entry(text, _line(p, key))
    priority = value.integer("priority", DEFAULT_PRIORITY, -999_999, 999_999)
    _policy(p, value)
    _stop(p, value, _display(command_t))
    _streams(p, value, constant, ctx)
    _other_keys(p, value)

    for target, entry in p.entries.items():
        source = SOURCE_KEYS.get(target)
        if source is not None and entry.key is None:
            p.entries[target] = replace(entry, key=source)
    prog = build_program(
        name,
        p.entries,
        file=section.file,
        line=section.line,
        base_dir=here,
        notes=tuple(p.notes),
        warnings=tuple(p.warnings),
        template=template,
        num_start=num_start,
        command_text=" ".join(_display(command_t).split("\n")),
    )
    return prog, priority


def _line(p: _Program, key: str) -> int:
    option = p.option(key)
    return option.line if option is not None else p.section.line


def _process_names(
    p: _Program,
    names: dict[str, object],
    numprocs: int,
    num_start: int,
    used: set[str],
) -> str:
    """Expand process_name for each process; return it as a template.

    supervisord requires one name per process; corral names them name.N
    and lists the mapping as a note.
    """
    option = p.option("process_name")
    if option is None:
        template = literal(p.name)
    else:
        expander = _Expander(p.section, option, names)
        template = expander.run()
        used |= expander.used
    if numprocs > 1 and "{process_num" not in template:
        raise ConfigError(
            "must contain %(process_num)d when numprocs > 1, so that each "
            "process has its own name",
            file=p.section.file,
            line=_line(p, "process_name"),
            key="process_name",
        )

    # Each name must be valid and unique, as supervisord checks.
    seen: dict[str, int] = {}
    for index in range(numprocs):
        name = _render(template, num_start + index, option, p.section)
        if not name or any(c in name for c in " :/"):
            raise ConfigError(
                f"invalid process name {name!r} (no spaces, ':' or '/')",
                file=p.section.file,
                line=_line(p, "process_name"),
                key="process_name",
            )
        if name in seen:
            raise ConfigError(
                f"gives the name {name!r} to processes {seen[name]} and "
                f"{index}; include %(process_num)d",
                file=p.section.file,
                line=_line(p, "process_name"),
                key="process_name",
            )
        seen[name] = index

    # The mapping, as a note, when it is not the obvious one.
    if option is not None or numprocs > 1:
        shown = [f"{n} → {p.name}.{i}" for n, i in list(seen.items())[:3]]
        if numprocs > 3:
            shown.append(f"… ({numprocs} processes)")
        p.note(option, "process_name: corral names processes NAME.N: "
               + ", ".join(shown))
    return template


def _policy(p: _Program, value: _Values) -> None:
    """When to start and restart, with supervisord's defaults."""
    p.entries["autostart"] = Entry(value.boolean("autostart", True),
                                   _line(p, "autostart"))
    text = (value.text("autorestart") or "unexpected").lower()
    if text in TRUE:
        restart = "always"
    elif text in FALSE:
        restart = "never"
    elif text == "unexpected":
        restart = "on-failure"
    else:
        raise _error(p.section, p.option("autorestart"),
                     f"expected true, false or unexpected, got {text!r}")
    p.entries["restart"] = Entry(restart, _line(p, "autorestart"))

    codes = value.text("exitcodes")
    if codes is not None:
        p.entries["exit_codes"] = Entry(
            _exit_codes(p, codes), _line(p, "exitcodes")
        )
    retries = value.integer("startretries", 3, 0, 1_000_000)
    p.entries["start_retries"] = Entry(retries, _line(p, "startretries"))
    p.entries["backoff"] = Entry(BACKOFF_SECS, p.section.line)

    # startsecs = 0 makes every crash a success in supervisord only.
    secs = value.integer("startsecs", 1, 0, 86_400)
    if secs == 0 and restart != "never":
        p.warn(p.option("startsecs"),
               f"startsecs=0: the process counts as running at once, but "
               f"corral still counts an exit within {QUICK_EXIT_SECS:g} s as "
               "a failed start, so a program that keeps crashing backs off "
               f"and becomes fatal after startretries={retries} tries "
               "(supervisord would restart it forever)")
    p.entries["start_secs"] = Entry(secs, _line(p, "startsecs"))


def _exit_codes(p: _Program, text: str) -> list[int]:
    codes = []
    for item in text.split(","):
        try:
            code = int(item)
        except ValueError:
            code = -1
        if not 0 <= code <= 255:
            raise _error(p.section, p.option("exitcodes"),
                         f"expected a list of exit codes 0..255, got {text!r}")
        codes.append(code)
    return codes


def _stop(p: _Program, value: _Values, command: str) -> None:
    """How to stop: the signal, the wait, and who receives them."""
    signal = value.text("stopsignal")
    if signal is not None:
        p.entries["stop_signal"] = Entry(signal, _line(p, "stopsignal"))
    wait = value.integer("stopwaitsecs", 10, 0, 86_400)
    p.entries["stop_timeout"] = Entry(wait, _line(p, "stopwaitsecs"))

    # corral always signals the whole group; say so where it differs.
    stop = value.boolean("stopasgroup", False)
    kill = value.boolean("killasgroup", stop)
    if stop and not kill:
        raise _error(p.section, p.option("killasgroup"),
                     "cannot be false when stopasgroup is true")
    for key, flag in (("stopasgroup", stop), ("killasgroup", kill)):
        option = p.option(key)
        if option is None:
            continue
        if flag:
            p.note(option, f"{key}: corral always signals the whole group")
        else:
            p.note(option, f"{key}=false: supervisord would signal only the "
                   "main process; corral still signals its whole group")
    if not stop and _is_shell_wrapper(command):
        p.warn(p.option("command"),
               "a shell runs the program here and stopasgroup is false: "
               "supervisord would have signalled only the shell; corral "
               "signals the whole group, so the program itself gets the "
               "stop signal")


def _is_shell_wrapper(command: str) -> bool:
    if len(command) > MAX_COMMAND:
        return False  # refused as too long where the command is read
    try:
        argv = shlex.split(command)
    except ValueError:
        return False
    return (
        len(argv) > 1
        and os.path.basename(argv[0]) in _SHELLS
        and any(a.startswith("-") and "c" in a for a in argv[1:2])
    )


def _streams(p: _Program, value: _Values, constant: _Constant,
             ctx: _Context) -> None:
    """stdout and stderr: a file, AUTO, NONE or the console."""
    auto: list[tuple[str, Option | None]] = []  # what AUTO means, and where
    for stream in ("stdout", "stderr"):
        key = f"{stream}_logfile"
        option = p.option(key)
        path = constant.get(key)
        max_bytes = value.byte_size(f"{key}_maxbytes", DEFAULT_MAXBYTES)
        backups = value.integer(f"{key}_backups", DEFAULT_BACKUPS, 0, 1_000_000)
        if value.boolean(f"{stream}_syslog", False):
            raise _error(p.section, p.option(f"{stream}_syslog"),
                         "logging to syslog is not supported by corral")

        # What the name means: supervisord's words first, then a file.
        word = (path or "auto").lower()
        if word == "auto":
            path = os.path.join(ctx.childlogdir or
                                os.path.join(ctx.state_dir, "logs"),
                                f"{p.name}-{stream}.log")
            auto.append((f"{key} AUTO: {path}", option))
        if word in ("none", "off") or path == "/dev/null":
            target: Any = "null"
        elif path in _CONSOLE_FILES:
            target = "console"
        elif word == "syslog":
            raise _error(p.section, option,
                         "logging to syslog is not supported by corral")
        else:
            assert path is not None
            target = {"file": path, "max_bytes": max_bytes, "backups": backups}
        p.entries[stream] = Entry(target, _line(p, key))

    # redirect_stderr merges stderr into stdout; its file is then unused.
    if value.boolean("redirect_stderr", False):
        p.entries["stderr"] = Entry("stdout", _line(p, "redirect_stderr"))
        auto = [a for a in auto if not a[0].startswith("stderr")]
        if p.option("stderr_logfile") is not None:
            p.note(p.option("stderr_logfile"), "stderr_logfile: unused, "
                   "redirect_stderr sends stderr to stdout (as supervisord)")
    if auto:
        written = [option for _, option in auto if option is not None]
        p.note(written[0] if written else None, "; ".join(text for text, _ in auto))


def _other_keys(p: _Program, value: _Values) -> None:
    """Keys that only feed supervisord's event listeners."""
    present = [k for k in sorted(EVENT_KEYS) if p.option(k) is not None]
    for key in present:
        value.text(key)
    if present:
        p.note(p.option(present[0]), f"{', '.join(present)}: not applicable "
               "(supervisord event listeners)")


# ---------------------------------------------------------------------------
# Values: expansion, conversion, per-process constants


TRUE = frozenset({"1", "yes", "true", "on"})
FALSE = frozenset({"0", "no", "false", "off"})


class _Field:
    """The process_num field, kept as a template until a process starts."""

    def __repr__(self) -> str:
        return "process_num"


_FIELD = _Field()


@dataclass(frozen=True)
class _Template:
    """A value already in template form (braces doubled, fields kept)."""

    text: str


class _Expander:
    """supervisord's %(name)s expansion of one option, into template form.

    The result has literal braces doubled and process_num kept as a
    str.format field; `_plain` and `_render` turn it into text.
    """

    def __init__(self, section: Section, option: Option,
                 names: Mapping[str, object]) -> None:
        self.section = section
        self.option = option
        self.names = names
        self.used: set[str] = set()

    def error(self, message: str) -> ConfigError:
        return _error(self.section, self.option, message)

    def run(self) -> str:
        text = self.option.value
        out: list[str] = []
        i = 0
        while True:
            j = text.find("%", i)
            if j < 0:
                out.append(literal(text[i:]))
                return "".join(out)
            out.append(literal(text[i:j]))
            if text.startswith("%%", j):
                out.append("%")
                i = j + 2
                continue
            if not text.startswith("%(", j) or text.find(")", j) < 0:
                raise self.error(
                    f"a lone '%' at column {j + 1} of {text!r}: write %% for "
                    "a percent sign, %(name)s for a value"
                )
            end = text.index(")", j)
            name = text[j + 2 : end]
            spec = _SPEC.match(text, end + 1)
            assert spec is not None
            if not spec.group(4):
                raise self.error(f"%({name}) needs a conversion such as "
                                 f"%({name})s")
            out.append(self.field(name, spec))
            i = spec.end()

    def field(self, name: str, spec: re.Match[str]) -> str:
        if name not in self.names:
            raise self.error(self.unknown(name))
        self.used.add(name)
        value = self.names[name]
        flags, width, precision, conv = spec.groups()
        if value is _FIELD:
            return _format_field(self, name, flags, width, precision, conv)
        if isinstance(value, _Template):
            if spec.group(0) != "s":
                raise self.error(f"%({name}) holds a per-process value; use "
                                 f"%({name})s")
            return value.text
        try:
            return literal(f"%{spec.group(0)}" % (value,))
        except (TypeError, ValueError, OverflowError) as exc:
            raise self.error(f"cannot format %({name}){spec.group(0)}: "
                             f"{exc}") from None

    def unknown(self, name: str) -> str:
        if name.startswith("ENV_"):
            return (f"%({name})s: {name[4:]} is not set in corral's "
                    "environment nor in [supervisord] environment")
        if name in ("process_num", "numprocs"):
            return (f"%({name}) is not available in {self.option.key}; only "
                    "command, environment, directory, process_name and the "
                    "log file keys are expanded per process")
        known = sorted(n for n in self.names if not n.startswith("ENV_"))
        return (f"%({name}): unknown name (known: {', '.join(known)} and "
                "ENV_ followed by a variable name)")


def _format_field(expander: _Expander, name: str, flags: str, width: str,
                  precision: str | None, conv: str) -> str:
    """Turn %(process_num)02d into {process_num:02d}."""
    if " " in flags or precision is not None or conv not in "disxXor":
        raise expander.error(f"%({name}){flags}{width}{conv}: use d or s, with "
                             "an optional width and '0' or '-' flag")
    spec = ""
    if "-" in flags:
        spec += "<"
    elif conv in "sr" and width:
        spec += ">"
    spec += "+" if "+" in flags else ""
    spec += "#" if "#" in flags else ""
    spec += "0" if "0" in flags and "-" not in flags else ""
    spec += width
    spec += conv if conv in "xXo" else "d" if conv in "di" and spec else ""
    return f"{{{name}:{spec}}}" if spec else f"{{{name}}}"


def _plain(template: str, section: Section, option: Option) -> str:
    """Template form to text, for keys that are the same for every process."""
    try:
        return template.format_map({})
    except (KeyError, ValueError, IndexError):
        raise _error(section, option, "%(process_num) is not available in "
                     "this key") from None


def _render(template: str, process_num: int, option: Option | None,
            section: Section) -> str:
    try:
        return template.format_map({"process_num": process_num})
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"cannot expand the value for process_num={process_num}: {exc}",
            file=section.file,
            line=option.line if option is not None else section.line,
            key=option.key if option is not None else None,
        ) from None


def _display(template: str) -> str:
    """The command as `check` shows it: fields kept, braces single."""
    return display_template(template)


class _Values:
    """Typed, expanded access to the keys of one section."""

    def __init__(self, section: Section, names: Mapping[str, object]) -> None:
        self.section = section
        self.names = names

    def text(self, key: str) -> str | None:
        option = self.section.options.get(key)
        if option is None:
            return None
        template = _Expander(self.section, option, self.names).run()
        try:
            return template.format_map({})
        except (KeyError, ValueError, IndexError):
            raise _error(self.section, option, "%(process_num) is not "
                         "available in this key") from None

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        text = self.text(key)
        if text is None:
            return default
        return _integer(self.section, self.section.options[key], text, low, high)

    def boolean(self, key: str, default: bool) -> bool:
        text = self.text(key)
        if text is None:
            return default
        word = text.strip().lower()
        if word in TRUE:
            return True
        if word in FALSE:
            return False
        raise _error(self.section, self.section.options[key],
                     f"expected true or false, got {text!r}")

    def byte_size(self, key: str, default: int) -> int:
        """A size in bytes, with supervisord's KB, MB and GB suffixes."""
        text = self.text(key)
        if text is None:
            return default
        word = text.strip().lower()
        scale = 1
        for suffix, factor in (("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30)):
            if word.endswith(suffix):
                word, scale = word[:-2], factor
                break
        try:
            size = int(word) * scale
        except ValueError:
            size = -1
        if size < 0:
            raise _error(self.section, self.section.options[key],
                         f"expected a size such as 50MB, 1GB or 0, got {text!r}")
        return size


class _Constant:
    """A per-process key that corral holds once per program.

    directory and the log files may name process_num; that is fine as
    long as every process gets the same value.
    """

    def __init__(self, p: _Program, names: Mapping[str, object],
                 numprocs: int, num_start: int) -> None:
        self.p = p
        self.names = names
        self.numbers = range(num_start, num_start + max(numprocs, 1))

    def get(self, key: str) -> str | None:
        option = self.p.option(key)
        if option is None:
            return None
        template = _Expander(self.p.section, option, self.names).run()
        values = {_render(template, n, option, self.p.section)
                  for n in self.numbers}
        if len(values) > 1:
            shown = ", ".join(sorted(values)[:2])
            raise _error(self.p.section, option,
                         f"differs between processes ({shown}, ...); corral "
                         "has one value per program, for every process")
        return values.pop()


def _integer(section: Section, option: Option | None, text: str,
             low: int, high: int) -> int:
    try:
        number = int(text.strip())
    except ValueError:
        raise _error(section, option, f"expected an integer, got {text!r}") \
            from None
    if not low <= number <= high:
        raise _error(section, option, f"expected {low}..{high}, got {number}")
    return number


def _error(section: Section, option: Option | None, message: str) -> ConfigError:
    if option is None:
        return ConfigError(message, file=section.file, line=section.line)
    return ConfigError(message, file=section.file, line=option.line,
                       key=option.key)


# ---------------------------------------------------------------------------
# environment=KEY="value",KEY2=value2


_KEY = re.compile(r"[^\s=,'\"{}]+")


def parse_environment(text: str, file: str, option: Option) -> dict[str, str]:
    """Split supervisord's ``KEY="val,ue",K2=v2`` into a mapping.

    A value in single or double quotes may hold commas, spaces and
    newlines; a bare value runs to the next comma and may not hold
    whitespace, which catches a forgotten comma. Raises `ConfigError`.
    """
    pairs: dict[str, str] = {}
    i, end = 0, len(text)

    def fail(message: str, at: int) -> ConfigError:
        line = option.value_line + text.count("\n", 0, at)
        return ConfigError(message, file=file, line=line, key=option.key)

    while True:
        # Skip blanks; stop at the end.
        while i < end and text[i].isspace():
            i += 1
        if i >= end:
            return pairs

        # KEY =
        match = _KEY.match(text, i)
        if match is None:
            shown = text[i : i + 20].replace("{{", "{").replace("}}", "}")
            raise fail(f"expected KEY=value at {shown!r}", i)
        key = match.group(0)
        i = match.end()
        while i < end and text[i] in " \t":
            i += 1
        if i >= end or text[i] != "=":
            raise fail(f"expected '=' after {key!r}", i)
        i += 1
        while i < end and text[i] in " \t":
            i += 1

        # value: quoted, or bare up to the next comma.
        if i < end and text[i] in "'\"":
            quote = text[i]
            close = text.find(quote, i + 1)
            if close < 0:
                raise fail(f"{key}: the value has no closing {quote}", i)
            value = text[i + 1 : close]
            i = close + 1
        else:
            comma = text.find(",", i)
            stop = end if comma < 0 else comma
            value = text[i:stop].strip()
            if any(c.isspace() for c in value):
                raise fail(f"{key}: a value with spaces needs quotes, or a "
                           "comma is missing before the next KEY=", i)
            i = stop
        if key in pairs:
            raise fail(f"{key} is set twice", i)
        pairs[key] = value

        # Then a comma or the end.
        after = i
        while i < end and text[i].isspace():
            i += 1
        if i < end:
            if text[i] != ",":
                raise fail(f"expected ',' after the value of {key}", after)
            i += 1
