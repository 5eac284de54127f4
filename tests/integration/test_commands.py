"""The command line at its edges: which daemon a command reaches, and
output that cannot be written."""

from __future__ import annotations

import subprocess

from tests.conftest import CORRAL, Env

SLEEPER = '[programs.{name}]\ncmd = "sleep 1000"\n'


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 1, result.stderr


def test_two_configs_sharing_a_state_directory_are_told_apart(env: Env) -> None:
    env.config(SLEEPER.format(name="a"))
    env.config(SLEEPER.format(name="other"), "other.toml")
    env.up()

    second = env.run("up", "--detach", "-c", "other.toml")
    assert second.returncode == 1
    assert "in use by the daemon of" in second.stderr
    assert "corral.toml" in second.stderr and "state_dir" in second.stderr

    for command in (["status"], ["reload"], ["down"], ["stop", "other"]):
        result = env.run("-c", "other.toml", *command)
        no_traceback(result)
        assert result.returncode == 1, (command, result)
        assert "runs" in result.stderr and "not" in result.stderr
    # Nothing reached the daemon of corral.toml.
    assert env.one("a.0")["state"] in ("starting", "running")


def test_an_edited_state_dir_does_not_start_the_programs_twice(env: Env) -> None:
    env.config(SLEEPER.format(name="a"))
    env.up()
    env.wait_state("a.0", "running")
    env.config('[corral]\nstate_dir = "elsewhere"\n' + SLEEPER.format(name="a"))

    status = env.run("status")
    assert status.returncode == 3
    assert "--socket" in status.stderr and ".corral/corral.sock" in status.stderr

    again = env.run("up", "--detach")
    assert again.returncode == 1
    assert "already running" in again.stderr and "state_dir changed" in again.stderr
    assert len(env.matching("sleep 1000")) == 1

    env.ok("--socket", str(env.path / ".corral/corral.sock"), "down")
    env.up()  # free again: the lock went with the daemon
    env.ok("down")


def test_status_and_down_reach_a_daemon_whose_config_is_gone(env: Env) -> None:
    config = env.config(SLEEPER.format(name="a"))
    env.up()
    config.unlink()
    env.ok("status")
    (env.path / "corral.toml").mkdir()
    env.ok("-c", "corral.toml", "status")
    env.ok("-c", "corral.toml", "down")
    assert env.matching("sleep 1000") == []


def test_output_that_cannot_be_written_ends_in_one_line(env: Env) -> None:
    env.config(SLEEPER.format(name="a"))
    env.up()
    # A closed stdout: nothing to print to, and no traceback either.
    closed = subprocess.run(f"exec {CORRAL} status >&-", shell=True, cwd=env.path,
                            env=env.env, capture_output=True, text=True, timeout=30)
    assert closed.returncode == 0, closed.stderr
    no_traceback(closed)
    # A full device: one line saying so.
    with open("/dev/full", "w") as full:
        result = subprocess.run([CORRAL, "status"], cwd=env.path, env=env.env,
                                stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=30)
    assert result.returncode == 1
    assert "No space left on device" in result.stderr
    no_traceback(result)  # type: ignore[arg-type]
    # A reader that goes away: quiet.
    piped = subprocess.run(f"{CORRAL} check | head -c 0; exit ${{PIPESTATUS[0]}}",
                           shell=True, executable="/bin/bash", cwd=env.path,
                           env=env.env, capture_output=True, text=True, timeout=30)
    no_traceback(piped)
    assert piped.returncode in (0, 141)
    # `up` with its stdout closed still starts, and nothing of its lands
    # on a descriptor it opens later.
    env.ok("down")
    started = subprocess.run(f"exec {CORRAL} up --detach >&-", shell=True,
                             cwd=env.path, env=env.env, capture_output=True,
                             text=True, timeout=30)
    assert started.returncode == 0, started.stderr
    env.ok("status")


def test_bad_control_addresses_are_refused_in_one_line(env: Env) -> None:
    env.config(SLEEPER.format(name="a"))
    cases = {
        "http://127.0.0.1:99999": "port",
        "http://example.com:80": "loopback",
        "http://user@127.0.0.1:1": "loopback",
        "http://127.evil.example:80": "loopback",
        "https://127.0.0.1:1": "expected a Unix socket path",
        "": "empty",
    }
    for address, words in cases.items():
        result = env.run("--socket", address, "status")
        no_traceback(result)
        assert result.returncode == 2, (address, result)
        assert words in result.stderr, (address, result.stderr)
    env.env["CORRAL_TOKEN"] = "a\r\nX-Injected: 1"
    result = env.run("--socket", "http://127.0.0.1:1", "status")
    assert result.returncode == 2 and "CORRAL_TOKEN" in result.stderr


def test_configs_too_large_to_be_real_are_refused_quickly(env: Env) -> None:
    env.config('[programs.big]\ncmd = "echo ' + "a " * 100_000 + '"\n')
    result = env.run("check", timeout=10)
    assert result.returncode == 1
    assert "corral.toml:2: cmd:" in result.stderr and "at most" in result.stderr
    env.config("# " + "x" * (5 * 1024 * 1024) + "\n")
    result = env.run("check", timeout=10)
    assert result.returncode == 1 and "larger than" in result.stderr
