"""Procfiles (and the ``.env`` beside them), read as honcho and foreman do.

Each ``type: command`` line is a program with one process, named
``type.0``; ``corral scale`` sets the count. As with honcho and foreman:

- the command runs through ``/bin/sh -c``, in the Procfile's directory,
  with the environment of corral plus the ``.env`` file beside the
  Procfile;
- ``PORT`` is set per process: the base port (``PORT`` in ``.env``, else
  in corral's environment, else 5000), plus 100 for each process type
  before it in the file, plus 1 for each process before it in its type;
  foreman's ``PS`` (``web.1``, counted from 1) is set too;
- stderr is merged into stdout, and both go to the console;
- stop sends SIGTERM to every process and SIGKILL 5 seconds later.

One difference is on purpose: honcho and foreman stop everything when
one process exits, which suits a development shell, not a supervisor.
corral restarts a process that exits, with back-off, as a dyno manager
does, until it fails too often and is marked fatal.

Lines that are not comments, blank or ``type: command`` are errors, as
are process type names other than letters, digits, ``_`` and ``-``.
"""

from __future__ import annotations

import os
import re

from corral.config.model import Config, Entry, ProgramConfig, build_program, literal
from corral.config.toml_reader import _read_text
from corral.errors import ConfigError

DEFAULT_PORT = 5000
PORT_STEP = 100
STOP_TIMEOUT = 5.0

_LINE = re.compile(r"([^:\s]*)\s*:\s*(.*)")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


def read_procfile(path: str) -> Config:
    """Read a Procfile and the .env beside it. Raises `ConfigError`."""
    main = path
    base_dir = os.path.dirname(os.path.abspath(path))
    lines = _process_lines(main)
    dotenv = os.path.join(os.path.dirname(path), ".env")
    env, env_notes = read_dotenv(dotenv)
    port = _base_port(env, dotenv, main)

    # One program per process type, each with its own block of ports.
    programs: dict[str, ProgramConfig] = {}
    for number, (line, name, command) in enumerate(lines):
        values = {k: literal(v) for k, v in env.items()}
        values["PORT"] = "{port}"
        values["PS"] = "{program_name}.{wid}"
        entries = {
            "cmd": Entry(literal(command), line, key=name),
            "shell": Entry(True, line),
            "env": Entry(values, line),
            "stderr": Entry("stdout", line),
            "stop_timeout": Entry(STOP_TIMEOUT, line),
        }
        warnings: tuple[str, ...] = ()
        if name == "release":
            warnings = (
                f"{main}:{line}: release: Heroku runs the release process type "
                "once per deploy; corral keeps it running like any other",
            )
        programs[name] = build_program(
            name,
            entries,
            file=main,
            line=line,
            base_dir=base_dir,
            template=True,
            port_base=port + PORT_STEP * number,
            command_text=command,
            warnings=warnings,
        )

    notes = (
        f"{main}:1: commands run through /bin/sh -c; PORT starts at {port} "
        f"(+{PORT_STEP} per process type, +1 per process); a process that "
        "exits is restarted (honcho and foreman would stop everything)",
        *env_notes,
    )
    return Config(
        path=os.path.abspath(main),
        state_dir=os.path.join(base_dir, ".corral"),
        programs=programs,
        notes=notes,
        format="procfile",
    )


def _process_lines(path: str) -> list[tuple[int, str, str]]:
    """The (line, name, command) of each process type, in file order."""
    found: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(_read_text(path).splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if "\0" in text:
            raise ConfigError("line contains a NUL byte", file=path, line=number)
        match = _LINE.fullmatch(text)
        if match is None:
            raise ConfigError(
                f"expected 'name: command', got {text!r}", file=path, line=number
            )
        name, command = match.groups()
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"invalid process type name {name!r}: use letters, digits, "
                "'_' and '-'",
                file=path,
                line=number,
            )
        if not command:
            raise ConfigError(
                "expected a command after the colon", file=path, line=number,
                key=name,
            )
        if name in seen:
            raise ConfigError(
                f"process type defined again (first at line {seen[name]})",
                file=path,
                line=number,
                key=name,
            )
        seen[name] = number
        found.append((number, name, command))
    return found


def _base_port(env: dict[str, str], env_path: str, procfile: str) -> int:
    """PORT from .env, else from corral's environment, else 5000."""
    text = env.get("PORT")
    file, line, where = env_path, _env_line(env_path, "PORT"), ""
    if text is None:
        text = os.environ.get("PORT")
        file, line, where = procfile, 1, " (from corral's environment)"
    if text is None:
        return DEFAULT_PORT
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535 - PORT_STEP:
        raise ConfigError(
            f"expected a base port number 1..{65535 - PORT_STEP}, got "
            f"{text!r}{where}",
            file=file,
            line=line,
            key="PORT",
        )
    return port


def _env_line(path: str, key: str) -> int | None:
    try:
        text = _read_text(path)
    except ConfigError:
        return None
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _ENV_LINE.fullmatch(raw.strip())
        if match and match.group(1) == key:
            return number
    return None


def read_dotenv(path: str) -> tuple[dict[str, str], list[str]]:
    """Read a ``.env`` file if there is one: its variables and a note.

    ``KEY=value`` per line, with an optional ``export``; ``#`` starts a
    comment line, or a comment after whitespace in a bare value. A value
    in single quotes is taken as it is; in double quotes, ``\\n`` is a
    newline, ``\\t`` a tab, and a backslash keeps the next character.
    Raises `ConfigError` at the first line that is none of these.
    """
    if not os.path.isfile(path):
        return {}, []
    env: dict[str, str] = {}
    for number, raw in enumerate(_read_text(path).splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(text)
        if match is None:
            raise ConfigError(
                f"expected KEY=value, got {text!r}", file=path, line=number
            )
        key, value = match.groups()
        env[key] = _env_value(value, path, number, key)
    note = f"{path}:1: {len(env)} variable(s) for every process type"
    return env, [note]


def _env_value(value: str, path: str, line: int, key: str) -> str:
    if "\0" in value:
        raise ConfigError("value contains a NUL byte", file=path, line=line, key=key)
    if not value or value[0] not in "'\"":
        # A bare value: a comment may follow after whitespace.
        match = re.search(r"\s#", value)
        return (value[: match.start()] if match else value).strip()

    # A quoted value, then nothing but a comment.
    quote = value[0]
    out: list[str] = []
    i = 1
    while i < len(value) and value[i] != quote:
        char = value[i]
        if quote == '"' and char == "\\" and i + 1 < len(value):
            i += 1
            char = {"n": "\n", "t": "\t"}.get(value[i], value[i])
        out.append(char)
        i += 1
    if i >= len(value):
        raise ConfigError(
            f"the value has no closing {quote} (values end with their line)",
            file=path,
            line=line,
            key=key,
        )
    rest = value[i + 1 :].strip()
    if rest and not rest.startswith("#"):
        raise ConfigError(
            f"unexpected {rest!r} after the closing {quote}",
            file=path,
            line=line,
            key=key,
        )
    return "".join(out)
