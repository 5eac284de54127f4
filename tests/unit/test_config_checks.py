"""`corral check`: the translation it prints and the warnings it gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.checks import describe, warnings
from corral.cli import main
from corral.config import load


def test_check_takes_the_file_as_an_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "supervisord.conf"
    path.write_text("[program:web]\ncommand = /bin/true --n %(process_num)d\n"
                    "numprocs = 2\nprocess_name = web%(process_num)d\n"
                    "startsecs = 0\nautorestart = true\n")
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path} (supervisord): 1 program(s)" in out
    assert "web.0        /bin/true --n 0" in out
    assert "web.1        /bin/true --n 1" in out
    assert "note: " in out and "web0 → web.0" in out
    assert "warning: " in err and "startsecs=0" in err


def test_check_prints_one_line_and_fails_on_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "circus.ini"
    path.write_text("[watcher:a]\ncmd = a\nrlimit_nofile = 10\n")
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert f"{path}:3: rlimit_nofile: resource limits" in err


def test_warnings_for_risky_settings(tmp_path: Path) -> None:
    path = tmp_path / "corral.toml"
    path.write_text(
        '[programs.a]\ncmd = "no-such-program-here"\nstop_timeout = 0\n'
        'stop_signal = "KILL"\ncwd = "missing"\nuser = "no-such-user-here"\n'
    )
    found = "\n".join(warnings(load(str(path))))
    assert "stop_timeout is 0" in found
    assert "the stop signal is SIGKILL" in found
    assert "no-such-program-here is not an executable file" in found
    assert "working directory" in found and "does not exist" in found
    assert "there is no user 'no-such-user-here'" in found


def test_describe_shows_defaults_kept_from_the_other_tool(tmp_path: Path) -> None:
    path = tmp_path / "circus.ini"
    path.write_text("[watcher:a]\ncmd = a\n[env:a]\nMULTI = x\n")
    text = "\n".join(describe(load(str(path))))
    assert "SIGKILL after 30 s" in text
    assert "an empty environment + MULTI=x" in text
    assert "console (corral's own output)" in text
