"""`corral reload` (and SIGHUP) apply only the difference; `scale` resizes."""

from __future__ import annotations

import os
import signal
import subprocess

from tests.conftest import CORRAL, LONG, SHORT, Env, pid_alive, wait_for

THREE = """
[programs.a]
cmd = ["python3", "-c", "import time; print('a up', flush=True); time.sleep(1000)"]
stdout = "a.log"

[programs.b]
cmd = ["python3", "-c", "import time; print('b up', flush=True); time.sleep(1000)"]
stdout = "b.log"
stop_timeout = 5

[programs.c]
cmd = ["python3", "-c", "import time; print('c up', flush=True); time.sleep(1000)"]
stdout = "c.log"
"""


def pids(env: Env) -> dict[str, int]:
    return {row["name"]: row["pid"] for row in env.status()}


def started(env: Env) -> dict[str, int]:
    env.up()
    for name in "abc":
        env.wait_log(f"{name}.log", f"{name} up")
    return pids(env)


def test_reload_restarts_only_the_changed_program(env: Env) -> None:
    env.config(THREE)
    before = started(env)
    env.config(THREE.replace("'b up'", "'b changed'"))

    out = env.ok("reload")
    assert "changed: b" in out
    env.wait_log("b.log", "b changed")
    after = pids(env)
    assert after["a.0"] == before["a.0"]
    assert after["c.0"] == before["c.0"]
    assert after["b.0"] != before["b.0"]
    assert not pid_alive(before["b.0"])


def test_settings_that_do_not_change_the_launch_apply_in_place(env: Env) -> None:
    env.config(THREE)
    before = started(env)
    env.config(THREE.replace("stop_timeout = 5", "stop_timeout = 7\nrestart = 'never'"))
    out = env.ok("reload")
    assert "updated: b" in out
    assert pids(env) == before


def test_reload_adds_and_removes_programs(env: Env) -> None:
    env.config(THREE)
    before = started(env)
    text = THREE.split("[programs.c]")[0] + """
[programs.d]
cmd = ["python3", "-c", "import time; print('d up', flush=True); time.sleep(1000)"]
stdout = "d.log"
"""
    env.config(text)
    out = env.ok("reload")
    assert "added: d" in out and "removed: c" in out
    env.wait_log("d.log", "d up")
    after = pids(env)
    assert "c.0" not in after
    assert not pid_alive(before["c.0"])
    assert after["a.0"] == before["a.0"] and after["b.0"] == before["b.0"]


def test_broken_edits_change_nothing_and_say_where(env: Env) -> None:
    env.config(THREE)
    before = started(env)
    broken = {
        "bad toml": (THREE + "\n[programs.e\n", "corral.toml:14: invalid TOML"),
        "unknown key": (THREE.replace("stop_timeout = 5", "stop_timout = 5"),
                        "corral.toml:8: stop_timout: unknown key"),
        "bad signal": (THREE.replace("stop_timeout = 5", "stop_signal = 'NOPE'"),
                       "corral.toml:8: stop_signal:"),
    }
    for what, (text, where) in broken.items():
        env.config(text)
        result = env.run("reload")
        assert result.returncode == 1, what
        assert where in result.stderr, (what, result.stderr)
        assert result.stderr.count("\n") == 1
        assert pids(env) == before, what


def test_sighup_reloads(env: Env) -> None:
    env.config(THREE)
    before = started(env)
    env.config(THREE.replace("'c up'", "'c changed'"))
    daemon = env.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGHUP)
    env.wait_log("c.log", "c changed")
    after = pids(env)
    assert after["a.0"] == before["a.0"] and after["c.0"] != before["c.0"]


def test_scale_up_and_down(env: Env) -> None:
    env.write("w.py", """
        import os, signal, sys, time
        def bye(sig, frame):
            print("bye", os.environ["CORRAL_PROCESS"], flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("hi", os.environ["CORRAL_PROCESS"], flush=True)
        while True:
            time.sleep(1)
    """)
    env.config("""
        [programs.w]
        cmd = ["python3", "w.py"]
        numprocs = 2
        stdout = "w.log"
    """)
    env.up()
    env.wait_log("w.log", "hi", count=2)
    first = pids(env)

    env.ok("scale", "w", "4")
    env.wait_log("w.log", "hi w.3")
    grown = pids(env)
    assert sorted(grown) == ["w.0", "w.1", "w.2", "w.3"]
    assert grown["w.0"] == first["w.0"] and grown["w.1"] == first["w.1"]

    env.ok("scale", "w", "1")
    log = env.read("w.log")
    assert "bye w.3" in log and "bye w.2" in log and "bye w.1" in log
    assert "bye w.0" not in log
    assert pids(env) == {"w.0": first["w.0"]}
    for name in ("w.1", "w.2", "w.3"):
        assert not pid_alive(grown[name])

    result = env.run("scale", "nope", "2")
    assert result.returncode == 2
    result = env.run("scale", "w", "-1")
    assert result.returncode == 2
    assert wait_for(lambda: env.one("w.0")["pid"] == first["w.0"], SHORT, "w.0")


def test_start_waits_and_reports_failure(env: Env) -> None:
    """`corral start` of a program that cannot stay up exits 1 with a reason."""
    env.config("""
        [programs.bad]
        cmd = "exit 4"
        shell = true
        autostart = false
        start_retries = 1
        backoff = 0.1

        [programs.good]
        cmd = "sleep 1000"
        shell = true
        autostart = false
        start_secs = 0.3
    """)
    env.up()
    result = env.run("start", "bad")
    assert result.returncode == 1
    assert "exit status 4" in result.stderr
    assert result.stderr.count("\n") == 1
    assert env.ok("start", "good").startswith("good.0 pid=")
    result = env.run("start", "nope")
    assert result.returncode == 2
    assert "no program or process named 'nope'" in result.stderr
    result = env.run("stop")
    assert result.returncode == 2
    assert env.run("stop", "--all", timeout=LONG).returncode == 0


# ---------------------------------------------------------------------------
# Requests that overlap a reload or a scale


SLOW = """
[programs.slow]
cmd = ["python3", "slow.py"]
numprocs = {n}
stdout = "slow.log"
env = {{ GENERATION = "{gen}" }}
"""

SLOW_PY = """
import os, signal, sys, time
def bye(*_):
    time.sleep(1.5)  # a stop that takes a while
    print(os.getpid(), "bye", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print(os.getpid(), "up", os.environ["GENERATION"], flush=True)
while True:
    time.sleep(1)
"""


def slow_setup(env: Env, n: int, gen: str = "one") -> None:
    env.write("slow.py", SLOW_PY)
    env.config(SLOW.format(n=n, gen=gen))
    env.up()
    env.wait_log("slow.log", f"up {gen}", count=n)


def in_background(env: Env, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CORRAL, *args], cwd=env.path, env=env.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finished(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=LONG)
    return proc.returncode, out + err


def live_match_status(env: Env) -> list[dict[str, object]]:
    """Status and the live processes agree, once every process settled."""
    def settled() -> list[dict[str, object]] | None:
        rows = env.status()
        return rows if {r["state"] for r in rows} <= {"running", "stopped"} \
            else None

    rows: list[dict[str, object]] = wait_for(settled, LONG, "processes to settle")
    listed = {r["pid"] for r in rows if r["pid"]}
    assert set(env.matching("slow.py")) == listed
    return rows


def test_restart_during_a_scale_down_loses_no_process(env: Env) -> None:
    slow_setup(env, 2)
    scale = in_background(env, "scale", "slow", "1")
    env.wait_state("slow.1", "stopping")
    env.ok("restart", "slow")
    code, out = finished(scale)
    assert code == 0, out
    rows = live_match_status(env)
    assert [r["name"] for r in rows] == ["slow.0"]


def test_restart_during_a_reload_runs_one_generation(env: Env) -> None:
    slow_setup(env, 2)
    env.config(SLOW.format(n=2, gen="two"))
    reload = in_background(env, "reload")
    env.wait_state("slow.0", "stopping")
    env.ok("restart", "slow")
    code, out = finished(reload)
    assert code == 0, out
    rows = live_match_status(env)
    assert [r["state"] for r in rows] == ["running", "running"]
    assert len(env.matching("slow.py")) == 2


def test_stop_during_a_reload_is_not_undone(env: Env) -> None:
    slow_setup(env, 1)
    env.config(SLOW.format(n=1, gen="two"))
    reload = in_background(env, "reload")
    env.wait_state("slow.0", "stopping")
    env.ok("stop", "slow")
    code, out = finished(reload)
    assert code == 0, out
    assert env.one("slow.0")["state"] == "stopped"
    assert env.matching("slow.py") == []


def test_overlapping_reloads_and_scales_apply_in_turn(env: Env) -> None:
    slow_setup(env, 3)
    first = in_background(env, "scale", "slow", "1")
    env.wait_state("slow.2", "stopping")
    second = in_background(env, "scale", "slow", "4")
    assert finished(first)[0] == 0
    code, out = finished(second)
    assert code == 0, out
    rows = live_match_status(env)
    assert [r["state"] for r in rows] == ["running"] * 4

    env.config(SLOW.format(n=4, gen="two").replace('"slow.log"', '"slow.log"\n\n'
               '[programs.other]\ncmd = "sleep 1000"\n'))
    env.ok("reload")
    env.config(SLOW.format(n=4, gen="two"))
    reloads = [in_background(env, "reload") for _ in range(2)]
    for proc in reloads:
        code, out = finished(proc)
        assert code == 0, out
    assert "internal error" not in env.read(".corral/corral.log")
    assert [r["name"] for r in env.status()] == [f"slow.{i}" for i in range(4)]


DEPENDENT = """
[programs.db]
cmd = ["python3", "-c", "import time; print('db up', flush=True); time.sleep(1000)"]
stdout = "db.log"
autostart = false

[programs.api]
cmd = ["python3", "-c", "import time; print('api up', flush=True); time.sleep(1000)"]
stdout = "api.log"
depends_on = ["db"]
autostart = false
"""


def test_start_starts_what_a_program_depends_on_first(env: Env) -> None:
    env.config(DEPENDENT)
    env.up()
    out = env.ok("start", "api")
    assert out.index("db.0") < out.index("api.0"), out
    db, api = env.one("db.0"), env.one("api.0")
    assert db["state"] == api["state"] == "running"
    assert db["since"] < api["since"]


def test_a_program_added_by_reload_waits_for_its_dependencies(env: Env) -> None:
    env.config(DEPENDENT.split("[programs.api]")[0].replace(
        "autostart = false", "start_secs = 2"))
    env.up()
    env.config(DEPENDENT.replace("autostart = false", "start_secs = 2", 1)
               .replace("autostart = false", ""))
    env.ok("reload")
    env.wait_log("api.log", "api up", timeout=LONG)
    api = env.wait_state("api.0", "running", timeout=LONG)
    db = env.one("db.0")
    assert db["state"] == "running" and db["since"] < api["since"]


CHAIN = """
[programs.db]
cmd = ["python3", "-c", "import time; print('db up', flush=True); time.sleep(1000)"]
stdout = "db.log"
start_secs = {db_secs}

[programs.api]
cmd = ["python3", "-c", "import time; print('api up', flush=True); time.sleep(1000)"]
stdout = "api.log"
depends_on = ["db"]

[programs.web]
cmd = ["python3", "-c", "import time; print('web up', flush=True); time.sleep(1000)"]
stdout = "web.log"
depends_on = ["api"]
"""


def test_a_chain_of_dependencies_starts_in_order(env: Env) -> None:
    env.config(CHAIN.format(db_secs=1))
    env.up()
    web = env.wait_state("web.0", "running", timeout=LONG)
    api, db = env.one("api.0"), env.one("db.0")
    assert db["since"] < api["since"] < web["since"]

    # Added by reload, after what it needs: a chain of three at once.
    env.config(CHAIN.format(db_secs=1) + CHAIN.format(db_secs=1).replace(
        "[programs.", "[programs.x").replace('["', '["x', 2)
        .replace("x[", "[").replace('"db.log"', '"xdb.log"')
        .replace('"api.log"', '"xapi.log"').replace('"web.log"', '"xweb.log"'))
    env.ok("reload")
    xweb = env.wait_state("xweb.0", "running", timeout=LONG)
    assert env.one("xdb.0")["since"] < env.one("xapi.0")["since"] < xweb["since"]

    # What depends on a program stopped on purpose waits for a start.
    env.ok("stop", "--all")
    env.config(CHAIN.format(db_secs=1) + '[programs.www]\ncmd = "sleep 1000"\n'
               'depends_on = ["api"]\n')
    env.ok("reload")
    www = env.wait_state("www.0", "stopped", timeout=LONG)
    wait_for(lambda: "not started" in (env.one("www.0")["reason"] or ""), LONG,
             "www to say why it did not start")
    assert www["pid"] is None
    out = env.ok("start", "www")
    assert out.index("db.0") < out.index("api.0") < out.index("www.0"), out


def test_a_stop_while_waiting_for_a_dependency_holds(env: Env) -> None:
    env.config(CHAIN.format(db_secs=3))
    env.up()
    out = env.ok("stop", "api")
    assert "already stopped" in out
    env.wait_state("db.0", "running", timeout=LONG)
    web = env.wait_state("web.0", "stopped", timeout=LONG)
    assert "api" in (web["reason"] or "")
    assert env.one("api.0")["state"] == "stopped"
    assert env.matching("api up") == []

    # The same from the command line: a start waiting for db, then a stop.
    env.ok("stop", "db")
    start = in_background(env, "start", "api")
    env.wait_state("db.0", "starting")
    env.ok("stop", "api")
    code, out = finished(start)
    assert code == 1 and "stopped by another request" in out, out
    assert env.one("api.0")["state"] == "stopped"
