"""The command line: parsing, finding the daemon, one-line errors, exit codes.

Every test runs in its own empty directory with CORRAL_CONFIG and
CORRAL_SOCKET unset. "No daemon" is a socket path in that directory that
does not exist; a daemon that answers is the scripted `ScriptServer`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from corral import __version__, cli
from corral.cli import build_parser, main, socket_path
from corral.errors import UsageError
from tests.unit.conftest import ScriptServer, json_reply, reply

VALID = """\
[programs.web]
cmd = "python -m http.server"
"""


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CORRAL_CONFIG", raising=False)
    monkeypatch.delenv("CORRAL_SOCKET", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_error_line(err: str) -> str:
    """The single line a failed command prints to stderr."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------------
# Parsing


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "a.toml", "status"],
        ["status", "-c", "a.toml"],
        ["--config", "a.toml", "status", "web"],
        ["status", "web", "--config=a.toml"],
        ["status", "--config", "a.toml", "web"],
    ],
)
def test_config_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.config == "a.toml"
    assert args.socket is None


@pytest.mark.parametrize(
    "argv",
    [["--socket", "/s", "stop", "web"], ["stop", "web", "--socket", "/s"],
     ["stop", "--socket=/s", "web"]],
)
def test_socket_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.socket == "/s"
    assert args.names == ["web"]
    assert args.config is None


def test_the_option_after_the_command_wins() -> None:
    args = build_parser().parse_args(["-c", "a.toml", "status", "-c", "b.toml"])
    assert args.config == "b.toml"


def test_global_option_survives_a_command_that_does_not_repeat_it() -> None:
    """The subcommand's defaults must not reset what came before it."""
    args = build_parser().parse_args(["--socket", "/s", "-c", "a.toml", "reload"])
    assert (args.socket, args.config) == ("/s", "a.toml")


def test_signal_arguments() -> None:
    args = build_parser().parse_args(["signal", "web.1", "HUP", "--tree"])
    assert (args.name, args.signal, args.target) == ("web.1", "HUP", "tree")
    assert build_parser().parse_args(["signal", "web", "1"]).target is None


def test_negative_signal_number_is_a_value_not_an_option() -> None:
    args = build_parser().parse_args(["signal", "web", "-9"])
    assert args.signal == "-9"


def test_parser_errors_are_usage_errors_not_exits() -> None:
    with pytest.raises(UsageError, match=r"\(see 'corral scale --help'\)$"):
        build_parser().parse_args(["scale", "web", "many"])


# ---------------------------------------------------------------------------
# Usage errors: one line, exit 2, nothing touched


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bogus"], "corral: argument COMMAND: invalid choice: 'bogus'"),
        (["signal"], "corral: the following arguments are required: NAME, SIGNAL"),
        (["signal", "web"], "corral: the following arguments are required: SIGNAL"),
        (["scale", "web", "x"], "corral: argument N: invalid int value: 'x'"),
        (["scale", "web", "-1"], "corral: N: expected a number of processes >= 0"),
        (["status", "--bogus"], "corral: unrecognized arguments: --bogus"),
        (["-c"], "corral: argument -c/--config: expected one argument"),
        (["start"], "corral: name what to start, or use --all"),
        (["stop"], "corral: name what to stop, or use --all"),
        (["restart"], "corral: name what to restart, or use --all"),
        (["logs", "web", "-n", "-1"], "corral: -n: expected a number of lines >= 0"),
        (["logs", "web", "-n", "ten"], "corral: argument -n/--lines: invalid int"),
        (["signal", "web", "HUP", "--main", "--tree"],
         "corral: argument --tree: not allowed with argument --main"),
        (["signal", "web", "NOPE"],
         "corral: invalid signal 'NOPE': not a signal name or number"),
        (["signal", "web", "0"], "corral: invalid signal '0': out of range 1.."),
        (["signal", "web", "-9"], "corral: invalid signal '-9': out of range 1.."),
        (["signal", "web", ""], "corral: invalid signal '': not a signal name"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(
    capsys: pytest.CaptureFixture[str], server: ScriptServer, argv: list[str],
    message: str,
) -> None:
    """Refused before any request: the listening server hears nothing."""
    status, out, err = run(capsys, *argv, "--socket", server.path)
    assert status == 2
    assert one_error_line(err).startswith(message)
    assert out == ""
    assert server.requests == []


def test_bad_signal_is_refused_before_looking_for_a_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys, "signal", "web", "SIGNOPE")
    assert status == 2
    assert one_error_line(err) == (
        "corral: invalid signal 'SIGNOPE': not a signal name or number"
    )


def test_regression_superscript_digit_signal_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`corral signal web ²` must say 'invalid signal', not print a traceback."""
    status, _, err = run(capsys, "signal", "web", "\u00b2")
    assert status == 2
    assert one_error_line(err).startswith("corral: invalid signal")


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys)
    assert status == 2
    assert out.startswith("usage: corral")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"corral {__version__}\n"


# ---------------------------------------------------------------------------
# Finding the config and the socket


def test_missing_config_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "status")
    assert status == 2
    assert one_error_line(err) == (
        "corral: no config file: pass -c FILE, set CORRAL_CONFIG, "
        "or run where corral.toml is"
    )


def test_config_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "status", "-c", "nope.toml")
    assert status == 2
    assert one_error_line(err) == (
        "corral: cannot read config nope.toml: No such file or directory"
    )


def args_for(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args([*argv, "status"])


def test_socket_option_wins_over_everything(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "corral.toml").write_text(VALID)
    monkeypatch.setenv("CORRAL_SOCKET", "/env.sock")
    assert socket_path(args_for("--socket", "/opt.sock", "-c", "corral.toml")) == (
        "/opt.sock"
    )


def test_config_option_wins_over_corral_socket(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "a.toml").write_text(VALID)
    monkeypatch.setenv("CORRAL_SOCKET", "/env.sock")
    assert socket_path(args_for("-c", "a.toml")) == str(here / ".corral" / "corral.sock")


def test_corral_socket_wins_over_the_config_in_this_directory(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "corral.toml").write_text(VALID)
    monkeypatch.setenv("CORRAL_SOCKET", "/env.sock")
    assert socket_path(args_for()) == "/env.sock"


def test_config_in_this_directory_wins_over_corral_config(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "corral.toml").write_text(VALID)
    other = here / "elsewhere"
    other.mkdir()
    (other / "c.toml").write_text(VALID)
    monkeypatch.setenv("CORRAL_CONFIG", str(other / "c.toml"))
    assert socket_path(args_for()) == str(here / ".corral" / "corral.sock")
    (here / "corral.toml").unlink()
    assert socket_path(args_for()) == str(other / ".corral" / "corral.sock")


@pytest.mark.parametrize(
    ("corral_table", "state_dir"),
    [
        ('state_dir = "run/corral"', "sub/run/corral"),
        ('state_dir = "../up"', "up"),
        ('state_dir = "/abs/dir"', "/abs/dir"),
        ("state_dir = 5", "sub/.corral"),
        ("log_level = 'debug'", "sub/.corral"),
    ],
)
def test_state_dir_of_the_config_is_beside_it(
    here: Path, corral_table: str, state_dir: str
) -> None:
    (here / "sub").mkdir()
    (here / "sub" / "c.toml").write_text(f"[corral]\n{corral_table}\n\n{VALID}")
    expected = os.path.join(here, state_dir, "corral.sock")
    assert socket_path(args_for("-c", "sub/c.toml")) == os.path.normpath(expected)


def test_unreadable_toml_falls_back_to_the_default_state_dir(here: Path) -> None:
    (here / "c.toml").write_text('state_dir = "x\n[[[')
    assert socket_path(args_for("-c", "c.toml")) == str(here / ".corral" / "corral.sock")


def test_regression_state_dir_of_a_toml_file_without_extension(here: Path) -> None:
    """The daemon and the client must agree on where the socket is.

    `load` treats a file with no known extension as TOML; `_state_dir`
    ignores its [corral] state_dir, so every command says no daemon runs.
    """
    (here / "services").write_text(f'[corral]\nstate_dir = "run"\n\n{VALID}')
    assert socket_path(args_for("-c", "services")) == str(here / "run" / "corral.sock")


# ---------------------------------------------------------------------------
# No daemon: exit 3, one line


DAEMON_COMMANDS = [
    ["status"],
    ["status", "--json", "web"],
    ["start", "web"],
    ["stop", "--all"],
    ["restart", "web.0"],
    ["signal", "web", "TERM"],
    ["logs", "web"],
    ["logs", "-f", "web"],
    ["logs", "--reopen"],
    ["reload"],
    ["scale", "web", "2"],
    ["down"],
]


@pytest.mark.parametrize("argv", DAEMON_COMMANDS, ids=" ".join)
def test_no_daemon_through_socket_option(
    capsys: pytest.CaptureFixture[str], here: Path, argv: list[str]
) -> None:
    path = here / "absent.sock"
    status, out, err = run(capsys, *argv, "--socket", str(path))
    assert status == 3
    assert one_error_line(err) == f"corral: no daemon is running (no socket at {path})"
    assert out == ""


@pytest.mark.parametrize(
    "how", ["-c before", "-c after", "corral.toml here", "CORRAL_CONFIG", "CORRAL_SOCKET"]
)
def test_no_daemon_found_every_way(
    capsys: pytest.CaptureFixture[str], here: Path, monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    config = here / "corral.toml"
    config.write_text(VALID)
    expected = here / ".corral" / "corral.sock"
    argv = ["status"]
    if how == "-c before":
        argv = ["-c", str(config), "status"]
    elif how == "-c after":
        argv = ["status", "-c", str(config)]
    elif how == "CORRAL_CONFIG":
        monkeypatch.chdir(here / "..")
        monkeypatch.setenv("CORRAL_CONFIG", str(config))
    elif how == "CORRAL_SOCKET":
        expected = here / "env.sock"
        monkeypatch.setenv("CORRAL_SOCKET", str(expected))

    status, _, err = run(capsys, *argv)
    assert status == 3
    assert one_error_line(err) == f"corral: no daemon is running (no socket at {expected})"


# ---------------------------------------------------------------------------
# check: 0 and 1 without any daemon


def test_check_of_a_valid_config_exits_0(capsys: pytest.CaptureFixture[str],
                                        here: Path) -> None:
    (here / "corral.toml").write_text(VALID)
    status, out, err = run(capsys, "check")
    assert status == 0
    assert "web" in out
    assert "Traceback" not in err


def test_check_of_an_invalid_config_exits_1_with_file_line_key(
    capsys: pytest.CaptureFixture[str], here: Path
) -> None:
    (here / "corral.toml").write_text(VALID + "numprocs = -1\n")
    status, _, err = run(capsys, "check")
    assert status == 1
    assert one_error_line(err) == "corral.toml:3: numprocs: expected 0..10000, got -1"


def test_check_of_a_missing_file_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "check", "-c", "nope.toml")
    assert status == 1
    assert one_error_line(err).startswith("nope.toml:")
    assert err.rstrip().endswith("cannot read config: No such file or directory")


def test_check_without_any_config_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "check")
    assert status == 2
    assert one_error_line(err).startswith("corral: no config file")


# ---------------------------------------------------------------------------
# A daemon that answers


PROCESS = {"name": "web.0", "program": "web", "pid": 4242, "state": "running",
           "uptime": 5.0, "restarts": 0, "exit": None, "exit_code": None,
           "reason": None, "since": 0.0}


def text_reply(text: str, trouble: str = "0") -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncorral-trouble: "
            f"{trouble}\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body


@pytest.mark.parametrize(("trouble", "code"), [("0", 0), ("1", 1)])
def test_status_prints_the_daemon_s_table(
    capsys: pytest.CaptureFixture[str], server: ScriptServer, trouble: str, code: int
) -> None:
    """The plain `status` asks the daemon for the table: no json, no argparse."""
    server.answer(text_reply("NAME  PID\nweb.0 4242\n", trouble))
    status, out, _ = run(capsys, "status", "--socket", server.path)
    assert status == code
    assert out == "NAME  PID\nweb.0 4242\n"
    assert server.requests[0][0] == "GET /v1/status?format=table&colour=0 HTTP/1.1"


@pytest.mark.parametrize(("state", "code"),
                         [("fatal", 1), ("backoff", 1), ("stopped", 0), ("exited", 0)])
def test_status_exit_code_follows_the_worst_state(
    capsys: pytest.CaptureFixture[str], server: ScriptServer, state: str, code: int
) -> None:
    server.answer(json_reply("200 OK", {"processes": [PROCESS, {**PROCESS,
                                                                "state": state}]}))
    status, out, _ = run(capsys, "status", "--json", "--socket", server.path)
    assert status == code
    assert [p["state"] for p in json.loads(out)] == ["running", state]


def test_status_names_go_in_the_query(
    capsys: pytest.CaptureFixture[str], server: ScriptServer
) -> None:
    server.answer(text_reply("no programs\n"))
    status, out, _ = run(capsys, "status", "web", "db.1", "--socket", server.path)
    assert status == 0
    assert out == "no programs\n"
    assert server.requests[0][0] == ("GET /v1/status?format=table&colour=0"
                                     "&names=web,db.1 HTTP/1.1")


def test_start_prints_each_result(
    capsys: pytest.CaptureFixture[str], server: ScriptServer
) -> None:
    """Plain start/stop/restart ask for text and send JSON built by hand."""
    server.answer(text_reply("web.0: started (pid 10)\n"))
    status, out, _ = run(capsys, "start", "web", "--socket", server.path)
    assert status == 0
    assert out == "web.0: started (pid 10)\n"
    assert server.requests[0][0] == "POST /v1/start?format=text HTTP/1.1"
    assert json.loads(server.requests[0][2]) == {"names": ["web"], "all": False}


def test_plain_stop_failure_is_one_line(
    capsys: pytest.CaptureFixture[str], server: ScriptServer
) -> None:
    body = b"web.0: exited after 0.01 s: exit status 1\n"
    server.answer(b"HTTP/1.1 409 Conflict\r\ncontent-type: text/plain\r\n"
                  b"content-length: %d\r\n\r\n" % len(body) + body)
    status, _, err = run(capsys, "stop", "--all", "--socket", server.path)
    assert status == 1
    assert err == "corral: web.0: exited after 0.01 s: exit status 1\n"
    assert json.loads(server.requests[0][2]) == {"names": [], "all": True}


@pytest.mark.parametrize(
    ("http", "code"),
    [("409 Conflict", 1), ("404 Not Found", 2), ("400 Bad Request", 2),
     ("500 Internal Server Error", 1)],
)
def test_daemon_errors_become_one_line_and_their_exit_code(
    capsys: pytest.CaptureFixture[str], server: ScriptServer, http: str, code: int
) -> None:
    server.answer(json_reply(http, {"error": "web.0: exit status 1"}))
    status, out, err = run(capsys, "restart", "--all", "--socket", server.path)
    assert status == code
    assert one_error_line(err) == "corral: web.0: exit status 1"
    assert out == ""


def test_signal_sends_the_number_and_the_target(
    capsys: pytest.CaptureFixture[str], server: ScriptServer
) -> None:
    server.answer(json_reply("200 OK", {"results": [
        {"name": "web.0", "ok": True, "message": "sent to pid 10"}]}))
    status, out, _ = run(capsys, "signal", "web", "sighup", "--main",
                         "--socket", server.path)
    assert status == 0
    assert out == "web.0: SIGHUP sent to pid 10\n"
    assert json.loads(server.requests[0][2]) == {
        "name": "web", "signal": 1, "target": "main"}


def test_signal_target_defaults_to_the_group(
    capsys: pytest.CaptureFixture[str], server: ScriptServer
) -> None:
    server.answer(json_reply("200 OK", {"results": []}))
    assert run(capsys, "signal", "web", "10", "--socket", server.path)[0] == 0
    assert json.loads(server.requests[0][2])["target"] == "group"


def test_scale(capsys: pytest.CaptureFixture[str], server: ScriptServer) -> None:
    server.answer(json_reply("200 OK", {"results": []}))
    status, out, _ = run(capsys, "scale", "web", "3", "--socket", server.path)
    assert status == 0
    assert out == "corral: web runs 3 process(es)\n"
    assert json.loads(server.requests[0][2]) == {"name": "web", "count": 3}


def test_reload_summary(capsys: pytest.CaptureFixture[str], server: ScriptServer) -> None:
    server.answer(json_reply("200 OK", {"added": ["db"], "removed": [],
                                        "restarted": ["web", "api"]}))
    status, out, _ = run(capsys, "reload", "--socket", server.path)
    assert status == 0
    assert out == "corral: reloaded; added: db; restarted: web, api\n"


def test_reload_with_nothing_changed(
    capsys: pytest.CaptureFixture[str], server: ScriptServer
) -> None:
    server.answer(json_reply("200 OK", {"added": [], "removed": []}))
    assert run(capsys, "reload", "--socket", server.path)[1] == (
        "corral: reloaded; nothing changed\n"
    )


def test_logs_copies_the_bytes(
    capsys: pytest.CaptureFixture[str], server: ScriptServer
) -> None:
    server.answer(reply("200 OK", b"web.0 | one\nweb.0 | two\n"))
    status, out, _ = run(capsys, "logs", "web", "-n", "2", "--stderr",
                         "--socket", server.path)
    assert status == 0
    assert out == "web.0 | one\nweb.0 | two\n"
    assert server.requests[0][0] == (
        "GET /v1/logs?names=web&n=2&stream=stderr&follow=0 HTTP/1.1"
    )


def test_stale_socket_is_no_daemon(capsys: pytest.CaptureFixture[str], here: Path) -> None:
    """A daemon killed with SIGKILL leaves its socket file behind."""
    import socket

    path = str(here / "stale.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
    status, _, err = run(capsys, "status", "--socket", path)
    assert status == 3
    assert one_error_line(err).startswith("corral: no daemon is running")


def test_handlers_cover_every_command() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions
               if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(cli.HANDLERS)


def test_plain_status_imports_nothing_heavy(tmp_path: Path) -> None:
    """`corral status` must start fast: no argparse, json, typing or asyncio."""
    import subprocess
    import sys

    code = ("import sys; from corral.cli import main; "
            "sys.exit(main(['status', '--socket', sys.argv[1]]))")
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code,
                             str(tmp_path / "none.sock")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert imported.isdisjoint({"argparse", "json", "typing", "asyncio", "h11", "re"})


@pytest.mark.parametrize("text", [
    '[corral]\nstate_dir = "run"\n',
    "[corral]\nstate_dir = 'run' # here\n",
    '[corral]\nlog_level = "info"\nstate_dir = "../var/corral"\n',
    '[corral]\nstate_dir = "a\\\\b"\n',
    'corral.state_dir = "dotted"\n',
    '[corral] # settings\nstate_dir = "commented"\n',
    '[programs.x]\ncmd = "state_dir"\n',
])
def test_state_dir_shortcut_agrees_with_tomllib(here: Path, text: str) -> None:
    """The client's quick look at state_dir finds what the daemon will use."""
    import tomllib

    path = here / "corral.toml"
    path.write_text(text)
    wanted = tomllib.loads(text).get("corral", {}).get("state_dir", ".corral")
    assert socket_path(args_for("-c", str(path))) == os.path.normpath(
        os.path.join(here, wanted, "corral.sock"))
