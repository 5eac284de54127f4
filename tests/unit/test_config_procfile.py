"""The Procfile reader, with the .env file beside it.

Process types become programs run through /bin/sh -c, with PORT set per
process as foreman sets it. Errors are ``FILE:LINE: message``; random
input ends in a `Config` or a `ConfigError`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.checks import describe, warnings
from corral.config import detect_format, load
from corral.config.procfile import read_dotenv
from corral.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_process_types_ports_and_shell(tmp_path: Path) -> None:
    path = write(tmp_path, "Procfile", (
        "# a Rails app\n"
        "web: bundle exec puma -p $PORT -C config/puma.rb\n"
        "\n"
        "worker:   bundle exec sidekiq -c ${CONCURRENCY:-5}\n"
        "clock-tick: ruby clock.rb\n"
    ))
    config = load(str(path))
    assert config.format == "procfile"
    assert list(config.programs) == ["web", "worker", "clock-tick"]
    web, worker, clock = config.programs.values()
    assert web.shell and web.argv_for(0) == (
        "/bin/sh", "-c", "bundle exec puma -p $PORT -C config/puma.rb")
    assert worker.argv_for(0)[2] == "bundle exec sidekiq -c ${CONCURRENCY:-5}"
    assert worker.command_text == "bundle exec sidekiq -c ${CONCURRENCY:-5}"
    ports = [dict(p.env_for(i))["PORT"] for p in (web, worker, clock)
             for i in range(2)]
    assert ports == ["5000", "5001", "5100", "5101", "5200", "5201"]
    assert dict(worker.env_for(1))["PS"] == "worker.2"
    assert web.stderr.kind == "stdout" and web.stdout.kind == "console"
    assert web.stop_timeout == 5.0 and web.restart == "always"
    assert web.cwd == str(tmp_path) and web.inherit_env


def test_dotenv_values_and_base_port(tmp_path: Path) -> None:
    write(tmp_path, ".env", (
        "# settings\n"
        "export RAILS_ENV=production\n"
        "PORT=6000\n"
        "SINGLE='a $b \"c\"'\n"
        'DOUBLE="line1\\nline2 \\"q\\" \\\\ end"\n'
        "BARE=value with spaces # a comment\n"
        "URL=postgres://x/db#frag\n"
        "EMPTY=\n"
        "BRACES={json}\n"
    ))
    path = write(tmp_path, "Procfile", "web: node server.js\n")
    prog = load(str(path)).programs["web"]
    env = dict(prog.env_for(0))
    assert env["PORT"] == "6000"
    assert env["RAILS_ENV"] == "production"
    assert env["SINGLE"] == 'a $b "c"'
    assert env["DOUBLE"] == 'line1\nline2 "q" \\ end'
    assert env["BARE"] == "value with spaces"
    assert env["URL"] == "postgres://x/db#frag"
    assert env["EMPTY"] == ""
    assert env["BRACES"] == "{json}"


def test_port_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "3000")
    path = write(tmp_path, "Procfile", "web: app\napi: api\n")
    config = load(str(path))
    assert dict(config.programs["api"].env_for(0))["PORT"] == "3100"


def test_release_type_is_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, "Procfile", "web: app\nrelease: ./migrate\n")
    prog = load(str(path)).programs["release"]
    assert any("once per deploy" in w for w in prog.warnings)


@pytest.mark.parametrize("name", ["Procfile", "Procfile.dev", "app.procfile"])
def test_procfiles_are_recognised_by_name(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "web: app\n")
    assert detect_format(str(path)) == "procfile"


ERRORS = [
    ("web: app\nthis is not a process line\n", 2,
     "expected 'name: command', got 'this is not a process line'"),
    ("web.1: app\n", 1, "invalid process type name 'web.1': use letters, digits, '_' and '-'"),
    ("web: app\n\nweb: other\n", 3, "web: process type defined again (first at line 1)"),
    ("web:\n", 1, "web: expected a command after the colon"),
    ("web: a\x00b\n", 1, "line contains a NUL byte"),
]


@pytest.mark.parametrize(("text", "line", "message"), ERRORS)
def test_procfile_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "Procfile", text)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value) == f"{path}:{line}: {message}"


DOTENV_ERRORS = [
    ("A=1\nnot an assignment\n", 2, "expected KEY=value, got 'not an assignment'"),
    ('A="open\n', 1, 'A: the value has no closing " (values end with their line)'),
    ("A='x' y\n", 1, "A: unexpected 'y' after the closing '"),
    ("PORT=http\n", 1, "PORT: expected a base port number 1..65435, got 'http'"),
    ("1X=1\n", 1, "expected KEY=value, got '1X=1'"),
]


@pytest.mark.parametrize(("text", "line", "message"), DOTENV_ERRORS)
def test_dotenv_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    env = write(tmp_path, ".env", text)
    path = write(tmp_path, "Procfile", "web: app\n")
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value) == f"{env}:{line}: {message}"


def test_bad_port_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "0")
    path = write(tmp_path, "Procfile", "web: app\n")
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value).startswith(f"{path}:1: PORT: expected a base port")
    assert "from corral's environment" in str(info.value)


def test_no_dotenv_is_fine(tmp_path: Path) -> None:
    assert read_dotenv(str(tmp_path / ".env")) == ({}, [])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.text(max_size=100))
def test_random_input_ends_in_config_or_error(procfile: str, dotenv: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        for name, text in (("Procfile", procfile), (".env", dotenv)):
            with open(os.path.join(directory, name), "w", encoding="utf-8",
                      errors="surrogatepass") as f:
                f.write(text)
        try:
            config = load(os.path.join(directory, "Procfile"))
        except ConfigError as exc:
            assert str(exc).startswith(directory) and "\n" not in str(exc)
            return
        for prog in config.programs.values():
            prog.argv_for(0)
            prog.env_for(1)
        list(describe(config))
        list(warnings(config))
