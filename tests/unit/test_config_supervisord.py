"""The supervisord `.conf` reader: supervisord's meaning, corral's errors.

Every error is one line, ``FILE:LINE: key: message``, located at the line
that holds the bad value. Random input ends in a `Config` or a
`ConfigError`, never in another exception.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.config import Config, detect_format, load
from corral.config.supervisord import PROGRAM_KEYS
from corral.errors import ConfigError
from tests.unit.conftest import exercise_config


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_HOME", "/srv/app")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)


def write(tmp_path: Path, text: str, name: str = "supervisord.conf") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def read(tmp_path: Path, text: str, name: str = "supervisord.conf") -> Config:
    return load(str(write(tmp_path, text, name)))


def error(tmp_path: Path, text: str, name: str = "supervisord.conf") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    return str(info.value)


# -- what a program means -----------------------------------------------------


def test_supervisord_defaults_are_kept(tmp_path: Path) -> None:
    """startsecs 1, startretries 3, stopwaitsecs 10, unexpected, AUTO logs."""
    config = read(tmp_path, """
        [program:app]
        command = /usr/bin/app --serve
    """)
    prog = config.programs["app"]
    assert config.format == "supervisord"
    assert prog.argv == ("/usr/bin/app", "--serve")
    assert not prog.shell
    assert prog.restart == "on-failure"
    assert prog.exit_codes == frozenset({0})
    assert (prog.start_secs, prog.start_retries) == (1.0, 3)
    assert prog.stop_timeout == 10.0
    assert prog.stop_signal == 15
    assert prog.inherit_env
    assert prog.priority == 999
    assert prog.cwd == str(tmp_path)
    logs = tmp_path / ".corral" / "logs"
    assert prog.stdout.path == str(logs / "app-stdout.log")
    assert prog.stderr.path == str(logs / "app-stderr.log")
    assert (prog.stdout.max_bytes, prog.stdout.backups) == (50 * 1024 * 1024, 10)


@pytest.mark.parametrize(("word", "policy"), [
    ("true", "always"), ("false", "never"), ("unexpected", "on-failure"),
    ("TRUE", "always"), ("off", "never"),
])
def test_autorestart_maps_to_restart(tmp_path: Path, word: str, policy: str) -> None:
    config = read(tmp_path, f"""
        [program:app]
        command = app
        autorestart = {word}
    """)
    assert config.programs["app"].restart == policy


def test_every_translated_key(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:app]
        command = app
        directory = /tmp
        user = nobody
        umask = 027
        priority = 10
        autostart = false
        exitcodes = 0,2
        startsecs = 5
        startretries = 7
        stopsignal = QUIT
        stopwaitsecs = 60
        redirect_stderr = true
        stdout_logfile = logs/app.log
        stdout_logfile_maxbytes = 1KB
        stdout_logfile_backups = 2
    """)
    prog = config.programs["app"]
    assert prog.cwd == "/tmp"
    assert (prog.user, prog.umask, prog.priority) == ("nobody", 0o27, 10)
    assert not prog.autostart
    assert prog.exit_codes == frozenset({0, 2})
    assert (prog.start_secs, prog.start_retries) == (5.0, 7)
    assert (prog.stop_signal, prog.stop_timeout) == (3, 60.0)
    assert prog.stderr.kind == "stdout"
    assert prog.stdout.path == str(tmp_path / "logs" / "app.log")
    assert (prog.stdout.max_bytes, prog.stdout.backups) == (1024, 2)


@pytest.mark.parametrize(("size", "expected"), [
    ("0", 0), ("10", 10), ("1KB", 1024), ("2mb", 2 << 20), ("1GB", 1 << 30),
])
def test_byte_sizes(tmp_path: Path, size: str, expected: int) -> None:
    config = read(tmp_path, f"""
        [program:app]
        command = app
        stdout_logfile = out.log
        stdout_logfile_maxbytes = {size}
    """)
    assert config.programs["app"].stdout.max_bytes == expected


@pytest.mark.parametrize(("value", "kind"), [
    ("NONE", "null"), ("off", "null"), ("/dev/null", "null"),
    ("/dev/stdout", "console"), ("/dev/stderr", "console"),
    ("/proc/self/fd/1", "console"), ("AUTO", "file"),
])
def test_special_log_files(tmp_path: Path, value: str, kind: str) -> None:
    config = read(tmp_path, f"""
        [program:app]
        command = app
        stdout_logfile = {value}
        stdout_logfile_maxbytes = 0
    """)
    assert config.programs["app"].stdout.kind == kind


def test_auto_logs_go_to_childlogdir(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [supervisord]
        childlogdir = %(here)s/childlogs

        [program:app]
        command = app
    """)
    prog = config.programs["app"]
    assert prog.stdout.path == str(tmp_path / "childlogs" / "app-stdout.log")
    assert any("AUTO" in note for note in prog.notes)


def test_redirect_stderr_ignores_stderr_logfile_with_a_note(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:app]
        command = app
        redirect_stderr = true
        stderr_logfile = err.log
    """)
    prog = config.programs["app"]
    assert prog.stderr.kind == "stdout"
    assert any("stderr_logfile: unused" in note for note in prog.notes)


def test_inline_comments_need_whitespace(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:app] ; the app
        command = app --url=http://x/#frag;v=1 ; a comment
        environment = A="1" # another comment
    """)
    prog = config.programs["app"]
    assert prog.argv == ("app", "--url=http://x/#frag;v=1")
    assert dict(prog.env)["A"] == "1"


# -- expansion ----------------------------------------------------------------


def test_expansions_here_program_env_and_percent(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:app]
        command = %(here)s/bin/%(program_name)s --home %(ENV_APP_HOME)s --cpu 50%%
    """)
    argv = config.programs["app"].argv
    assert argv == (f"{tmp_path}/bin/app", "--home", "/srv/app", "--cpu", "50%")


def test_process_num_makes_a_template(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:web]
        command = python -c "print({'a': 1})" --port 80%(process_num)02d
        process_name = %(program_name)s-%(process_num)d
        numprocs = 3
        numprocs_start = 1
        environment = PORT="80%(process_num)02d",NAME="w%(process_num)s"
    """)
    prog = config.programs["web"]
    assert prog.template and prog.num_start == 1
    assert prog.argv_for(0) == ("python", "-c", "print({'a': 1})", "--port", "8001")
    assert prog.argv_for(2)[-1] == "8003"
    env = dict(prog.env_for(1))
    assert (env["PORT"], env["NAME"]) == ("8002", "w2")
    assert env["SUPERVISOR_PROCESS_NAME"] == "web-2"
    assert "print({'a': 1})" in prog.command_text
    note = next(n for n in prog.notes if "process_name" in n)
    assert "web-1 → web.0" in note and "web-3 → web.2" in note


def test_program_environment_feeds_env_names_of_the_command(
    tmp_path: Path,
) -> None:
    config = read(tmp_path, """
        [supervisord]
        environment = REGION="eu"

        [program:app]
        environment = ROOT="/opt/%(ENV_REGION)s"
        command = %(ENV_ROOT)s/bin/app %(ENV_REGION)s
    """)
    prog = config.programs["app"]
    assert prog.argv == ("/opt/eu/bin/app", "eu")
    assert dict(prog.env)["REGION"] == "eu"


def test_per_process_directory_must_be_the_same_for_all(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:app]
        command = app
        process_name = app%(process_num)d
        numprocs = 2
        directory = /tmp/%(program_name)s
    """)
    assert config.programs["app"].cwd == "/tmp/app"
    message = error(tmp_path, """
        [program:app]
        command = app
        process_name = app%(process_num)d
        numprocs = 2
        directory = /tmp/%(process_num)d
    """)
    assert message.startswith(f"{tmp_path}/supervisord.conf:5: directory: "
                              "differs between processes")


# -- environment= --------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('A="val,ue",B=v2', {"A": "val,ue", "B": "v2"}),
    ("A='single, quoted',B=\"double\"", {"A": "single, quoted", "B": "double"}),
    ("A=1, B=2,", {"A": "1", "B": "2"}),
    ('A="has spaces",EMPTY=,Q=""', {"A": "has spaces", "EMPTY": "", "Q": ""}),
    ('URL="postgres://u:p@h/db?x=1"', {"URL": "postgres://u:p@h/db?x=1"}),
    ('A="ünïcode ✓"', {"A": "ünïcode ✓"}),
])
def test_environment_quoting(
    tmp_path: Path, text: str, expected: dict[str, str]
) -> None:
    config = read(tmp_path, f"""
        [program:app]
        command = app
        environment = {text}
    """)
    env = dict(config.programs["app"].env)
    for key, value in expected.items():
        assert env[key] == value


def test_environment_on_continuation_lines(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:app]
        command = app
        environment =
            A="1",
            B="two words",
            C=3
    """)
    env = dict(config.programs["app"].env)
    assert (env["A"], env["B"], env["C"]) == ("1", "two words", "3")


@pytest.mark.parametrize(("lines", "line", "message"), [
    (['environment = A="open'], 3, 'A: the value has no closing "'),
    (["environment = A=1 B=2"], 3, "A: a value with spaces needs quotes"),
    (["environment =", '    A="1",', '    B="2",', '    C="3" D=4'], 6,
     "expected ',' after the value of C"),
    (["environment = =1"], 3, "expected KEY=value"),
    (["environment = A=1,A=2"], 3, "A is set twice"),
    (["environment = A"], 3, "expected '=' after 'A'"),
])
def test_environment_errors_point_at_the_line(
    tmp_path: Path, lines: list[str], line: int, message: str
) -> None:
    body = "\n".join(lines)
    path = write(tmp_path, "[program:app]\ncommand = app\n" + body + "\n")
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value).startswith(f"{path}:{line}: environment: {message}")


# -- startsecs = 0, stop groups -----------------------------------------------


def test_startsecs_zero_with_autorestart_still_reaches_fatal(
    tmp_path: Path,
) -> None:
    """Case 09: a crash loop with startsecs=0 must not restart forever."""
    config = read(tmp_path, """
        [program:crasher]
        command = sh -c 'echo "starting and failing"; exit 1'
        autorestart = true
        startsecs = 0
        startretries = 3
    """)
    prog = config.programs["crasher"]
    assert prog.start_secs == 0
    assert prog.start_retries == 3
    assert prog.backoff == 1.0
    assert any("startsecs=0" in w and "fatal" in w for w in prog.warnings)


def test_startsecs_zero_without_restart_is_kept(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:once]
        command = true
        autorestart = false
        startsecs = 0
    """)
    prog = config.programs["once"]
    assert prog.start_secs == 0
    assert not any("startsecs" in w for w in prog.warnings)


def test_group_signalling_is_noted(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:app]
        command = bash -lc "exec app"
        stopasgroup = false
        killasgroup = false
    """)
    prog = config.programs["app"]
    assert sum("corral still signals its whole group" in n for n in prog.notes) == 2
    assert any("signalled only the shell" in w for w in prog.warnings)


# -- groups, includes, sections ------------------------------------------------


def test_group_priority_orders_programs(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [program:late]
        command = late
        priority = 1

        [program:b]
        command = b
        priority = 20

        [program:a]
        command = a
        priority = 10

        [program:alone]
        command = alone
        priority = 50

        [group:backend]
        programs = b,a
        priority = 30
    """)
    order = [p.name for p in config.ordered()]
    assert order == ["late", "a", "b", "alone"]
    assert dict(config.programs["a"].env)["SUPERVISOR_GROUP_NAME"] == "backend"


def test_include_globs_are_relative_to_the_main_file(tmp_path: Path) -> None:
    write(tmp_path, """
        [program:one]
        command = %(here)s/one
    """, "conf.d/one.conf")
    write(tmp_path, """
        [program:two]
        command = two
    """, "conf.d/two.conf")
    write(tmp_path, "[program:skipped]\ncommand = x\n", "conf.d/skipped.ini")
    config = read(tmp_path, """
        [include]
        files = conf.d/*.conf missing/*.conf
    """)
    assert sorted(config.programs) == ["one", "two"]
    assert config.programs["one"].argv == (f"{tmp_path}/conf.d/one",)
    assert any("no file matches" in note for note in config.notes)


def test_plumbing_sections_become_notes(tmp_path: Path) -> None:
    config = read(tmp_path, """
        [unix_http_server]
        file = /tmp/supervisor.sock
        chmod = 0700

        [inet_http_server]
        port = 127.0.0.1:9001

        [supervisorctl]
        serverurl = unix:///tmp/supervisor.sock

        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

        [supervisord]
        logfile = /tmp/supervisord.log
        pidfile = /tmp/supervisord.pid

        [program:app]
        command = app
    """)
    text = "\n".join(config.notes)
    for name in ("unix_http_server", "inet_http_server", "supervisorctl",
                 "rpcinterface:supervisor", "supervisord"):
        assert f"[{name}]" in text
    assert "not applicable" in text


# -- every error class: FILE:LINE: key: message --------------------------------


ERRORS = [
    # (body, line, key, start of the message); keys as the user wrote them
    ("[program:app]\ncommand =\n", 2, "command",
     "expected a command, got an empty string"),
    ("[program:app]\ncommand = app 'open\n", 2, "command", "cannot split"),
    ("[program:app]\ncommand = app\nbogus = 1\n", 3, "bogus",
     "unknown key in [program:app]"),
    ("[program:app]\nautostart = true\n", 1, "command", "missing required key"),
    ("[program:app]\ncommand = app\nnumprocs = many\n", 3, "numprocs",
     "expected an integer, got 'many'"),
    ("[program:app]\ncommand = app\nautostart = sometimes\n", 3, "autostart",
     "expected true or false"),
    ("[program:app]\ncommand = app\nautorestart = maybe\n", 3, "autorestart",
     "expected true, false or unexpected"),
    ("[program:app]\ncommand = app\nexitcodes = 0,256\n", 3, "exitcodes",
     "expected a list of exit codes 0..255"),
    ("[program:app]\ncommand = app\nstopsignal = NOPE\n", 3, "stopsignal",
     "invalid signal 'NOPE'"),
    ("[program:app]\ncommand = app\nstopasgroup = true\nkillasgroup = false\n",
     4, "killasgroup", "cannot be false when stopasgroup is true"),
    ("[program:app]\ncommand = app\nnumprocs = 2\n", 1, "process_name",
     "must contain %(process_num)d when numprocs > 1"),
    ("[program:app]\ncommand = app\nprocess_name = a b\n", 3, "process_name",
     "invalid process name 'a b'"),
    ("[program:app]\ncommand = app %(nope)s\n", 2, "command",
     "%(nope): unknown name"),
    ("[program:app]\ncommand = app %(ENV_NOT_SET_ANYWHERE)s\n", 2, "command",
     "%(ENV_NOT_SET_ANYWHERE)s: NOT_SET_ANYWHERE is not set"),
    ("[program:app]\ncommand = date +%Y\n", 2, "command",
     "a lone '%' at column 7"),
    ("[program:app]\ncommand = app\npriority = %(process_num)d\n", 3, "priority",
     "%(process_num) is not available in priority"),
    ("[program:app]\ncommand = app\nstdout_logfile_maxbytes = lots\n", 3,
     "stdout_logfile_maxbytes", "expected a size such as 50MB"),
    ("[program:app]\ncommand = app\nstdout_syslog = true\n", 3, "stdout_syslog",
     "logging to syslog is not supported"),
    ("[program:app]\ncommand = app\numask = 999\n", 3, "umask",
     "expected an octal mask"),
    ("[program:app]\ncommand = app\nstopwaitsecs = 100000\n", 3, "stopwaitsecs",
     "expected 0..86400"),
    ("[program:app]\ncommand = app %(program_name)\n", 2, "command",
     "%(program_name) needs a conversion"),
    ("[supervisord]\nlogfile = x\nfrobnicate = 1\n", 3, "frobnicate",
     "unknown key in [supervisord]"),
    ("[inet_http_server]\nport = 9001\nsecret = 1\n", 3, "secret",
     "unknown key in [inet_http_server]"),
    ("[group:g]\nprograms = ghost\n", 2, "programs",
     "no [program:ghost] for group 'g'"),
    ("[program:a]\ncommand = a\n[group:g]\nprograms = a\ncolour = red\n", 5,
     "colour", "unknown key in [group:g]"),
    ("[include]\npattern = *.conf\n", 2, "pattern", "unknown key in [include]"),
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
    ("[program:app]\ncommand = a\n[program:app]\ncommand = b\n", 3,
     "section [program:app] appears twice"),
    ("[eventlistener:mem]\ncommand = memmon\n", 1,
     "[eventlistener:mem]: supervisord eventlistener sections are not supported"),
    ("[fcgi-program:php]\ncommand = php-cgi\n", 1, "[fcgi-program:php]"),
    ("[watcher-ish]\nx = 1\n[program:a]\ncommand = a\n", 1,
     "unknown section [watcher-ish]"),
    ("[program:my.app]\ncommand = a\n", 1, "invalid program name 'my.app'"),
    ("[program:a]\ncommand = a\n[program:b]\ncommand = b\n[group:x]\n"
     "programs = a\n[group:y]\nprograms = a,b\n", 8,
     "programs: program 'a' is already in group 'x'"),
    ("command = a\n", 1, "expected a [section] before the first key"),
    ("[program:a\ncommand = a\n", 1, "expected a section header"),
    ("[include]\n", 1, "files: [include] needs a files= setting"),
]


@pytest.mark.parametrize(("body", "line", "message"), SECTION_ERRORS)
def test_section_errors(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value).startswith(f"{path}:{line}: {message}"), str(info.value)


def test_errors_in_included_files_name_that_file(tmp_path: Path) -> None:
    included = write(tmp_path, "[program:b]\ncommand = b\nnope = 1\n", "conf.d/b.conf")
    main = write(tmp_path, "[include]\nfiles = conf.d/*.conf\n")
    with pytest.raises(ConfigError) as info:
        load(str(main))
    assert str(info.value).startswith(f"{included}:3: nope: unknown key")


def test_a_section_twice_across_files_is_refused(tmp_path: Path) -> None:
    included = write(tmp_path, "[program:a]\ncommand = b\n", "more.conf")
    main = write(tmp_path, "[include]\nfiles = more.conf\n[program:a]\ncommand = a\n")
    with pytest.raises(ConfigError) as info:
        load(str(main))
    assert str(info.value).startswith(
        f"{included}:1: section [program:a] is defined again (first at {main}:3)"
    )


def test_include_in_an_included_file_is_refused(tmp_path: Path) -> None:
    included = write(tmp_path, "[include]\nfiles = x.conf\n", "more.conf")
    main = write(tmp_path, "[include]\nfiles = more.conf\n")
    with pytest.raises(ConfigError) as info:
        load(str(main))
    assert str(info.value).startswith(f"{included}:1: [include] in an included")


def test_nul_and_bad_utf8_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "supervisord.conf"
    path.write_bytes(b"[program:a]\ncommand = a\x00b\n")
    with pytest.raises(ConfigError, match=":2: line contains a NUL byte"):
        load(str(path))
    path.write_bytes(b"[program:a]\ncommand = caf\xe9\n")
    with pytest.raises(ConfigError, match=":2: file is not valid UTF-8"):
        load(str(path))


# -- recognising the format ----------------------------------------------------


def test_format_is_sniffed_from_sections(tmp_path: Path) -> None:
    ini = write(tmp_path, "[program:a]\ncommand = a\n", "apps.ini")
    conf = write(tmp_path, "[watcher:a]\ncmd = a\n", "circus.conf")
    other = write(tmp_path, "; comment\n[program:a]\ncommand = a\n", "apps.cfg")
    assert detect_format(str(ini)) == "supervisord"
    assert detect_format(str(conf)) == "circus"
    assert detect_format(str(other)) == "supervisord"
    assert load(str(ini)).programs["a"].argv == ("a",)


# -- random input ---------------------------------------------------------------


VALUES = st.one_of(
    st.sampled_from([
        "", "0", "1", "3", "-1", "true", "false", "unexpected", "TERM", "KILL",
        "%(program_name)s", "%(process_num)02d", "x%(process_num)d", "%%", "%",
        "%(ENV_APP_HOME)s", "%(here)s/x", "%(bogus)s", "AUTO", "NONE",
        "/dev/stdout", "50MB", "1kb", 'A="x,y",B=2', "A='1' B=2", "a b",
        "'", '"', "{", "}}", "app --x={y}", "sh -c 'exec app'", "a,b",
        "conf.d/*.conf", "022", "99999999999999999999999",
    ]),
    st.text(max_size=12).map(lambda s: s.replace("\n", " ").replace("\r", " ")),
)
PLAUSIBLE = {
    "command": ["app", "/bin/sh -c 'exec app'", "app --port 80%(process_num)02d",
                "python -c 'print({1: 2})'", "%(here)s/run %(ENV_APP_HOME)s",
                "app 50%%", "app %(ENV_X)s"],
    "numprocs": ["0", "1", "2", "3"],
    "numprocs_start": ["0", "1", "10"],
    "process_name": ["%(program_name)s_%(process_num)02d", "%(program_name)s",
                     "w%(process_num)d", "%(process_num)-3d"],
    "priority": ["1", "999", "-5"],
    "autostart": ["true", "false"],
    "autorestart": ["true", "false", "unexpected"],
    "exitcodes": ["0", "0,2", "1"],
    "startsecs": ["0", "1", "10"],
    "startretries": ["0", "3"],
    "stopsignal": ["TERM", "INT", "SIGQUIT", "9"],
    "stopwaitsecs": ["0", "10"],
    "stopasgroup": ["true", "false"],
    "killasgroup": ["true", "false"],
    "user": ["root", "nobody", "%(ENV_USER)s"],
    "redirect_stderr": ["true", "false"],
    "environment": ['A="1",B="x,y"', "X=%(process_num)d", "A='q', B=2",
                    "HOME=%(ENV_APP_HOME)s", 'P="{x}"'],
    "directory": ["/tmp", "%(here)s", "sub", "/tmp/%(process_num)d"],
    "umask": ["022", "0", "777"],
    "stdout_logfile": ["AUTO", "NONE", "/dev/stdout", "logs/%(program_name)s.log",
                       "logs/%(process_num)d.log"],
    "stderr_logfile": ["AUTO", "NONE", "/dev/stderr", "err.log"],
    "stdout_logfile_maxbytes": ["0", "1MB", "50MB"],
    "stdout_logfile_backups": ["0", "10"],
}


def values_for(key: str) -> st.SearchStrategy[str]:
    plausible = st.sampled_from(PLAUSIBLE.get(key, ["1"]))
    return st.one_of(plausible, plausible, plausible, VALUES)


@st.composite
def conf_files(draw: st.DrawFn) -> str:
    lines = []
    names = draw(st.lists(st.sampled_from(["a", "b", "web"]), unique=True,
                          min_size=1, max_size=3))
    for name in names:
        lines += [f"[program:{name}]", f"command = {draw(values_for('command'))}"]
        keys = draw(st.lists(st.sampled_from(sorted(PROGRAM_KEYS)), unique=True,
                             max_size=10))
        for key in keys:
            if key != "command":
                lines.append(f"{key} = {draw(values_for(key))}")
    if draw(st.booleans()):
        lines += ["[group:g]", f"programs = {','.join(names[:2])}",
                  f"priority = {draw(values_for('priority'))}"]
    if draw(st.booleans()):
        lines += ["[supervisord]",
                  f"environment = {draw(values_for('environment'))}",
                  f"childlogdir = {draw(values_for('directory'))}"]
    if draw(st.booleans()):
        lines += [f"[{draw(st.sampled_from(['inet_http_server', 'x', 'include']))}]",
                  f"{draw(KEYS)} = {draw(VALUES)}"]
    return "\n".join(lines) + "\n"


KEYS = st.sampled_from([*sorted(PROGRAM_KEYS), "files", "port", "bogus"])


def _exercise(text: str) -> None:
    exercise_config(text, "supervisord.conf")


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(conf_files())
def test_random_structured_files_end_in_config_or_error(text: str) -> None:
    _exercise(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_ends_in_config_or_error(text: str) -> None:
    _exercise("[program:a]\n" + text)
