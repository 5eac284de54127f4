"""circus `.ini` files, read the way circus 0.19 reads them.

Watchers become programs with circus's defaults: a 30 s graceful
timeout, 5 retries (``max_retry = -1`` retries forever), ``respawn`` (any
exit is restarted), and an environment made only of ``[env]`` sections
unless ``copy_env`` adds the daemon's own. Option names are case
sensitive, as in circus; environment variable names keep their case.
``$(circus.env.NAME)`` is replaced in every option, with the name looked
up without regard to case; ``$(circus.wid)`` (and the older ``$WID`` and
``$(WID)``) in ``cmd`` and ``args`` becomes the process number, counted
from 1. In ``[env]`` values, ``$NAME`` (upper case) is replaced from the
daemon's environment, as circus does.

Where corral's model differs, it says so:

- A watcher without an output stream wrote to circusd's own stdout and
  stderr; corral sends it to the console (its own output).
- Relative paths are relative to the file they are written in, and the
  default working directory is the directory of the main file.
- Stop always reaches the whole process group, shell or not, so
  ``stop_children`` is noted, never needed.
- Options corral cannot honour are refused by name: resource limits,
  hooks, sockets, ``executable``, virtualenvs, time-rotated log files and
  any stream or plugin class corral does not know. ``warmup_delay`` and
  ``max_age`` are refused unless 0.

Options that only concern circus's own plumbing (ZeroMQ endpoints, its
web console, statistics, its logger) are accepted and listed by
``corral check`` as not applicable.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.config.ini import Option, Section, parse_ini, to_bool, to_int, to_number
from corral.config.model import (
    Config,
    Entry,
    ProgramConfig,
    build_program,
    display_template,
    literal,
)
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
    }
)

# Watcher options that corral does on its own, whatever their value.
WATCHER_NOTES = {
    "stop_children": "corral always stops every process a program started",
    "check_flapping": "corral's back-off and 'fatal' state replace flapping",
    "flapping_attempts": "corral's back-off and 'fatal' state replace flapping",
    "flapping_window": "corral's back-off and 'fatal' state replace flapping",
    "flapping_retry_in": "corral's back-off and 'fatal' state replace flapping",
    "flapping_max_retry": "corral's back-off and 'fatal' state replace flapping",
    "stream_backend": "not applicable (circus's stream threads)",
    "max_age_variance": "not applicable without max_age",
}

# Watcher options corral refuses, with what to do instead.
WATCHER_REFUSED = {
    "executable": "corral runs the first word of cmd; put the program there",
    "shell_args": "put the arguments in cmd",
    "virtualenv": "run the virtualenv's own bin/python, or set PATH in [env]",
    "virtualenv_py_ver": "run the virtualenv's own bin/python",
    "stdin_socket": "corral gives programs /dev/null as stdin",
}

# Boolean watcher options that corral can only honour one way.
WATCHER_ONLY = {
    "use_sockets": (False, "sockets are not supported yet"),
    "on_demand": (False, "sockets are not supported yet"),
    "use_papa": (False, "corral does not use papa"),
}

STREAM_CLASSES = {
    "filestream": "file",
    "watchedfilestream": "file",
    "stdoutstream": "console",
    "fancystdoutstream": "console",
    "null": "null",
    "nullstream": "null",
}
STREAM_REFUSED = {
    "timedrotatingfilestream": "corral rotates by size only; use FileStream "
    "with max_bytes and backup_count",
    "queuestream": "it keeps output in circusd's memory",
}
STREAM_OPTIONS = frozenset(
    {"class", "filename", "max_bytes", "backup_count", "time_format",
     "color", "refresh_time"}
)

SOCKET_KEYS = frozenset(
    {"host", "port", "family", "type", "interface", "path", "umask",
     "replace", "so_reuseport", "backlog", "proto", "blocking", "use_papa"}
)
# Plugins whose job corral does itself or that only report.
PLUGIN_NOTES = {
    "circus.plugins.flapping.flapping": "corral's back-off replaces it",
    "circus.plugins.statsd.statsdemitter": "corral sends no statistics",
    "circus.plugins.statsd.fullstats": "corral sends no statistics",
    "circus.plugins.http_observer.httpobserver": "corral runs no observers",
    "circus.plugins.redis_observer.redisobserver": "corral runs no observers",
}

_ENV_VAR = re.compile(r"\$\(circus\.env\.([\w.-]+)\)|\(\(circus\.env\.([\w.-]+)\)\)",
                      re.IGNORECASE)
_CIRCUS_VAR = re.compile(r"\$\(circus\.([\w.-]+)\)|\(\(circus\.([\w.-]+)\)\)",
                         re.IGNORECASE)
_WID = re.compile(r"\$\(wid\)|\$WID\b", re.IGNORECASE)
_DOLLAR = re.compile(r"\$([A-Z]+[A-Z0-9_]*)")


def read_circus(path: str) -> Config:
    """Read a circus `.ini` file. Raises `ConfigError` located at a line."""
    main = path
    base_dir = os.path.dirname(os.path.abspath(path))
    ctx = _Context(base_dir)
    sections = _load(main, ctx)

    # Sort the sections out; [env] first, everything else may use it.
    watchers: list[Section] = []
    env_sections: list[Section] = []
    for section in sections:
        kind, colon, name = section.name.partition(":")
        if section.name == "env":
            ctx.env.update(_env_values(section, ctx, ctx.env))
        elif kind == "env" and colon:
            env_sections.append(section)
        elif section.name == "circus":
            continue
        elif kind == "watcher" and colon:
            watchers.append(section)
        elif kind == "socket" and colon:
            _socket(section, ctx)
        elif kind == "plugin" and colon:
            _plugin(section, ctx)
        else:
            raise ConfigError(
                f"unknown section [{section.name}] (corral reads [circus], "
                "[watcher:x], [env], [env:x], [socket:x] and [plugin:x])",
                file=section.file,
                line=section.line,
            )
    for section in sections:
        if section.name == "circus":
            _circus_section(section, ctx)

    # Each watcher, with the [env:...] sections that match its name.
    programs: dict[str, ProgramConfig] = {}
    matched: set[int] = set()
    for section in watchers:
        name = section.name.partition(":")[2].strip()
        env: dict[str, str] = dict(ctx.env)
        for index, env_section in enumerate(env_sections):
            patterns = env_section.name.partition(":")[2].split(",")
            if any(fnmatch.fnmatchcase(name, p.strip()) for p in patterns):
                env.update(_env_values(env_section, ctx, env))
                matched.add(index)
        if name in programs:
            raise ConfigError(
                f"watcher {name!r} is defined twice", file=section.file,
                line=section.line,
            )
        programs[name] = _watcher(name, section, env, ctx)

    for index, env_section in enumerate(env_sections):
        if index not in matched:
            ctx.notes.append(f"{env_section.file}:{env_section.line}: "
                             f"[{env_section.name}] matches no watcher")
    return Config(
        path=os.path.abspath(main),
        state_dir=os.path.join(base_dir, ".corral"),
        programs=programs,
        notes=tuple(ctx.notes),
        format="circus",
        warnings=tuple(ctx.warnings),
    )


@dataclass
class _Context:
    """What the whole file shares."""

    base_dir: str
    env: dict[str, str] = field(default_factory=dict)
    umask: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lookup(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """circus.env names: the daemon's environment, [env], then EXTRA."""
        values = {k.lower(): v for k, v in os.environ.items()}
        values.update({k.lower(): v for k, v in self.env.items()})
        values.update({k.lower(): v for k, v in (extra or {}).items()})
        return values


def _parse(path: str) -> list[Section]:
    return parse_ini(_read_text(path), path, inline_comments=";",
                     lower_keys=False, circus=True)


def _load(main: str, ctx: _Context) -> list[Section]:
    """The main file, then the files its [circus] include and include_dir name.

    As in circus, included files do not include further files, and
    patterns are relative to the main file.
    """
    sections = _parse(main)
    settings = next((s for s in sections if s.name == "circus"), None)
    if settings is None:
        return sections
    seen = {os.path.realpath(main)}
    for key, pattern_of in (("include", "{}"), ("include_dir", "{}/*.ini")):
        option = settings.options.pop(key, None)
        if option is None:
            continue
        value = _substitute(option.value, settings, option, ctx.lookup())
        for item in value.split():
            pattern = os.path.join(os.path.dirname(main), pattern_of.format(item))
            matches = sorted(glob.glob(pattern))
            if not matches:
                ctx.notes.append(f"{main}:{option.line}: {key}: no file "
                                 f"matches {pattern!r}")
            for match in matches:
                real = os.path.realpath(match)
                if real in seen or os.path.isdir(real):
                    continue
                seen.add(real)
                sections += _included(match)
    _no_twice(sections)
    return sections


def _included(path: str) -> list[Section]:
    sections = _parse(path)
    for section in sections:
        for key in ("include", "include_dir"):
            option = section.options.get(key)
            if section.name == "circus" and option is not None:
                raise ConfigError(
                    "circus reads include and include_dir only in the main "
                    "file; move it there",
                    file=path,
                    line=option.line,
                    key=key,
                )
    return sections


def _no_twice(sections: list[Section]) -> None:
    """A name may appear once, except [circus], whose keys may not repeat."""
    seen: dict[str, Section] = {}
    keys: dict[str, Option] = {}
    for section in sections:
        if section.name == "circus":
            for key, option in section.options.items():
                if key in keys:
                    raise ConfigError(
                        f"set again (first at line {keys[key].line})",
                        file=section.file, line=option.line, key=key,
                    )
                keys[key] = option
            continue
        first = seen.setdefault(section.name, section)
        if first is not section:
            raise ConfigError(
                f"section [{section.name}] is defined again (first at "
                f"{first.file}:{first.line}); corral does not merge sections",
                file=section.file,
                line=section.line,
            )


def _circus_section(section: Section, ctx: _Context) -> None:
    ignored = []
    for key, option in section.options.items():
        value = _substitute(option.value, section, option, ctx.lookup())
        if key in CIRCUS_NOT_APPLICABLE:
            ignored.append(key)
        elif key == "umask":
            ctx.umask = value
        elif key == "warmup_delay":
            _zero_only(section, option, value, "corral starts programs as "
                       "soon as what they depend on runs; use depends_on or "
                       "priority")
        else:
            raise _unknown(section, option, CIRCUS_NOT_APPLICABLE | {"umask"})
    if ignored:
        ctx.notes.append(f"{section.file}:{section.line}: [circus] "
                         f"{', '.join(ignored)}: not applicable (circus's own "
                         "endpoints, web console, statistics and logger)")


def _socket(section: Section, ctx: _Context) -> None:
    """Validate a [socket:x] as circus would, then refuse it."""
    for key, option in section.options.items():
        if key not in SOCKET_KEYS:
            raise _unknown(section, option, SOCKET_KEYS)
        value = _substitute(option.value, section, option, ctx.lookup())
        checked = Option(key, value, option.line)
        if key in ("port", "backlog"):
            number = to_int(checked, section.file)
            if key == "port" and not 0 <= number <= 65535:
                raise _error(section, option, f"expected 0..65535, got {number}")
        elif key in ("replace", "so_reuseport", "blocking", "use_papa"):
            to_bool(checked, section.file)
        elif key == "family" and value not in ("AF_UNIX", "AF_INET", "AF_INET6"):
            raise _error(section, option, "expected AF_UNIX, AF_INET or "
                         f"AF_INET6, got {value!r}")
        elif key == "type" and value not in (
            "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET"
        ):
            raise _error(section, option, f"expected a SOCK_ type, got {value!r}")
    raise ConfigError(
        f"[{section.name}]: sockets are not supported yet: corral cannot hand "
        "a socket to programs; let the program bind it itself",
        file=section.file,
        line=section.line,
    )


def _plugin(section: Section, ctx: _Context) -> None:
    option = section.options.get("use")
    if option is None:
        raise ConfigError(f"[{section.name}] needs use = CLASS", key="use",
                          file=section.file, line=section.line)
    why = PLUGIN_NOTES.get(option.value.strip().lower())
    if why is None:
        raise _error(section, option, f"plugin {option.value!r} is not "
                     "supported: corral runs no circus plugins")
    ctx.notes.append(f"{section.file}:{section.line}: [{section.name}]: "
                     f"not applicable ({why})")


def _env_values(
    section: Section, ctx: _Context, before: Mapping[str, str]
) -> dict[str, str]:
    """The values of an [env] section: circus.env names, then $NAME."""
    values: dict[str, str] = {}
    for key, option in section.options.items():
        lookup = ctx.lookup({**before, **values})
        text = _substitute(option.value, section, option, lookup)

        def dollar(match: re.Match[str], option: Option = option) -> str:
            name = match.group(1)
            if name not in os.environ:
                ctx.warnings.append(
                    f"{section.file}:{option.line}: {option.key}: ${name} is "
                    "not set in corral's environment; it expands to ''"
                )
            return os.environ.get(name, "")

        values[key] = _DOLLAR.sub(dollar, text).strip()
        if "\0" in values[key] or not key or "=" in key:
            raise _error(section, option, "invalid environment variable")
    return values


# ---------------------------------------------------------------------------
# One [watcher:x]


@dataclass
class _Watcher:
    """What reading one [watcher:x] section collects."""

    name: str
    section: Section
    lookup: dict[str, str]
    entries: dict[str, Entry] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.section.file

    def value(self, option: Option) -> Option:
        """OPTION with $(circus.env.X) replaced."""
        text = _substitute(option.value, self.section, option, self.lookup)
        if _CIRCUS_VAR.search(text):
            var = _CIRCUS_VAR.search(text)
            assert var is not None
            raise _error(self.section, option, f"{var.group(0)} is replaced "
                         "only in cmd and args")
        return Option(option.key, text, option.line)

    def put(self, key: str, value: Any, option: Option) -> None:
        self.entries[key] = Entry(value, option.line, key=option.key)

    def note(self, option: Option, text: str) -> None:
        self.notes.append(f"{self.file}:{option.line}: {option.key}: {text}")


def _watcher(
    name: str, section: Section, env: dict[str, str], ctx: _Context
) -> ProgramConfig:
    """Translate one [watcher:x] into a `ProgramConfig`."""
    w = _Watcher(name, section, ctx.lookup(env))
    here = os.path.dirname(os.path.abspath(section.file))

    # circus defaults that differ from corral's.
    w.entries["stop_timeout"] = Entry(30.0, section.line)
    w.entries["inherit_env"] = Entry(False, section.line)
    w.entries["start_retries"] = Entry(5, section.line)
    w.entries["cwd"] = Entry(ctx.base_dir, section.line)
    if ctx.umask is not None:
        w.entries["umask"] = Entry(ctx.umask, section.line)

    # Every option, in file order; the command and streams come after.
    for key, option in section.options.items():
        if key in ("cmd", "args") or key.startswith(
            ("stdout_stream.", "stderr_stream.")
        ):
            continue
        handler = HANDLERS.get(key)
        if handler is not None:
            handler(w, w.value(option))
        elif key in WATCHER_NOTES:
            w.value(option)
            w.note(option, WATCHER_NOTES[key])
        elif key in WATCHER_REFUSED:
            raise _error(section, option, f"not supported: {WATCHER_REFUSED[key]}")
        elif key in WATCHER_ONLY:
            allowed, why = WATCHER_ONLY[key]
            if to_bool(w.value(option), w.file) != allowed:
                raise _error(section, option, f"not supported: {why}")
        elif key.startswith("rlimit_"):
            raise _error(section, option, "resource limits are not supported "
                         "yet; wrap the command: prlimit --nofile=N -- CMD")
        elif key.startswith("hooks."):
            raise _error(section, option, "hooks are not supported: corral "
                         "runs no Python code of the config")
        else:
            raise _unknown(section, option, set(HANDLERS) | set(WATCHER_NOTES))

    _singleton(w)
    template = _command(w)
    for stream in ("stdout", "stderr"):
        _stream(w, stream)
    if env:
        values = {k: literal(v) if template else v for k, v in env.items()}
        w.entries["env"] = Entry(values, section.line)
    return build_program(
        name,
        w.entries,
        file=section.file,
        line=section.line,
        base_dir=here,
        notes=tuple(w.notes),
        warnings=tuple(w.warnings),
        template=template,
        command_text=display_template(w.entries["cmd"].value).replace("\n", " "),
    )


def _command(w: _Watcher) -> bool:
    """cmd, then args, as circus joins them; True if it names the process."""
    opts = w.section.options
    cmd = opts.get("cmd")
    if cmd is None:
        raise ConfigError(
            f"missing required key in [{w.section.name}]",
            file=w.file,
            line=w.section.line,
            key="cmd",
        )
    parts = [_command_part(w, cmd)]
    if "args" in opts:
        parts.append(_command_part(w, opts["args"]))
    template = any("{wid}" in p for p in parts)
    if not template:
        parts = [p.format_map({}) for p in parts]
    w.entries["cmd"] = Entry(" ".join(parts), cmd.line, key="cmd")

    # circus signalled the shell alone unless stop_children was set.
    if w.entries.get("shell", Entry(False)).value and not _flag(
        w, "stop_children"
    ):
        w.warnings.append(
            f"{w.file}:{cmd.line}: {w.name}: shell = true: circus signalled "
            "only /bin/sh here; corral signals the whole group, so the "
            "program itself gets the stop signal"
        )
    return template


def _command_part(w: _Watcher, option: Option) -> str:
    """One of cmd and args in template form: {wid} for the process number."""
    text = _substitute(option.value, w.section, option, w.lookup)
    out: list[str] = []
    pos = 0
    for match in _CIRCUS_VAR.finditer(text):
        name = (match.group(1) or match.group(2)).lower()
        if name != "wid":
            why = ("sockets are not supported yet" if name.startswith("sockets.")
                   else "corral replaces only $(circus.wid) and "
                   "$(circus.env.NAME)")
            raise _error(w.section, option, f"{match.group(0)}: {why}")
        out.append(_wid(text[pos : match.start()]))
        out.append("{wid}")
        pos = match.end()
    out.append(_wid(text[pos:]))
    return "".join(out)


def _wid(text: str) -> str:
    """Literal text, with circus's older $WID and $(WID) made fields."""
    pieces = _WID.split(text)
    return "{wid}".join(literal(piece) for piece in pieces)


def _flag(w: _Watcher, key: str) -> bool:
    option = w.section.options.get(key)
    return option is not None and to_bool(w.value(option), w.file)


def _singleton(w: _Watcher) -> None:
    option = w.section.options.get("singleton")
    if option is None or not to_bool(w.value(option), w.file):
        return
    count = w.entries.get("numprocs", Entry(1)).value
    if count not in (0, 1):
        raise _error(w.section, option, f"a singleton watcher cannot have "
                     f"{count} processes")
    w.note(option, "corral runs numprocesses (1); 'corral scale' can change it")


def _stream(w: _Watcher, stream: str) -> None:
    """stdout_stream.* or stderr_stream.*: a file, the console, or nothing."""
    prefix = f"{stream}_stream."
    opts = {k[len(prefix):]: w.value(o) for k, o in w.section.options.items()
            if k.startswith(prefix)}
    close = w.section.options.get(f"close_child_{stream}")
    if close is not None and to_bool(w.value(close), w.file):
        w.entries[stream] = Entry("null", close.line)
        return
    if not opts:
        # circus hands such a process its own stdout; corral, its console.
        w.entries[stream] = Entry("console", w.section.line)
        return
    # The class: known by its short or dotted name, any case.
    klass = opts.get("class")
    kind = "file" if "filename" in opts else "console"
    if klass is not None:
        short = klass.value.strip().rpartition(".")[2].lower()
        if short in STREAM_REFUSED:
            raise _error(w.section, klass, f"{klass.value} is not supported: "
                         f"{STREAM_REFUSED[short]}")
        if short not in STREAM_CLASSES:
            raise _error(w.section, klass, f"unsupported stream class "
                         f"{klass.value!r} (corral knows FileStream, "
                         "WatchedFileStream, StdoutStream, FancyStdoutStream "
                         "and Null)")
        kind = STREAM_CLASSES[short]
    for sub in opts:
        if sub not in STREAM_OPTIONS:
            raise _unknown(w.section, w.section.options[prefix + sub],
                           {prefix + s for s in STREAM_OPTIONS})
    line = (klass or next(iter(opts.values()))).line

    # Options of a file; the console has corral's own prefix.
    if kind != "file":
        for sub in ("time_format", "color", "filename", "max_bytes"):
            if sub in opts:
                w.note(opts[sub], f"ignored for a {kind} stream (corral "
                       "prefixes console lines with name.N)")
        w.entries[stream] = Entry(kind, line)
        return
    filename = opts.get("filename")
    if filename is None:
        raise ConfigError("a FileStream needs a filename", file=w.file,
                          line=line, key=f"{prefix}filename")
    if not filename.value.strip():
        raise _error(w.section, filename, "expected a file name, got ''")
    table: dict[str, Any] = {"file": filename.value}
    if "max_bytes" in opts:
        table["max_bytes"] = to_int(opts["max_bytes"], w.file)
    if "backup_count" in opts:
        table["backups"] = to_int(opts["backup_count"], w.file)
    if "time_format" in opts:
        table["timestamps"] = opts["time_format"].value
        w.note(opts["time_format"], "lines get the time only, without "
               "circus's [pid] |")
    for sub in ("color", "refresh_time"):
        if sub in opts:
            w.note(opts[sub], "not applicable to a file")
    w.entries[stream] = Entry(table, filename.line, key=f"{prefix}filename")


# -- one handler per watcher option ------------------------------------------


def _numprocesses(w: _Watcher, o: Option) -> None:
    w.put("numprocs", to_int(o, w.file), o)


def _shell(w: _Watcher, o: Option) -> None:
    w.put("shell", to_bool(o, w.file), o)


def _respawn(w: _Watcher, o: Option) -> None:
    w.put("restart", "always" if to_bool(o, w.file) else "never", o)


def _autostart(w: _Watcher, o: Option) -> None:
    w.put("autostart", to_bool(o, w.file), o)


def _working_dir(w: _Watcher, o: Option) -> None:
    w.put("cwd", o.value, o)


def _uid(w: _Watcher, o: Option) -> None:
    w.put("user", o.value, o)


def _gid(w: _Watcher, o: Option) -> None:
    w.put("group", o.value, o)


def _stop_signal(w: _Watcher, o: Option) -> None:
    w.put("stop_signal", o.value, o)


def _graceful_timeout(w: _Watcher, o: Option) -> None:
    w.put("stop_timeout", to_number(o, w.file), o)


def _copy_env(w: _Watcher, o: Option) -> None:
    w.put("inherit_env", to_bool(o, w.file), o)


def _copy_path(w: _Watcher, o: Option) -> None:
    if not to_bool(o, w.file):
        return
    copy_env = w.section.options.get("copy_env")
    if copy_env is None or not to_bool(w.value(copy_env), w.file):
        raise _error(w.section, o, "needs copy_env = true (as in circus)")
    w.note(o, "circusd's sys.path means nothing to corral; PYTHONPATH is not "
           "changed")


def _max_retry(w: _Watcher, o: Option) -> None:
    retries = to_int(o, w.file)
    if retries < -1:
        raise _error(w.section, o, f"expected -1 (forever) or more, got {retries}")
    w.put("start_retries", retries, o)


def _priority(w: _Watcher, o: Option) -> None:
    # circus starts the highest priority first; corral the lowest.
    w.put("priority", -to_int(o, w.file), o)


def _warmup_delay(w: _Watcher, o: Option) -> None:
    _zero_only(w.section, o, o.value, "corral starts the processes of a "
               "program together")


def _max_age(w: _Watcher, o: Option) -> None:
    _zero_only(w.section, o, o.value, "corral does not replace processes "
               "by age")


def _send_hup(w: _Watcher, o: Option) -> None:
    if to_bool(o, w.file):
        w.note(o, "corral has no reload by signal: 'corral signal NAME HUP' "
               "does what circusctl reload did; 'corral restart' restarts")


def _close_child_stdin(w: _Watcher, o: Option) -> None:
    if not to_bool(o, w.file):
        w.note(o, "corral always gives programs /dev/null as stdin")


def _close_child_output(w: _Watcher, o: Option) -> None:
    to_bool(o, w.file)  # read in _stream


def _singleton_flag(w: _Watcher, o: Option) -> None:
    to_bool(o, w.file)  # read in _singleton


HANDLERS: dict[str, Callable[[_Watcher, Option], None]] = {
    "numprocesses": _numprocesses,
    "shell": _shell,
    "respawn": _respawn,
    "autostart": _autostart,
    "working_dir": _working_dir,
    "uid": _uid,
    "gid": _gid,
    "stop_signal": _stop_signal,
    "graceful_timeout": _graceful_timeout,
    "copy_env": _copy_env,
    "copy_path": _copy_path,
    "max_retry": _max_retry,
    "priority": _priority,
    "warmup_delay": _warmup_delay,
    "max_age": _max_age,
    "send_hup": _send_hup,
    "close_child_stdin": _close_child_stdin,
    "close_child_stdout": _close_child_output,
    "close_child_stderr": _close_child_output,
    "singleton": _singleton_flag,
}


# ---------------------------------------------------------------------------
# Helpers


def _substitute(
    text: str, section: Section, option: Option, lookup: Mapping[str, str]
) -> str:
    """Replace $(circus.env.NAME); an unknown NAME is an error."""

    def value(match: re.Match[str]) -> str:
        name = (match.group(1) or match.group(2)).lower()
        if name not in lookup:
            raise _error(section, option, f"{match.group(0)}: {name} is not set "
                         "in corral's environment nor in an [env] section")
        return lookup[name]

    return _ENV_VAR.sub(value, text)


def _zero_only(section: Section, option: Option, value: str, why: str) -> None:
    number = to_number(Option(option.key, value, option.line), section.file)
    if number != 0:
        raise _error(section, option, f"only 0 is supported: {why}")


def _unknown(section: Section, option: Option, known: set[str] | frozenset[str]
             ) -> ConfigError:
    hint = ""
    if option.key.lower() in known and option.key.lower() != option.key:
        hint = f" (circus option names are case sensitive: {option.key.lower()})"
    return _error(section, option, f"unknown key in [{section.name}]{hint}")


def _error(section: Section, option: Option, message: str) -> ConfigError:
    return ConfigError(message, file=section.file, line=option.line,
                       key=option.key)
