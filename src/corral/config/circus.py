"""circus `.ini` files, read as circus reads them.

Watchers become programs with circus's own defaults (30 s graceful
timeout, no inherited environment unless ``copy_env``, 5 retries). Options
that only concern circus's own plumbing (ZeroMQ endpoints, its web
console, stats) are accepted and listed by ``corral check`` as not
applicable. Anything else corral cannot honour is an error naming the key.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from typing import Any

from corral.config.ini import Option, Section, parse_ini, to_bool, to_int, to_number
from corral.config.model import Config, Entry, ProgramConfig, build_program
from corral.config.toml_reader import _read_text
from corral.errors import ConfigError

# [circus] options about circus's own transport and tooling.
CIRCUS_NOT_APPLICABLE = frozenset(
    {
        "check_delay",
        "endpoint",
        "endpoint_owner",
        "pubsub_endpoint",
        "stats_endpoint",
        "statsd",
        "statsd_close_outputs",
        "httpd",
        "httpd_host",
        "httpd_port",
        "httpd_close_outputs",
        "stream_backend",
        "multicast_endpoint",
        "fqdn_prefix",
        "papa_endpoint",
        "debug",
        "debug_gc",
        "loglevel",
        "logoutput",
        "loggerconfig",
        "pidfile",
        "umask",
        "warmup_delay",
    }
)

# Watcher options that corral does on its own, whatever their value.
WATCHER_ALWAYS = {
    "stop_children": "corral always stops every process a program started",
    "close_child_stdin": "corral always gives programs /dev/null as stdin",
    "close_child_stdout": "corral always captures stdout",
    "close_child_stderr": "corral always captures stderr",
    "check_flapping": "corral's back-off and 'fatal' state replace flapping",
    "singleton": "numprocesses must stay 1; corral runs exactly numprocs",
    "copy_path": "sys.path of circusd has no meaning for corral",
}

STREAM_CLASSES = {
    "filestream": "file",
    "circus.stream.filestream": "file",
    "stdoutstream": "console",
    "circus.stream.stdoutstream": "console",
    "fancystdoutstream": "console",
    "circus.stream.fancystdoutstream": "console",
    "null": "null",
    "nullstream": "null",
    "circus.stream.nullstream": "null",
}

_VAR = re.compile(r"\$\(circus\.env\.([A-Za-z_][A-Za-z0-9_]*)\)", re.IGNORECASE)


def read_circus(path: str) -> Config:
    """Read a circus `.ini` file. Raises `ConfigError` located at a line."""
    sections = _load(path, set())
    base_dir = os.path.dirname(os.path.abspath(path))
    notes: list[str] = []

    watchers: list[Section] = []
    env_sections: list[Section] = []
    for section in sections:
        kind, _, name = section.name.partition(":")
        if section.name == "circus":
            _circus_section(section, notes)
        elif kind == "watcher" and name:
            watchers.append(section)
        elif kind == "env" and name:
            env_sections.append(section)
        elif kind == "socket":
            raise ConfigError(
                "[socket:NAME] is not supported yet: corral cannot hand "
                "sockets to programs, bind them in the program instead",
                file=section.file,
                line=section.line,
            )
        elif kind == "plugin":
            raise ConfigError(
                "[plugin:NAME] is not supported: corral runs no circus plugins",
                file=section.file,
                line=section.line,
            )
        else:
            raise ConfigError(
                f"unknown section [{section.name}]",
                file=section.file,
                line=section.line,
            )

    programs: dict[str, ProgramConfig] = {}
    for section in watchers:
        name = section.name.partition(":")[2].strip()
        env = _env_for(name, env_sections)
        prog = _watcher(name, section, env, base_dir)
        if prog.name in programs:
            raise ConfigError(
                f"watcher {name!r} is defined twice",
                file=section.file,
                line=section.line,
            )
        programs[prog.name] = prog

    state_dir = os.path.join(base_dir, ".corral")
    return Config(
        path=os.path.abspath(path),
        state_dir=state_dir,
        programs=programs,
        notes=tuple(notes),
    )


def _load(path: str, seen: set[str]) -> list[Section]:
    real = os.path.realpath(path)
    if real in seen:
        return []
    seen.add(real)
    text = _substitute(_read_text(path))
    sections = parse_ini(text, path, lower_keys=False)
    for section in sections:
        if not section.name.startswith("env:"):
            section.options = {k.lower(): o for k, o in section.options.items()}
            for option in section.options.values():
                option.key = option.key.lower()

    # include / include_dir in [circus] pull in more files, as circus does.
    result: list[Section] = []
    base = os.path.dirname(os.path.abspath(path))
    for section in sections:
        result.append(section)
        if section.name != "circus":
            continue
        for key, pattern_of in (("include", "{}"), ("include_dir", "{}/*.ini")):
            if key not in section.options:
                continue
            option = section.options.pop(key)
            for item in option.value.split():
                pattern = os.path.join(base, pattern_of.format(item))
                for included in sorted(glob.glob(pattern)):
                    result.extend(_load(included, seen))
    return _merge(result)


def _merge(sections: list[Section]) -> list[Section]:
    """Sections from included files with a name already seen are an error."""
    seen: dict[str, Section] = {}
    for section in sections:
        if section.name in seen and section.name != "circus":
            raise ConfigError(
                f"section [{section.name}] is defined again "
                f"(first at {seen[section.name].file}:{seen[section.name].line})",
                file=section.file,
                line=section.line,
            )
        seen.setdefault(section.name, section)
    return sections


def _substitute(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return os.environ.get(name, os.environ.get(name.upper(), ""))

    return _VAR.sub(value, text)


def _circus_section(section: Section, notes: list[str]) -> None:
    for key, option in section.options.items():
        if key in CIRCUS_NOT_APPLICABLE:
            notes.append(
                f"{section.file}:{option.line}: {key}: not applicable to corral, "
                "ignored"
            )
            continue
        raise ConfigError(
            "unknown key in [circus]",
            file=section.file,
            line=option.line,
            key=key,
        )


def _env_for(name: str, env_sections: list[Section]) -> dict[str, Option]:
    merged: dict[str, Option] = {}
    for section in env_sections:
        patterns = [p.strip() for p in section.name.partition(":")[2].split(",")]
        if any(fnmatch.fnmatchcase(name, p) for p in patterns if p):
            merged.update(section.options)
    return merged


def _watcher(
    name: str, section: Section, env: dict[str, Option], base_dir: str
) -> ProgramConfig:
    file = section.file
    opts = section.options
    entries: dict[str, Entry] = {}
    notes: list[str] = []

    def put(key: str, value: Any, option: Option) -> None:
        entries[key] = Entry(value, option.line)

    # circus defaults that differ from corral's.
    entries["stop_timeout"] = Entry(30.0, section.line)
    entries["inherit_env"] = Entry(False, section.line)

    for key, option in opts.items():
        if key in ("cmd", "args"):
            continue
        if key == "shell":
            put("shell", to_bool(option, file), option)
        elif key == "numprocesses":
            put("numprocs", to_int(option, file), option)
        elif key == "respawn":
            put("restart", "always" if to_bool(option, file) else "never", option)
        elif key == "autostart":
            put("autostart", to_bool(option, file), option)
        elif key == "working_dir":
            put("cwd", option.value, option)
        elif key == "uid":
            put("user", option.value, option)
        elif key == "gid":
            put("group", option.value, option)
        elif key == "stop_signal":
            put("stop_signal", option.value, option)
        elif key == "graceful_timeout":
            put("stop_timeout", to_number(option, file), option)
        elif key == "copy_env":
            put("inherit_env", to_bool(option, file), option)
        elif key == "max_retry":
            put("start_retries", to_int(option, file), option)
        elif key == "priority":
            # circus starts the highest priority first; corral the lowest.
            put("priority", -to_int(option, file), option)
        elif key in WATCHER_ALWAYS:
            to_bool(option, file)
            notes.append(f"{file}:{option.line}: {key}: {WATCHER_ALWAYS[key]}")
        elif key.startswith(("stdout_stream.", "stderr_stream.")):
            continue
        else:
            raise ConfigError(
                f"unknown or unsupported watcher option in [{section.name}]",
                file=file,
                line=option.line,
                key=key,
            )

    # The command: cmd, then args, joined as circus joins them.
    cmd = opts.get("cmd")
    if cmd is None:
        raise ConfigError(
            f"missing required key in [{section.name}]",
            file=file,
            line=section.line,
            key="cmd",
        )
    command = cmd.value
    if "args" in opts:
        command = f"{command} {opts['args'].value}"
    entries["cmd"] = Entry(command, cmd.line)

    for stream in ("stdout", "stderr"):
        value = _stream(stream, opts, file)
        if value is not None:
            entries[stream] = value

    if env:
        first = min(o.line for o in env.values())
        entries["env"] = Entry({k: o.value for k, o in env.items()}, first)

    return build_program(
        name,
        entries,
        file=file,
        line=section.line,
        base_dir=base_dir,
        notes=tuple(notes),
    )


def _stream(stream: str, opts: dict[str, Option], file: str) -> Entry | None:
    prefix = f"{stream}_stream."
    keys = {k[len(prefix) :]: o for k, o in opts.items() if k.startswith(prefix)}
    if not keys:
        # circus drops output that has no stream configured.
        return Entry("null")
    klass = keys.pop("class", None)
    kind = STREAM_CLASSES.get(klass.value.strip().lower()) if klass else None
    if klass is not None and kind is None:
        raise ConfigError(
            f"unsupported stream class {klass.value!r} (corral knows FileStream, "
            "StdoutStream, FancyStdoutStream and Null)",
            file=file,
            line=klass.line,
            key=f"{prefix}class",
        )
    line = klass.line if klass else min(o.line for o in keys.values())
    filename = keys.pop("filename", None)
    table: dict[str, Any] = {}
    for sub, option in keys.items():
        if sub == "max_bytes":
            table["max_bytes"] = to_int(option, file)
        elif sub == "backup_count":
            table["backups"] = to_int(option, file)
        elif sub == "time_format":
            table["timestamps"] = option.value
        elif sub in ("refresh_time", "color"):
            continue
        else:
            raise ConfigError(
                "unknown or unsupported stream option",
                file=file,
                line=option.line,
                key=f"{prefix}{sub}",
            )

    if kind is None:
        kind = "file" if filename is not None else "console"
    if kind != "file":
        return Entry(kind, line)
    if filename is None:
        raise ConfigError(
            "FileStream needs a filename",
            file=file,
            line=line,
            key=f"{prefix}filename",
        )
    if not table:
        return Entry(filename.value, filename.line)
    table["file"] = filename.value
    return Entry(table, filename.line)
