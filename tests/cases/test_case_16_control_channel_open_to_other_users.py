"""Case 16: only the owner may talk to the daemon's control socket.

Invariant: the control socket lives in a state directory of mode 0700
owned by the daemon's user, is itself closed to group and others, and no
TCP port is opened. Another local user (nobody) gets a one-line
"permission denied" from every command and changes nothing. A state
directory that group or others can write is refused, or tightened to
0700 with a word about it, before the socket is made. Log files are not
world-writable. Runs as root (to probe as nobody with setpriv).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess

import pytest

from tests.cases.conftest import Corral, configure, one_line, tcp_listeners
from tests.conftest import CORRAL, LONG, SHORT, Env, pid_alive, wait_for

CONFIGS = {
    "toml": """\
        [programs.important]
        cmd = ["python3", "-c", "import time; time.sleep(100000)", "CORRAL_CASE_16"]
        stdout = "logs/important.out.log"
    """,
}

NOBODY = 65534


def _nobody_exists() -> bool:
    try:
        pwd.getpwuid(NOBODY)
    except KeyError:
        return False
    return True


pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv"),
    pytest.mark.skipif(not _nobody_exists(), reason="needs the nobody account"),
]


def as_nobody(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `corral ARGS` as uid/gid 65534 with no supplementary groups."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         CORRAL, *args],
        cwd=env.path, env=env.env, capture_output=True, text=True, timeout=LONG,
    )


def mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def case(public_env: Env) -> Corral:
    if as_nobody(public_env, "--version").returncode != 0:
        pytest.skip("nobody cannot run this corral executable")
    return configure(public_env, "toml", CONFIGS)


def test_other_users_are_kept_out(case: Corral) -> None:
    """Private state dir and socket; nobody's commands fail and change nothing."""
    env = case.env
    config = str(env.path / case.config)
    case.up()
    row = case.wait_state("important.0", "running")
    daemon = case.daemon_pid()
    state_dir = env.path / ".corral"
    sock = state_dir / "corral.sock"

    # The directory and the socket.
    info = os.stat(state_dir)
    assert mode(state_dir) == 0o700
    assert info.st_uid == os.geteuid()
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    assert mode(sock) & 0o077 == 0, oct(mode(sock))

    # Every command as nobody: refused in one line, without effect.
    for args in (["status", "-c", config], ["status", "--socket", str(sock)],
                 ["stop", "important", "-c", config],
                 ["logs", "important", "-c", config], ["down", "-c", config]):
        result = as_nobody(env, *args)
        assert result.returncode != 0, (args, result)
        assert one_line(result.stderr), (args, result.stderr)
        assert "permission denied" in result.stderr.lower(), (args, result.stderr)
        assert result.stdout == "", (args, result.stdout)
        assert pid_alive(daemon)
        now = case.one("important.0")
        assert (now["state"], now["pid"]) == ("running", row["pid"])

    # No TCP listener belongs to the daemon.
    assert tcp_listeners(daemon) == []

    # Log files corral created are not world-writable.
    for name in ("logs/important.out.log", ".corral/corral.log"):
        assert mode(env.path / name) & 0o002 == 0, (name, oct(mode(env.path / name)))


def test_world_writable_state_dir_is_refused_or_tightened(case: Corral) -> None:
    """Step 4: `chmod 0777 .corral`, then up: refuse, or fix it and say so."""
    env = case.env
    case.up()
    case.wait_state("important.0", "running")
    daemon = case.daemon_pid()
    case.ok("down")
    wait_for(lambda: not pid_alive(daemon), SHORT, "the daemon to exit")
    state_dir = env.path / ".corral"
    os.chmod(state_dir, 0o777)

    result = case.run("up", "--detach")
    said = result.stdout + result.stderr
    if result.returncode != 0:
        assert not (state_dir / "corral.sock").exists()
        assert ".corral" in said
        assert env.matching("CORRAL_CASE_16") == []
        return
    assert mode(state_dir) == 0o700, oct(mode(state_dir))
    assert "0700" in said and "tightened" in said, said
    assert mode(state_dir / "corral.sock") & 0o077 == 0
