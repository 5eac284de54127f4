"""Reading config files of every supported format into one `Config`.

`load` picks the reader from the file name, then from the content, so
users can point corral at the file they already have: ``*.toml`` is
corral's own format, ``Procfile``, ``Procfile.*`` and ``*.procfile`` are
Procfiles, and any other file is recognised by its sections
(``[watcher:x]`` for circus, ``[program:x]`` for supervisord) before its
extension (``.ini`` circus, ``.conf`` supervisord).
"""

from __future__ import annotations

import os
import re

from corral.config.model import Config, ProgramConfig, StreamConfig
from corral.errors import ConfigError

__all__ = ["Config", "ProgramConfig", "StreamConfig", "detect_format", "load"]

FORMATS = ("toml", "circus", "supervisord", "procfile")

_CIRCUS = re.compile(rb"^[ \t]*\[(watcher:|circus\]|env[:\]]|socket:|plugin:)",
                     re.MULTILINE)
_SUPERVISORD = re.compile(
    rb"^[ \t]*\[(program:|group:|supervisord\]|include\]|supervisorctl\]"
    rb"|unix_http_server\]|inet_http_server\]|eventlistener:|fcgi-program:)",
    re.MULTILINE,
)


def detect_format(path: str) -> str:
    """Return the format of a config file: toml, circus, supervisord or procfile."""
    name = os.path.basename(path)
    if name.lower().endswith(".toml"):
        return "toml"
    if name == "Procfile" or name.startswith("Procfile.") or name.endswith(
        ".procfile"
    ):
        return "procfile"
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=path) from None

    # The sections say more than the name: a circus.conf exists in the wild.
    circus, supervisord = _CIRCUS.search(head), _SUPERVISORD.search(head)
    if circus and not supervisord:
        return "circus"
    if supervisord and not circus:
        return "supervisord"
    if name.lower().endswith(".ini"):
        return "circus"
    if name.lower().endswith(".conf"):
        return "supervisord"
    return "toml"


def load(path: str) -> Config:
    """Read and validate a config file. Raises `ConfigError` located at a line."""
    kind = detect_format(path)
    if kind == "circus":
        from corral.config.circus import read_circus

        config = read_circus(path)
    elif kind == "supervisord":
        from corral.config.supervisord import read_supervisord

        config = read_supervisord(path)
    elif kind == "procfile":
        from corral.config.procfile import read_procfile

        config = read_procfile(path)
    else:
        from corral.config.toml_reader import read_toml

        config = read_toml(path)
    _check_references(config)
    return config


def _check_references(config: Config) -> None:
    for prog in config.programs.values():
        for dep in prog.depends_on:
            if dep not in config.programs:
                raise ConfigError(
                    f"unknown program {dep!r}",
                    file=prog.file,
                    line=prog.line_of("depends_on"),
                    key="depends_on",
                )
    config.ordered()
