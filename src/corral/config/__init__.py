"""Reading config files of every supported format into one `Config`.

`load` picks the reader from the file name, then from the content, so
users can point corral at the file they already have.
"""

from __future__ import annotations

import os

from corral.config.model import Config, ProgramConfig, StreamConfig
from corral.errors import ConfigError

__all__ = ["Config", "ProgramConfig", "StreamConfig", "detect_format", "load"]

FORMATS = ("toml", "circus", "supervisord")


def detect_format(path: str) -> str:
    """Return the format of a config file: toml, circus or supervisord."""
    name = os.path.basename(path).lower()
    if name.endswith(".toml"):
        return "toml"
    if name.endswith(".ini"):
        return "circus"
    if name.endswith(".conf"):
        return "supervisord"
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=path) from None
    if b"[watcher:" in head or b"[circus]" in head:
        return "circus"
    if b"[program:" in head or b"[supervisord]" in head:
        return "supervisord"
    return "toml"


def load(path: str) -> Config:
    """Read and validate a config file. Raises `ConfigError` located at a line."""
    kind = detect_format(path)
    if kind == "circus":
        from corral.config.circus import read_circus

        config = read_circus(path)
    elif kind == "supervisord":
        raise ConfigError(
            "supervisord .conf files are not supported yet", file=path, line=1
        )
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
