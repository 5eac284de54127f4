"""Case 06: output that is not valid UTF-8 is stored byte for byte.

Invariant: corral treats a program's output as bytes. 256 KiB that are
not UTF-8 reach the log file unchanged (same sha256, same size, nothing
replaced or added), the program is never left blocked in write(), the
console path prints them with its prefix without choking, `corral logs`
still answers, and the daemon logs no traceback.
"""

from __future__ import annotations

import hashlib
import re

from tests.cases.conftest import configure, started_at, wait_exit
from tests.conftest import LONG, SHORT, Env, wait_for

BINOUT = """\
import hashlib, sys, time
out = sys.stdout.buffer
block = bytes((i * 7919 + 13) % 256 for i in range(256 * 1024))   # 256 KiB, not UTF-8
payload = b"\\x88\\xff\\xfe invalid utf-8 prefix\\n" + block + b"\\nafter binary CORRAL_CASE_06\\n"
out.write(payload); out.flush()
with open(sys.argv[1], "w") as f:          # proves the write() calls returned
    f.write(hashlib.sha256(payload).hexdigest())
time.sleep(100000)
"""

CONFIGS = {
    "toml": """\
        [programs.bin]
        cmd = ["python3", "binout.py", "done.sha256"]
        restart = "never"
        stop_timeout = 2
        stdout = "logs/bin.out.log"
        stderr = "logs/bin.err.log"

        [programs.bin_console]
        cmd = ["python3", "binout.py", "done_console.sha256"]
        restart = "never"
        stdout = "console"
    """,
}

# What binout.py writes, computed here as well so the test knows the size.
BLOCK = bytes((i * 7919 + 13) % 256 for i in range(256 * 1024))
PAYLOAD = b"\x88\xff\xfe invalid utf-8 prefix\n" + BLOCK + b"\nafter binary CORRAL_CASE_06\n"
LAST = b"after binary CORRAL_CASE_06"
# How long the program may take to finish its writes (the case's bound).
WRITE_BOUND = 2.0


def test_binary_output_is_stored_and_shown_unchanged(env: Env) -> None:
    """sha256 and size of the log match the payload; console keeps the prefix."""
    assert len(PAYLOAD) == 262_198
    env.write("binout.py", BINOUT)
    case = configure(env, "toml", CONFIGS)

    daemon = case.up_foreground()
    for done in (env.path / "done.sha256", env.path / "done_console.sha256"):
        wait_for(done.exists, WRITE_BOUND + SHORT, done.name)
    # Within 2 s of each program's own start (not of the daemon's).
    for name, digest_file in (("bin.0", "done.sha256"),
                              ("bin_console.0", "done_console.sha256")):
        pid = case.one(name)["pid"]
        took = (env.path / digest_file).stat().st_mtime - started_at(pid)
        assert took <= WRITE_BOUND, f"{name} needed {took:.2f} s to write"
    digest = env.read("done.sha256")
    assert digest == hashlib.sha256(PAYLOAD).hexdigest()
    assert env.read("done_console.sha256") == digest

    # The log file: exactly the payload, once it has all arrived.
    wait_for(lambda: len(env.read_bytes("logs/bin.out.log")) >= len(PAYLOAD),
             SHORT, "the whole payload in logs/bin.out.log")
    data = env.read_bytes("logs/bin.out.log")
    assert len(data) == 262_198
    assert hashlib.sha256(data).hexdigest() == digest
    assert env.read_bytes("logs/bin.err.log") == b""

    # corral logs, corral status: still answering, still running.
    logs = case.run_bytes("logs", "bin", "-n", "1")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == LAST + b"\n"
    running = case.wait_state("bin.0", "running")
    case.wait_state("bin_console.0", "running")

    # The console: every line prefixed, the bytes between prefixes unchanged.
    prefix = re.compile(rb"^bin_console\.\d+\s*\xe2\x94\x82 ", re.MULTILINE)
    wait_for(lambda: LAST in env.read_bytes("up.out"), SHORT, "the last line")
    console = env.read_bytes("up.out")
    assert re.search(rb"^bin_console\.\d+\s*\xe2\x94\x82 " + LAST + rb"$", console,
                     re.MULTILINE)
    assert prefix.sub(b"", console) == PAYLOAD

    # Still running, same process, until `corral down` stops it.
    assert "bin.0" in case.ok("status")
    row = case.one("bin.0")
    assert (row["state"], row["pid"]) == ("running", running["pid"])
    case.ok("down")
    assert wait_exit(daemon, LONG) == 0
    assert "Traceback" not in env.read("up.err")
    assert "Traceback" not in env.read(".corral/corral.log")
