"""The validated form of a config, shared by every reader.

Readers (TOML, circus `.ini`, supervisord `.conf`, Procfile) only translate
their syntax into *entries*: canonical keys with a value and the line they
came from. `build_program` is the single place where values are checked and
defaults applied, so every format refuses the same bad input with the same
message shape: ``FILE:LINE: key: expected …, got …``.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from corral.errors import ConfigError, UsageError
from corral.signals import parse_signal

RestartPolicy = Literal["always", "on-failure", "never"]
StreamKind = Literal["file", "console", "null", "stdout"]

RESTART_POLICIES: tuple[RestartPolicy, ...] = ("always", "on-failure", "never")
# The lifecycle counts an exit sooner than this as a failed start, whatever
# start_secs says, so that a crash loop always backs off and ends fatal.
QUICK_EXIT_SECS = 1.0
MAX_PROCS = 10_000


@dataclass(frozen=True)
class Entry:
    """One value as a reader found it, with the line it sits on.

    KEY is the name the user wrote, when the format calls it something
    else (supervisord's ``command`` for ``cmd``); errors name it.
    """

    value: Any
    line: int | None = None
    # For a table value: the line of each of its keys, when known.
    lines: Mapping[str, int] | None = None
    key: str | None = None


@dataclass(frozen=True)
class StreamConfig:
    """Where one output stream of a program goes."""

    kind: StreamKind
    path: str | None = None
    max_bytes: int = 0
    backups: int = 0
    timestamps: str | None = None

    def describe(self) -> str:
        if self.kind == "file":
            rotation = ""
            if self.max_bytes:
                rotation = f" (rotate at {self.max_bytes} bytes, keep {self.backups})"
            return f"{self.path}{rotation}"
        return self.kind


DEFAULT_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%f%z"


@dataclass(frozen=True)
class ProgramConfig:
    """Everything corral needs to run one program, already validated."""

    name: str
    argv: tuple[str, ...]
    shell: bool = False
    command_text: str = ""
    numprocs: int = 1
    autostart: bool = True
    restart: RestartPolicy = "always"
    exit_codes: frozenset[int] = frozenset({0})
    start_secs: float = 1.0
    start_retries: int = 5
    backoff: float = 0.25
    backoff_max: float = 30.0
    stop_signal: int = 15
    stop_timeout: float = 10.0
    cwd: str = "."
    env: tuple[tuple[str, str], ...] = ()
    inherit_env: bool = True
    user: str | None = None
    group: str | None = None
    umask: int | None = None
    stdout: StreamConfig = StreamConfig("console")
    stderr: StreamConfig = StreamConfig("console")
    priority: int = 0
    depends_on: tuple[str, ...] = ()
    critical: bool = False
    # Where the program was defined: for messages, not part of its meaning.
    file: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)
    # Valid but risky settings a reader noticed, shown by `corral check`.
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # True when argv and env values hold per-process fields in str.format
    # syntax ({process_num}, {wid}, {port}), as circus, supervisord and
    # Procfile setups have; literal braces are then doubled.
    template: bool = False
    # process_num of the first process (supervisord's numprocs_start).
    num_start: int = 0
    # The {port} field of the first process; each next one adds 1.
    port_base: int | None = None
    # The line of each key, for messages about relations between programs.
    key_lines: tuple[tuple[str, int], ...] = field(default=(), compare=False)

    def line_of(self, key: str) -> int | None:
        """The line KEY was set on, or the program's own line."""
        return dict(self.key_lines).get(key, self.line)

    def fields(self, index: int) -> dict[str, object]:
        """The per-process fields of process INDEX (0-based)."""
        values: dict[str, object] = {
            "process_num": self.num_start + index,
            "wid": index + 1,
            "program_name": self.name,
            "name": self.name,
        }
        if self.port_base is not None:
            values["port"] = self.port_base + index
        return values

    def argv_for(self, index: int) -> tuple[str, ...]:
        """The command line of process INDEX (0-based)."""
        if not self.template:
            return self.argv
        fields = self.fields(index)
        return tuple(arg.format_map(fields) for arg in self.argv)

    def env_for(self, index: int) -> tuple[tuple[str, str], ...]:
        """The configured environment of process INDEX (0-based)."""
        if not self.template:
            return self.env
        fields = self.fields(index)
        return tuple((k, v.format_map(fields)) for k, v in self.env)

    def launch_key(self) -> tuple[Any, ...]:
        """What a process is started with; a change here means restart."""
        return (
            self.argv,
            self.shell,
            self.cwd,
            self.env,
            self.inherit_env,
            self.user,
            self.group,
            self.umask,
            self.stdout,
            self.stderr,
            self.template,
            self.num_start,
            self.port_base,
        )


def literal(text: str) -> str:
    """TEXT as it must appear in a template: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


def display_template(template: str) -> str:
    """A template as people read it: literal braces single, fields kept."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return template
    out = []
    for text, name, spec, conversion in parts:
        out.append(text)
        if name is not None:
            conv = f"!{conversion}" if conversion else ""
            out.append(f"{{{name}{conv}{':' + spec if spec else ''}}}")
    return "".join(out)


@dataclass(frozen=True)
class Config:
    """A whole config file: where its daemon lives and what it runs."""

    path: str
    state_dir: str
    programs: Mapping[str, ProgramConfig]
    notes: tuple[str, ...] = ()
    log_level: str = "info"
    # toml, circus, supervisord or procfile: what the file was read as.
    format: str = "toml"
    warnings: tuple[str, ...] = ()
    # An optional TCP listener on loopback, and the token it requires.
    listen: tuple[str, int] | None = None
    token: str | None = field(default=None, repr=False)

    def ordered(self) -> list[ProgramConfig]:
        """Programs in start order: dependencies first, then priority."""
        return start_order(self.programs)


def start_order(programs: Mapping[str, ProgramConfig]) -> list[ProgramConfig]:
    """Sort programs so each comes after what it depends on.

    Ties are broken by priority (lower first), then by the order of the
    file. Raises `ConfigError` on a dependency cycle.
    """
    position = {name: i for i, name in enumerate(programs)}
    done: dict[str, bool] = {}
    result: list[ProgramConfig] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if done.get(name):
            return
        if name in chain:
            cycle = " -> ".join((*chain[chain.index(name) :], name))
            prog = programs[name]
            raise ConfigError(
                f"dependency cycle: {cycle}",
                file=prog.file,
                line=prog.line_of("depends_on"),
                key="depends_on",
            )
        prog = programs[name]
        deps = sorted(prog.depends_on, key=lambda d: _rank(programs[d], position))
        for dep in deps:
            visit(dep, (*chain, name))
        done[name] = True
        result.append(prog)

    for prog in sorted(programs.values(), key=lambda p: _rank(p, position)):
        visit(prog.name, ())
    return result


def _rank(prog: ProgramConfig, position: Mapping[str, int]) -> tuple[int, int]:
    return (prog.priority, position[prog.name])


# ---------------------------------------------------------------------------
# Building a program from entries


PROGRAM_KEYS = frozenset(
    {
        "cmd",
        "shell",
        "numprocs",
        "autostart",
        "restart",
        "exit_codes",
        "start_secs",
        "start_retries",
        "backoff",
        "backoff_max",
        "stop_signal",
        "stop_timeout",
        "cwd",
        "env",
        "inherit_env",
        "user",
        "group",
        "umask",
        "stdout",
        "stderr",
        "priority",
        "depends_on",
        "critical",
        "timestamps",
    }
)

STREAM_KEYS = frozenset({"file", "max_bytes", "backups", "timestamps"})


def show(value: Any) -> str:
    """A value as a config file would spell it, for messages."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {show(v)}" for k, v in value.items()) + "}"
    return str(value)


class _Reader:
    """Typed access to one program's entries, raising located errors."""

    def __init__(self, entries: Mapping[str, Entry], file: str, line: int | None):
        self.entries = entries
        self.file = file
        self.line = line

    def error(self, key: str, message: str, sub: str | None = None) -> ConfigError:
        """A located error; SUB names a key inside a table value."""
        entry = self.entries.get(key)
        line = entry.line if entry is not None and entry.line else self.line
        if sub is not None and entry is not None and entry.lines:
            line = entry.lines.get(sub, line)
        shown = entry.key if entry is not None and entry.key else key
        return ConfigError(message, file=self.file, line=line, key=shown)

    def get(self, key: str, default: Any) -> Any:
        entry = self.entries.get(key)
        return default if entry is None else entry.value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if isinstance(value, bool):
            return value
        raise self.error(key, f"expected true or false, got {show(value)}")

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {show(value)}")
        if not low <= value <= high:
            raise self.error(key, f"expected {low}..{high}, got {value}")
        return value

    def seconds(self, key: str, default: float, high: float = 86_400.0) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number of seconds, got {show(value)}")
        if not 0 <= value <= high or value != value:
            raise self.error(key, f"expected 0..{high:g} seconds, got {value}")
        return float(value)

    def text(self, key: str, default: str | None) -> str | None:
        value = self.get(key, default)
        if value is None:
            return value
        if isinstance(value, str):
            return no_nul(self, key, value)
        raise self.error(key, f"expected a string, got {show(value)}")


def no_nul(r: _Reader, key: str, value: str) -> str:
    """Refuse a NUL byte: no file name, argument or user name can hold one."""
    if "\0" in value:
        raise r.error(key, f"expected text without NUL bytes, got {value!r}")
    return value


def build_program(
    name: str,
    entries: Mapping[str, Entry],
    *,
    file: str,
    line: int | None,
    base_dir: str,
    notes: tuple[str, ...] = (),
    warnings: tuple[str, ...] = (),
    template: bool = False,
    num_start: int = 0,
    port_base: int | None = None,
    command_text: str | None = None,
) -> ProgramConfig:
    """Validate one program's entries and fill in defaults.

    With TEMPLATE, the command and the environment values are str.format
    templates of the per-process fields (see `ProgramConfig.fields`);
    COMMAND_TEXT is then what `check` and the logs show as the command.
    Raises `ConfigError` at the first bad entry, located at its line.
    """
    r = _Reader(entries, file, line)
    check_name(name, file, line)
    for key in entries:
        if key not in PROGRAM_KEYS:
            raise r.error(key, "unknown key")

    # What to run.
    if "cmd" not in entries:
        raise ConfigError("missing required key", file=file, line=line, key="cmd")
    shell = r.boolean("shell", False)
    argv, text = _command(r, shell)

    # How many, and when to bring them back.
    numprocs = r.integer("numprocs", 1, 0, MAX_PROCS)
    restart = r.get("restart", "always")
    if restart not in RESTART_POLICIES:
        choices = " | ".join(RESTART_POLICIES)
        raise r.error("restart", f"expected {choices}, got {restart!r}")
    exit_codes = _exit_codes(r)
    start_retries = r.integer("start_retries", 5, -1, 1_000_000)

    # How to stop.
    try:
        stop_signal = parse_signal(r.get("stop_signal", "TERM"))
    except UsageError as exc:
        raise r.error("stop_signal", str(exc)) from None

    # Where and as whom.
    cwd = _path(r.text("cwd", ".") or ".", base_dir)
    user = _account(r, "user")
    group = _account(r, "group")
    umask = _umask(r)
    stamps = _timestamps(r, "timestamps", r.get("timestamps", False))
    stdout = _stream(r, "stdout", base_dir, allow_merge=False, stamps=stamps)
    stderr = _stream(r, "stderr", base_dir, allow_merge=True, stamps=stamps)

    prog = ProgramConfig(
        name=name,
        argv=argv,
        shell=shell,
        command_text=text if command_text is None else command_text,
        numprocs=numprocs,
        autostart=r.boolean("autostart", True),
        restart=restart,
        exit_codes=exit_codes,
        start_secs=r.seconds("start_secs", 1.0),
        start_retries=start_retries,
        backoff=r.seconds("backoff", 0.25, 3600),
        backoff_max=r.seconds("backoff_max", 30.0),
        stop_signal=stop_signal,
        stop_timeout=r.seconds("stop_timeout", 10.0),
        cwd=cwd,
        env=_env(r),
        inherit_env=r.boolean("inherit_env", True),
        user=user,
        group=group,
        umask=umask,
        stdout=stdout,
        stderr=stderr,
        priority=r.integer("priority", 0, -1_000_000, 1_000_000),
        depends_on=_names(r, "depends_on"),
        critical=r.boolean("critical", False),
        file=file,
        line=line,
        notes=notes,
        warnings=warnings,
        template=template,
        num_start=num_start,
        port_base=port_base,
        key_lines=tuple((k, e.line) for k, e in entries.items() if e.line),
    )
    if template:
        _check_template(r, prog)
    return prog


def _check_template(r: _Reader, prog: ProgramConfig) -> None:
    """Every field of the command and environment must be known."""
    fields = prog.fields(0)
    for key, values in (("cmd", prog.argv), ("env", [v for _, v in prog.env])):
        for value in values:
            try:
                value.format_map(fields)
            except KeyError as exc:
                known = ", ".join(sorted(fields))
                raise r.error(
                    key, f"unknown per-process field {{{exc.args[0]}}} (known: "
                    f"{known}); write a literal brace as {{{{ or }}}}"
                ) from None
            except (ValueError, IndexError, AttributeError, TypeError) as exc:
                raise r.error(
                    key, f"bad per-process field in {value!r}: {exc}"
                ) from None


def check_name(name: str, file: str, line: int | None) -> None:
    """Program names appear in `name.N` and in file names: keep them plain."""
    ok = name and all(c.isalnum() or c in "-_" for c in name) and len(name) <= 64
    if not ok:
        raise ConfigError(
            f"invalid program name {name!r}: use letters, digits, '-' and '_'",
            file=file,
            line=line,
        )


# The kernel's limit on one argument (MAX_ARG_STRLEN): a longer command
# cannot be run by a shell, and splitting it would take seconds.
MAX_COMMAND = 128 * 1024


def _command(r: _Reader, shell: bool) -> tuple[tuple[str, ...], str]:
    value = r.get("cmd", None)
    if isinstance(value, str | list):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                no_nul(r, "cmd", item)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise r.error("cmd", "expected a command, got an empty string")
        if len(text) > MAX_COMMAND:
            raise r.error("cmd", f"the command is {len(text)} characters long; "
                          f"the kernel takes {MAX_COMMAND} at most")
        if shell:
            return ("/bin/sh", "-c", text), text
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise r.error("cmd", f"cannot split {text!r}: {exc}") from None
        if not argv:
            raise r.error("cmd", "expected a command, got only whitespace")
        return tuple(argv), text
    if isinstance(value, list) and value and all(isinstance(a, str) for a in value):
        if not value[0]:
            raise r.error("cmd", "expected a program as the first item, got ''")
        text = shlex.join(value)
        if shell:
            return ("/bin/sh", "-c", text), text
        return tuple(value), text
    raise r.error("cmd", f"expected a string or a list of strings, got {show(value)}")


def _account(r: _Reader, key: str) -> str | None:
    """A user or group, by name or by number."""
    value = r.get(key, None)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if value is None or (isinstance(value, str) and value):
        return value
    raise r.error(key, f"expected a name or a number, got {show(value)}")


def _exit_codes(r: _Reader) -> frozenset[int]:
    value = r.get("exit_codes", [0])
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    ok = isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
        for v in value
    )
    if not ok:
        raise r.error("exit_codes", f"expected a list of 0..255, got {show(value)}")
    return frozenset(value)


def _umask(r: _Reader) -> int | None:
    given = r.get("umask", None)
    if given is None:
        return None
    value = given
    if isinstance(given, str):
        try:
            value = int(given, 8)
        except ValueError:
            raise r.error("umask", f"expected an octal mask, got {show(given)}") \
                from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise r.error("umask", f"expected an octal mask 000..777, got {show(given)}")
    return value


def _env(r: _Reader) -> tuple[tuple[str, str], ...]:
    value = r.get("env", {})
    if not isinstance(value, dict):
        raise r.error("env", f"expected a table of names to strings, got {show(value)}")
    pairs = []
    for key, val in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise r.error("env", f"invalid variable name {key!r}")
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            raise r.error("env", f"{key}: expected a string, got {show(val)}")
        text = str(val)
        if "\0" in text:
            raise r.error("env", f"{key}: value contains a NUL byte")
        pairs.append((key, text))
    return tuple(pairs)


def _names(r: _Reader, key: str) -> tuple[str, ...]:
    value = r.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise r.error(key, f"expected a list of program names, got {show(value)}")
    return tuple(value)


def _path(value: str, base_dir: str) -> str:
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))


def _timestamps(
    r: _Reader, key: str, value: Any, sub: str | None = None
) -> str | None:
    if value is True:
        return DEFAULT_TIMESTAMP
    if value is False or value is None:
        return None
    label = f"{sub}: " if sub else ""
    if isinstance(value, str) and value:
        try:
            datetime.now().strftime(value)
        except ValueError as exc:
            raise r.error(key, f"{label}invalid time format {value!r}: {exc}",
                          sub) from None
        return value
    raise r.error(key, f"{label}expected true, false or a time format, got "
                  f"{show(value)}", sub)


def _stream(
    r: _Reader, key: str, base_dir: str, allow_merge: bool, stamps: str | None
) -> StreamConfig:
    value = r.get(key, "console")
    if isinstance(value, str):
        if value == "console":
            return StreamConfig("console", timestamps=stamps)
        if value == "null":
            return StreamConfig("null")
        if value == "stdout":
            if allow_merge:
                return StreamConfig("stdout")
            raise r.error(key, "expected a file, 'console' or 'null', got 'stdout'")
        if not value:
            raise r.error(key, "expected a file, 'console' or 'null', got ''")
        no_nul(r, key, value)
        return StreamConfig("file", _path(value, base_dir), timestamps=stamps)
    if isinstance(value, dict):
        table = dict(value)
        table.setdefault("timestamps", stamps or False)
        return _stream_table(r, key, table, base_dir)
    raise r.error(
        key, f"expected a file name, 'console', 'null' or a table, got {show(value)}"
    )


def _stream_table(
    r: _Reader, key: str, table: dict[str, Any], base_dir: str
) -> StreamConfig:
    for sub in table:
        if sub not in STREAM_KEYS:
            raise r.error(key, f"{sub}: unknown key", sub)
    path = table.get("file")
    if not isinstance(path, str) or not path:
        raise r.error(key, f"file: expected a file name, got {show(path)}", "file")
    if path in ("console", "null", "stdout"):
        raise r.error(key, f"file: rotation applies to files only, got {path!r}",
                      "file")
    no_nul(r, key, path)
    max_bytes = table.get("max_bytes", 0)
    backups = table.get("backups", 0)
    for sub, val in (("max_bytes", max_bytes), ("backups", backups)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 0:
            raise r.error(key, f"{sub}: expected a whole number >= 0, got "
                          f"{show(val)}", sub)
    stamps = _timestamps(r, key, table.get("timestamps", False), "timestamps")
    return StreamConfig("file", _path(path, base_dir), max_bytes, backups, stamps)
