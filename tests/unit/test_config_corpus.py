"""Real-world-shaped configs resolve to exactly what they mean.

Each file in tests/configs/ with a ``NAME.expected.json`` beside it is
read with a fixed environment, and the resolved programs (or the one-line
error) are compared with that file: command of each of the first
processes, environment, restart and stop policy, streams, notes and the
reader's warnings. Paths under tests/configs/ are written ``<corpus>``.

After a deliberate change, ``CORRAL_UPDATE_CORPUS=1 pytest
tests/unit/test_config_corpus.py`` rewrites the expected files; review
the diff before committing it.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import pytest

from corral.config import load
from corral.config.model import ProgramConfig, StreamConfig
from corral.errors import ConfigError
from corral.signals import signal_name

CORPUS = Path(__file__).resolve().parents[1] / "configs"
SUFFIX = ".expected.json"
ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/home/deploy",
    "LANG": "C.UTF-8",
    "APP_ROOT": "/srv/app",
}
SHOWN_PROCESSES = 3
UPDATE = bool(os.environ.get("CORRAL_UPDATE_CORPUS"))


def corpus_files() -> list[Path]:
    found = [p.with_name(p.name[: -len(SUFFIX)]) for p in CORPUS.rglob(f"*{SUFFIX}")]
    return sorted(found)


@pytest.fixture(autouse=True)
def _fixed_world(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(platform, "node", lambda: "buildhost")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(str(CORPUS), "<corpus>")
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _stream(stream: StreamConfig) -> dict[str, Any]:
    shown: dict[str, Any] = {"kind": stream.kind}
    if stream.kind == "file":
        shown.update(path=stream.path, max_bytes=stream.max_bytes,
                     backups=stream.backups)
    if stream.timestamps:
        shown["timestamps"] = stream.timestamps
    return shown


def _program(prog: ProgramConfig) -> dict[str, Any]:
    return {
        "name": prog.name,
        "command": prog.command_text,
        "shell": prog.shell,
        "numprocs": prog.numprocs,
        "processes": [
            {"argv": list(prog.argv_for(i)), "env": dict(prog.env_for(i))}
            for i in range(min(prog.numprocs, SHOWN_PROCESSES))
        ],
        "inherit_env": prog.inherit_env,
        "cwd": prog.cwd,
        "user": prog.user,
        "group": prog.group,
        "umask": None if prog.umask is None else f"{prog.umask:03o}",
        "autostart": prog.autostart,
        "restart": prog.restart,
        "exit_codes": sorted(prog.exit_codes),
        "start_secs": prog.start_secs,
        "start_retries": prog.start_retries,
        "backoff": prog.backoff,
        "stop_signal": signal_name(prog.stop_signal),
        "stop_timeout": prog.stop_timeout,
        "stdout": _stream(prog.stdout),
        "stderr": _stream(prog.stderr),
        "priority": prog.priority,
        "depends_on": list(prog.depends_on),
        "notes": list(prog.notes),
        "warnings": list(prog.warnings),
    }


def resolve(path: Path) -> dict[str, Any]:
    """What corral makes of PATH, as plain data."""
    try:
        config = load(str(path))
    except ConfigError as exc:
        return {"error": _clean(str(exc))}
    return _clean({
        "format": config.format,
        "state_dir": config.state_dir,
        "programs": [_program(p) for p in config.ordered()],
        "notes": list(config.notes),
        "warnings": list(config.warnings),
    })


def test_the_corpus_is_large_enough() -> None:
    files = corpus_files()
    assert len(files) >= 15
    kinds = {f.relative_to(CORPUS).parts[0] for f in files}
    assert kinds == {"circus", "procfile", "supervisord", "toml"}


@pytest.mark.parametrize("path", corpus_files(),
                         ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file_resolves_as_expected(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Paths are given relative to the corpus, as a user in it would.
    monkeypatch.chdir(CORPUS)
    relative = path.relative_to(CORPUS)
    got = resolve(relative)
    expected_file = path.with_name(path.name + SUFFIX)
    if UPDATE:
        expected_file.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    expected = json.loads(expected_file.read_text())
    assert got == expected
