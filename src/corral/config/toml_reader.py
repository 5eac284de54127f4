"""The native format: TOML, read with the standard library's tomllib.

tomllib returns plain values without positions, so a small scanner walks
the text once more to find the line of every table header and key. It only
serves messages: if it ever guesses wrong, an error points at a nearby line,
it never changes what the file means.
"""

from __future__ import annotations

import os
import re
import tomllib
from typing import Any

from corral.config.model import Config, Entry, ProgramConfig, build_program
from corral.errors import ConfigError

CORRAL_KEYS = frozenset({"state_dir", "log_level", "listen", "token_file"})
MIN_TOKEN = 16
LOG_LEVELS = ("debug", "info", "warning", "error")

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
                  r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def read_toml(path: str) -> Config:
    """Read a corral TOML file. Raises `ConfigError` located at a line."""
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _AT_LINE.search(message)
        line = int(match.group(1)) if match else text.count("\n") + 1
        message = _AT_LINE.sub("", message).replace("(at end of document)", "")
        message = message.strip()
        raise ConfigError(f"invalid TOML: {message}", file=path, line=line) from None

    lines = locate_keys(text)
    base_dir = os.path.dirname(os.path.abspath(path))

    # Top level: only [corral] and [programs].
    for key in data:
        if key not in ("corral", "programs"):
            raise ConfigError(
                "unknown key (expected [corral] or [programs.NAME])",
                file=path,
                line=lines.get((key,)),
                key=key,
            )

    settings = _table(data, "corral", path, lines)
    for key in settings:
        if key not in CORRAL_KEYS:
            raise ConfigError(
                "unknown key", file=path, line=lines.get(("corral", key)), key=key
            )
    state_dir = settings.get("state_dir", ".corral")
    if not isinstance(state_dir, str) or not state_dir:
        raise ConfigError(
            f"expected a directory, got {state_dir!r}",
            file=path,
            line=lines.get(("corral", "state_dir")),
            key="state_dir",
        )
    log_level = settings.get("log_level", "info")
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}",
            file=path,
            line=lines.get(("corral", "log_level")),
            key="log_level",
        )

    listen, token = _listener(settings, path, lines, base_dir)

    programs: dict[str, ProgramConfig] = {}
    for name, table in _table(data, "programs", path, lines).items():
        where = lines.get(("programs", name))
        if not isinstance(table, dict):
            raise ConfigError(
                "expected a table [programs.NAME]", file=path, line=where, key=name
            )
        entries = {
            key: Entry(value, lines.get(("programs", name, key), where),
                       _sub_lines(lines, ("programs", name, key), value))
            for key, value in table.items()
        }
        programs[name] = build_program(
            name, entries, file=path, line=where, base_dir=base_dir
        )

    return Config(
        path=os.path.abspath(path),
        state_dir=os.path.normpath(os.path.join(base_dir, state_dir)),
        programs=programs,
        log_level=log_level,
        listen=listen,
        token=token,
    )


def _listener(
    settings: dict[str, Any], path: str, lines: dict[tuple[str, ...], int],
    base_dir: str,
) -> tuple[tuple[str, int] | None, str | None]:
    """[corral] listen and token_file: loopback only, and never without a token."""
    value = settings.get("listen")
    if value is None:
        if "token_file" in settings:
            raise ConfigError("token_file without listen", file=path,
                              line=lines.get(("corral", "token_file")),
                              key="token_file")
        return None, None

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(message, file=path, line=lines.get(("corral", key)),
                           key=key)

    if not isinstance(value, str):
        raise fail("listen", f"expected \"127.0.0.1:PORT\" or \"[::1]:PORT\", "
                   f"got {value!r}")
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise fail("listen", f"the control listener is for loopback only "
                   f"(127.0.0.1 or ::1), got {host or value!r}")
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise fail("listen", f"expected a port 1..65535, got {port!r}")

    token_file = settings.get("token_file")
    if not isinstance(token_file, str) or not token_file:
        raise fail("token_file" if "token_file" in settings else "listen",
                   "a TCP listener needs token_file: a file holding the token "
                   "clients must send")
    token_path = os.path.join(base_dir, os.path.expanduser(token_file))
    try:
        with open(token_path) as f:
            mode = os.fstat(f.fileno()).st_mode
            token = f.read().strip()
    except OSError as exc:
        raise fail("token_file", f"cannot read {token_path}: {exc.strerror}") \
            from None
    if mode & 0o077:
        raise fail("token_file", f"{token_path} can be read by other users (mode "
                   f"{mode & 0o777:04o}): the token would protect nothing; "
                   f"chmod 600 it")
    if len(token) < MIN_TOKEN:
        raise fail("token_file", f"the token in {token_path} is shorter than "
                   f"{MIN_TOKEN} characters")
    return ("127.0.0.1" if host == "localhost" else host, int(port)), token


def _sub_lines(
    lines: dict[tuple[str, ...], int], path: tuple[str, ...], value: Any
) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    return {k: lines[(*path, k)] for k in value if (*path, k) in lines}


def _table(
    data: dict[str, Any], key: str, path: str, lines: dict[tuple[str, ...], int]
) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(
            "expected a table", file=path, line=lines.get((key,)), key=key
        )
    return value


# Far beyond any real config (20,000 programs fit in 2 MiB); reading more
# would only stall the daemon while it parses.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=path) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"file is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} "
                          "MiB; refusing to read it as a config", file=path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("file is not valid UTF-8", file=path, line=line) from None


def _split_key(text: str) -> tuple[str, ...]:
    parts = []
    for match in re.finditer(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""", text):
        parts.append(next(g for g in match.groups() if g is not None))
    return tuple(parts)


def locate_keys(text: str) -> dict[tuple[str, ...], int]:
    """Map each table path and dotted key path to the line that defines it."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    open_quote: str | None = None

    # TOML ends lines at \n only; str.splitlines would also split at
    # characters that a comment or a string may contain.
    for number, line in enumerate(text.split("\n"), start=1):
        if open_quote is not None:
            open_quote = _scan_value(line, open_quote)
            continue

        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            found.setdefault(table, number)
            continue

        key = _KEY.match(line)
        if key:
            path = table + _split_key(key.group(1))
            for i in range(len(table) + 1, len(path) + 1):
                found.setdefault(path[:i], number)
            # Keys of an inline table on the same line.
            rest = line[key.end():]
            for sub in re.finditer(r"[{,]\s*([A-Za-z0-9_-]+)\s*=", rest):
                found.setdefault((*path, sub.group(1)), number)
            open_quote = _scan_value(rest, None)
    return found


def _scan_value(text: str, open_quote: str | None) -> str | None:
    """Walk the strings and comment of one line; return a quote left open.

    Only a multi-line string can stay open past the end of its line.
    """
    i = 0
    if open_quote is not None:
        end = _closing(text, 0, open_quote)
        if end < 0:
            return open_quote
        i = end
    while i < len(text):
        char = text[i]
        if char == "#":
            return None
        triple = text[i : i + 3]
        if triple in (TRIPLE_BASIC, TRIPLE_LITERAL):
            end = _closing(text, i + 3, triple)
            if end < 0:
                return triple
            i = end
        elif char in ("'", '"'):
            end = _closing(text, i + 1, char)
            i = end if end >= 0 else len(text)
        else:
            i += 1
    return None


TRIPLE_BASIC = '"' * 3
TRIPLE_LITERAL = "'" * 3


def _closing(text: str, start: int, quote: str) -> int:
    """The index just past the QUOTE that closes a string begun before START."""
    i = start
    while True:
        j = text.find(quote, i)
        if j < 0:
            return -1
        if quote[0] == '"' and _escaped(text, j):
            i = j + 1
            continue
        return j + len(quote)


def _escaped(text: str, index: int) -> bool:
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1
