"""The circus `.ini` reader: circus 0.19's meaning, corral's errors.

Every error is one line, ``FILE:LINE: key: message``. Random input ends in
a `Config` or a `ConfigError`, never in another exception.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.config import Config, load
from corral.config.circus import HANDLERS, WATCHER_NOTES
from corral.errors import ConfigError
from tests.unit.conftest import exercise_config


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_PORT", "8080")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)


def write(tmp_path: Path, text: str, name: str = "circus.ini") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def read(tmp_path: Path, text: str, name: str = "circus.ini") -> Config:
    return load(str(write(tmp_path, text, name)))


def test_circus_defaults_are_kept(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [watcher:app]
        cmd = /usr/bin/app
        args = --serve --workers 2
    """)
    prog = config.programs["app"]
    assert config.format == "circus"
    assert prog.argv == ("/usr/bin/app", "--serve", "--workers", "2")
    assert (prog.stop_timeout, prog.start_retries) == (30.0, 5)
    assert prog.restart == "always"
    assert not prog.inherit_env
    assert prog.stdout.kind == prog.stderr.kind == "console"
    assert prog.cwd == str(tmp_path)


def test_every_translated_option(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [circus]
        umask = 027

        [watcher:app]
        cmd = app
        numprocesses = 3
        respawn = false
        autostart = False
        working_dir = sub
        uid = nobody
        gid = nogroup
        stop_signal = quit
        graceful_timeout = 2.5
        copy_env = true
        max_retry = -1
        priority = 7
        warmup_delay = 0
        stop_children = true
        close_child_stdin = true
    """)
    prog = config.programs["app"]
    assert (prog.numprocs, prog.restart, prog.autostart) == (3, "never", False)
    assert prog.cwd == str(tmp_path / "sub")
    assert (prog.user, prog.group, prog.umask) == ("nobody", "nogroup", 0o27)
    assert (prog.stop_signal, prog.stop_timeout) == (3, 2.5)
    assert prog.inherit_env and prog.start_retries == -1
    assert prog.priority == -7
    assert any("stop_children" in note for note in prog.notes)


def test_wid_in_cmd_and_args_is_per_process(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [watcher:worker]
        cmd = python worker.py --id $(circus.wid) --json '{"a": 1}'
        args = ((circus.wid)) $WID $(WID)
        numprocesses = 2
    """)
    prog = config.programs["worker"]
    assert prog.template
    assert prog.argv_for(0) == ("python", "worker.py", "--id", "1", "--json",
                                '{"a": 1}', "1", "1", "1")
    assert prog.argv_for(1)[3] == "2"
    assert "{wid}" in prog.command_text and '{"a": 1}' in prog.command_text


def test_env_sections_patterns_and_substitution(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [watcher:worker1]
        cmd = w --port $(circus.env.app_port) --cake $(CIRCUS.ENV.CAKE)

        [watcher:worker2]
        cmd = w
        copy_env = true

        [watcher:web]
        cmd = web

        [env]
        CAKE = lie
        lower_case = kept

        [env:worker*]
        PATH = $PATH:/opt/bin
        ROLE = worker

        [env:worker1, web]
        ROLE = special
        MISSING = x$NOT_SET_ANYWHERE
    """)
    w1, w2, web = (config.programs[n] for n in ("worker1", "worker2", "web"))
    assert w1.argv == ("w", "--port", "8080", "--cake", "lie")
    env1 = dict(w1.env)
    assert env1 == {"CAKE": "lie", "lower_case": "kept", "PATH": "/usr/bin:/bin:/opt/bin",
                    "ROLE": "special", "MISSING": "x"}
    assert not w1.inherit_env and w2.inherit_env
    assert dict(w2.env)["ROLE"] == "worker"
    assert dict(web.env)["ROLE"] == "special" and "PATH" not in dict(web.env)
    assert any("NOT_SET_ANYWHERE" in w for w in config.warnings)


@pytest.mark.parametrize(("options", "stdout"), [
    (["stdout_stream.class = FileStream", "stdout_stream.filename = out.log",
      "stdout_stream.max_bytes = 1024", "stdout_stream.backup_count = 3",
      "stdout_stream.time_format = %Y-%m-%d"],
     ("file", "out.log", 1024, 3, "%Y-%m-%d")),
    (["stdout_stream.class = circus.stream.WatchedFileStream",
      "stdout_stream.filename = w.log"], ("file", "w.log", 0, 0, None)),
    (["stdout_stream.filename = plain.log"], ("file", "plain.log", 0, 0, None)),
    (["stdout_stream.class = StdoutStream"], ("console", None, 0, 0, None)),
    (["stdout_stream.class = FancyStdoutStream", "stdout_stream.color = green"],
     ("console", None, 0, 0, None)),
    (["stdout_stream.class = Null"], ("null", None, 0, 0, None)),
    (["close_child_stdout = true", "stdout_stream.class = StdoutStream"],
     ("null", None, 0, 0, None)),
])
def test_streams(tmp_path: Path, options: list[str], stdout: tuple[object, ...]) -> None:
    body = "\n".join(options)
    path = write(tmp_path, f"[watcher:app]\ncmd = app\n{body}\n")
    prog = load(str(path)).programs["app"]
    kind, name, max_bytes, backups, stamps = stdout
    assert prog.stdout.kind == kind
    assert prog.stdout.path == (None if name is None else str(tmp_path / str(name)))
    assert (prog.stdout.max_bytes, prog.stdout.backups) == (max_bytes, backups)
    assert prog.stdout.timestamps == stamps


def test_comments_rem_and_empty_quotes(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [watcher:app] ; the app
        cmd = app --flag ; an inline comment
        # a comment
        rem also a comment
        args = ""

        [env:app]
        EMPTY = ""
        HASH = a#b #kept ;dropped
    """)
    prog = config.programs["app"]
    assert prog.argv == ("app", "--flag")
    env = dict(prog.env)
    assert env["EMPTY"] == ""
    assert env["HASH"] == "a#b #kept"


def test_include_and_include_dir(tmp_path: Path) -> None:
    write(tmp_path, "[watcher:one]\ncmd = one\n", "extra/one.ini")
    write(tmp_path, "[watcher:two]\ncmd = two\n[env:one]\nX = 1\n", "conf.d/two.ini")
    write(tmp_path, "[watcher:no]\ncmd = no\n", "conf.d/skipped.txt")
    config = read(tmp_path, """
        [circus]
        include = extra/*.ini nothing/*.ini
        include_dir = conf.d
    """)
    assert sorted(config.programs) == ["one", "two"]
    assert dict(config.programs["one"].env) == {"X": "1"}
    assert any("no file matches" in note for note in config.notes)


def test_plumbing_becomes_notes(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [circus]
        endpoint = tcp://127.0.0.1:5555
        statsd = True
        httpd = False

        [plugin:flapping]
        use = circus.plugins.flapping.Flapping

        [watcher:app]
        cmd = app
        check_flapping = false
        send_hup = true
    """)
    text = "\n".join([*config.notes, *config.programs["app"].notes])
    assert "[circus] endpoint, statsd, httpd: not applicable" in text
    assert "[plugin:flapping]" in text
    assert "check_flapping" in text and "send_hup" in text


def test_shell_warning(tmp_path: Path) -> None:
    config = read(tmp_path, "[watcher:app]\ncmd = python3 app.py\nshell = True\n")
    prog = config.programs["app"]
    assert prog.argv == ("/bin/sh", "-c", "python3 app.py")
    assert any("circus signalled only /bin/sh" in w for w in prog.warnings)


ERRORS = [
    ("[watcher:app]\ncmd = app\ngraceful_timeout = 999999\n", 3,
     "graceful_timeout", "expected 0..86400 seconds"),
    ("[watcher:app]\ncmd = app\nnumprocesses = -1\n", 3, "numprocesses",
     "expected 0..10000"),
    ("[watcher:app]\ncmd = app\nstdout_stream.filename = \n", 3,
     "stdout_stream.filename", "expected a file"),
    ("[watcher:app]\ncmd = app\nbogus = 1\n", 3, "bogus",
     "unknown key in [watcher:app]"),
    ("[watcher:app]\ncmd = app\nNumProcesses = 2\n", 3, "NumProcesses",
     "unknown key in [watcher:app] (circus option names are case sensitive: "
     "numprocesses)"),
    ("[watcher:app]\nargs = x\n", 1, "cmd", "missing required key"),
    ("[watcher:app]\ncmd = app\nnumprocesses = two\n", 3, "numprocesses",
     "expected an integer"),
    ("[watcher:app]\ncmd = app\nshell = sometimes\n", 3, "shell",
     "expected true or false"),
    ("[watcher:app]\ncmd = app\nwarmup_delay = 2\n", 3, "warmup_delay",
     "only 0 is supported"),
    ("[watcher:app]\ncmd = app\nmax_age = 3600\n", 3, "max_age",
     "only 0 is supported"),
    ("[watcher:app]\ncmd = app\nmax_retry = -2\n", 3, "max_retry",
     "expected -1 (forever) or more"),
    ("[watcher:app]\ncmd = app\nrlimit_nofile = 500\n", 3, "rlimit_nofile",
     "resource limits are not supported yet"),
    ("[watcher:app]\ncmd = app\nhooks.before_start = my.hook\n", 3,
     "hooks.before_start", "hooks are not supported"),
    ("[watcher:app]\ncmd = app\nuse_sockets = true\n", 3, "use_sockets",
     "not supported: sockets are not supported yet"),
    ("[watcher:app]\ncmd = app\nexecutable = /usr/bin/python\n", 3, "executable",
     "not supported"),
    ("[watcher:app]\ncmd = app\nvirtualenv = /srv/venv\n", 3, "virtualenv",
     "not supported"),
    ("[watcher:app]\ncmd = app\ncopy_path = true\n", 3, "copy_path",
     "needs copy_env = true"),
    ("[watcher:app]\ncmd = app\nsingleton = true\nnumprocesses = 2\n", 3,
     "singleton", "a singleton watcher cannot have 2 processes"),
    ("[watcher:app]\ncmd = app\nstop_signal = NOPE\n", 3, "stop_signal",
     "invalid signal"),
    ("[watcher:app]\ncmd = app\ngraceful_timeout = soon\n", 3, "graceful_timeout",
     "expected a number"),
    ("[watcher:app]\ncmd = app --fd $(circus.sockets.web)\n", 2, "cmd",
     "$(circus.sockets.web): sockets are not supported yet"),
    ("[watcher:app]\ncmd = app $(circus.env.not_set_anywhere)\n", 2, "cmd",
     "$(circus.env.not_set_anywhere): not_set_anywhere is not set"),
    ("[watcher:app]\ncmd = app\nworking_dir = /srv/$(circus.wid)\n", 3,
     "working_dir", "$(circus.wid) is replaced only in cmd and args"),
    ("[watcher:app]\ncmd = app\nstdout_stream.class = TimedRotatingFileStream\n"
     "stdout_stream.filename = x.log\n", 3, "stdout_stream.class",
     "TimedRotatingFileStream is not supported"),
    ("[watcher:app]\ncmd = app\nstdout_stream.class = my.Stream\n", 3,
     "stdout_stream.class", "unsupported stream class 'my.Stream'"),
    ("[watcher:app]\ncmd = app\nstdout_stream.class = FileStream\n", 3,
     "stdout_stream.filename", "a FileStream needs a filename"),
    ("[watcher:app]\ncmd = app\nstdout_stream.filename = x\n"
     "stdout_stream.rotate_when = H\n", 4, "stdout_stream.rotate_when",
     "unknown key"),
    ("[watcher:app]\ncmd = app\nstdout_stream.filename = x\n"
     "stdout_stream.max_bytes = big\n", 4, "stdout_stream.max_bytes",
     "expected an integer"),
    ("[circus]\nwarmup_delay = 1\n", 2, "warmup_delay", "only 0 is supported"),
    ("[circus]\nendpoint = x\nfrobnicate = 1\n", 3, "frobnicate",
     "unknown key in [circus]"),
    ("[socket:web]\nhost = 127.0.0.1\nport = 99999\n", 3, "port",
     "expected 0..65535"),
    ("[socket:web]\nhost = 127.0.0.1\nbogus = 1\n", 3, "bogus",
     "unknown key in [socket:web]"),
    ("[plugin:x]\nuse = my.plugins.Thing\n", 2, "use",
     "plugin 'my.plugins.Thing' is not supported"),
]


@pytest.mark.parametrize(("body", "line", "key", "message"), ERRORS)
def test_errors_name_file_line_and_key(
    tmp_path: Path, body: str, line: int, key: str, message: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    text = str(info.value)
    assert text.startswith(f"{path}:{line}: {key}: {message}"), text
    assert "\n" not in text


SECTION_ERRORS = [
    ("[socket:web]\nhost = 127.0.0.1\nport = 8888\n", 1,
     "[socket:web]: sockets are not supported yet"),
    ("[watcher:a]\ncmd = a\n[watcher:a]\ncmd = b\n", 3,
     "section [watcher:a] appears twice"),
    ("[supervisord]\n[watcher:a]\ncmd = a\n", 1, "unknown section [supervisord]"),
    ("[watcher:my app]\ncmd = a\n", 1, "invalid program name 'my app'"),
]


@pytest.mark.parametrize(("body", "line", "message"), SECTION_ERRORS)
def test_section_errors(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value).startswith(f"{path}:{line}: {message}"), str(info.value)


def test_included_files_cannot_include(tmp_path: Path) -> None:
    more = write(tmp_path, "[circus]\ninclude_dir = x\n", "more.ini")
    main = write(tmp_path, "[circus]\ninclude = more.ini\n")
    with pytest.raises(ConfigError) as info:
        load(str(main))
    assert str(info.value).startswith(f"{more}:2: include_dir: circus reads include")


def test_a_watcher_twice_across_files_is_refused(tmp_path: Path) -> None:
    more = write(tmp_path, "[watcher:a]\ncmd = b\n", "more.ini")
    main = write(tmp_path, "[circus]\ninclude = more.ini\n[watcher:a]\ncmd = a\n")
    with pytest.raises(ConfigError) as info:
        load(str(main))
    assert str(info.value).startswith(f"{more}:1: section [watcher:a] is defined again")


# -- random input ---------------------------------------------------------------


PLAUSIBLE = {
    "cmd": ["app", "python w.py $(circus.wid)", "app {x}", "sh -c 'exec app'",
            "app $(circus.env.path)", "app $(circus.sockets.s)"],
    "args": ["--x 1", "$(circus.wid)", "'{'", "$WID"],
    "numprocesses": ["0", "1", "3"],
    "shell": ["true", "false"],
    "singleton": ["true", "false"],
    "copy_env": ["true", "false"],
    "copy_path": ["true", "false"],
    "max_retry": ["-1", "0", "5"],
    "graceful_timeout": ["0", "1.5", "30"],
    "stop_signal": ["TERM", "quit", "9"],
    "working_dir": ["/tmp", "sub", "$(circus.env.home)"],
    "stdout_stream.class": ["FileStream", "StdoutStream", "Null",
                            "TimedRotatingFileStream", "x.Y"],
    "stdout_stream.filename": ["out.log", "$(circus.wid).log"],
    "stdout_stream.max_bytes": ["0", "1024"],
    "stderr_stream.class": ["FancyStdoutStream", "WatchedFileStream"],
    "stderr_stream.time_format": ["%Y", "%H:%M"],
}
OPTIONS = sorted(set(HANDLERS) | set(WATCHER_NOTES) | set(PLAUSIBLE)
                 | {"rlimit_nofile", "hooks.x", "bogus"})
VALUES = st.one_of(
    st.sampled_from(["", "1", "true", "-1", "$(circus.env.x)", "((circus.wid))",
                     "{", "'", '"', "$PATH", "%", "a ; b"]),
    st.text(max_size=10).map(lambda s: s.replace("\n", " ").replace("\r", " ")),
)


def values_for(key: str) -> st.SearchStrategy[str]:
    plausible = st.sampled_from(PLAUSIBLE.get(key, ["true", "0", "1"]))
    return st.one_of(plausible, plausible, plausible, VALUES)


@st.composite
def ini_files(draw: st.DrawFn) -> str:
    lines = []
    names = draw(st.lists(st.sampled_from(["a", "b", "web1"]), unique=True,
                          min_size=1, max_size=3))
    for name in names:
        lines += [f"[watcher:{name}]", f"cmd = {draw(values_for('cmd'))}"]
        for key in draw(st.lists(st.sampled_from(OPTIONS), unique=True, max_size=8)):
            if key != "cmd":
                lines.append(f"{key} = {draw(values_for(key))}")
    for section in draw(st.lists(st.sampled_from(
            ["env", "env:a", "env:web*,b", "circus", "socket:s", "plugin:p"]),
            unique=True, max_size=3)):
        lines.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(
                ["PATH", "X", "endpoint", "umask", "port", "use", "include"]),
                unique=True, max_size=3)):
            lines.append(f"{key} = {draw(VALUES)}")
    return "\n".join(lines) + "\n"


def _exercise(text: str) -> None:
    exercise_config(text, "circus.ini")


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(ini_files())
def test_random_structured_files_end_in_config_or_error(text: str) -> None:
    _exercise(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_ends_in_config_or_error(text: str) -> None:
    _exercise("[watcher:a]\n" + text)
