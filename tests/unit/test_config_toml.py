"""The TOML reader: what it accepts, and FILE:LINE: key: for all it refuses.

Messages are checked whole, so a change of wording is a visible decision.
The property tests at the end feed random TOML-ish text and random program
tables to `load`: the answer is a `Config` or a `ConfigError` located
inside the file, never another exception.
"""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.config import load
from corral.config.model import DEFAULT_TIMESTAMP, PROGRAM_KEYS, StreamConfig
from corral.config.toml_reader import locate_keys, read_toml
from corral.errors import ConfigError

RTMIN = int(signal.SIGRTMIN)
RTMAX = int(signal.SIGRTMAX)


def write(tmp_path: Path, text: str | bytes, name: str = "corral.toml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def refusal(path: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "\n" not in str(info.value)
    return info.value


# ---------------------------------------------------------------------------
# Accepted


def test_minimal_program_gets_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, '[programs.web]\ncmd = "python -m http.server 8000"\n')
    config = load(path)
    assert config.path == path
    assert config.state_dir == str(tmp_path / ".corral")
    assert config.log_level == "info"
    web = config.programs["web"]
    assert web.argv == ("python", "-m", "http.server", "8000")
    assert web.command_text == "python -m http.server 8000"
    assert (web.shell, web.numprocs, web.autostart, web.restart) == (
        False, 1, True, "always")
    assert web.exit_codes == frozenset({0})
    assert (web.start_secs, web.start_retries, web.backoff, web.backoff_max) == (
        1.0, 5, 0.25, 30.0)
    assert (web.stop_signal, web.stop_timeout) == (15, 10.0)
    assert web.cwd == str(tmp_path)
    assert web.stdout == web.stderr == StreamConfig("console")
    assert (web.file, web.line) == (path, 1)


def test_the_example_of_the_contract(tmp_path: Path) -> None:
    path = write(tmp_path, """\
[corral]
state_dir = "run"
log_level = "debug"

[programs.test]
cmd = "python test.py"        # a string (split like a shell) or a list
shell = false
numprocs = 2
autostart = false
restart = "on-failure"
exit_codes = [0, 3]
stop_signal = "SIGINT"
stop_timeout = 2.5
cwd = "app"
env = { PYTHONUNBUFFERED = "1", WORKERS = 4 }
stdout = "logs/test.out.log"
stderr = "stdout"
user = "nobody"
umask = "027"
priority = -5
depends_on = "db"

[programs.db]
cmd = ["postgres", "-D", "data dir"]
stdout = { file = "logs/db.log", max_bytes = 10485760, backups = 5, timestamps = true }
stderr = "null"
""")
    config = load(path)
    assert config.state_dir == str(tmp_path / "run")
    assert config.log_level == "debug"
    test = config.programs["test"]
    assert test.numprocs == 2 and test.autostart is False
    assert test.restart == "on-failure" and test.exit_codes == frozenset({0, 3})
    assert test.stop_signal == 2 and test.stop_timeout == 2.5
    assert test.cwd == str(tmp_path / "app")
    assert test.env == (("PYTHONUNBUFFERED", "1"), ("WORKERS", "4"))
    assert test.stdout == StreamConfig("file", str(tmp_path / "logs/test.out.log"))
    assert test.stderr == StreamConfig("stdout")
    assert (test.user, test.umask, test.priority) == ("nobody", 0o27, -5)
    assert test.depends_on == ("db",)
    assert test.line == 5
    db = config.programs["db"]
    assert db.argv == ("postgres", "-D", "data dir")
    assert db.command_text == "postgres -D 'data dir'"
    assert db.stdout == StreamConfig("file", str(tmp_path / "logs/db.log"),
                                     10485760, 5, DEFAULT_TIMESTAMP)
    assert db.stderr == StreamConfig("null")
    assert [p.name for p in config.ordered()] == ["db", "test"]


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ('cmd = "sleep 1 && echo hi"', ("/bin/sh", "-c", "sleep 1 && echo hi")),
        ('cmd = ["echo", "a b"]', ("/bin/sh", "-c", "echo 'a b'")),
    ],
)
def test_shell_runs_the_command_through_sh(tmp_path: Path, line: str,
                                           argv: tuple[str, ...]) -> None:
    path = write(tmp_path, f"[programs.web]\nshell = true\n{line}\n")
    assert load(path).programs["web"].argv == argv


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("exit_codes = 2", "exit_codes", frozenset({2})),
        ("umask = 0o022", "umask", 0o22),
        ("umask = 18", "umask", 18),
        ("stop_signal = 9", "stop_signal", 9),
        ("stop_signal = 'rtmin+1'", "stop_signal", RTMIN + 1),
        ("start_retries = -1", "start_retries", -1),
        ("numprocs = 0", "numprocs", 0),
        ("stop_timeout = 0", "stop_timeout", 0.0),
        ("stdout = { file = 'o.log', timestamps = '%H:%M' }", "stdout",
         StreamConfig("file", "o.log", 0, 0, "%H:%M")),
        ("depends_on = []", "depends_on", ()),
        ("env = { A = 1.5 }", "env", (("A", "1.5"),)),
    ],
)
def test_accepted_values(tmp_path: Path, line: str, field: str, value: Any) -> None:
    if isinstance(value, StreamConfig):
        value = StreamConfig(value.kind, str(tmp_path / str(value.path)),
                             value.max_bytes, value.backups, value.timestamps)
    path = write(tmp_path, f'[programs.web]\ncmd = "x"\n{line}\n')
    assert getattr(load(path).programs["web"], field) == value


def test_start_order_puts_dependencies_first_then_priority(tmp_path: Path) -> None:
    path = write(tmp_path, """\
[programs.web]
cmd = "w"
depends_on = ["api", "cache"]
[programs.api]
cmd = "a"
depends_on = ["db"]
[programs.cache]
cmd = "c"
priority = -1
[programs.db]
cmd = "d"
[programs.cron]
cmd = "c"
priority = 10
""")
    order = [p.name for p in load(path).ordered()]
    assert order == ["cache", "db", "api", "web", "cron"]


# ---------------------------------------------------------------------------
# Refused: every key, every kind of bad value, at the key's line


BAD_VALUES: list[tuple[str, str, str]] = [
    ("cmd", "5", "expected a string or a list of strings, got 5"),
    ("cmd", '""', "expected a command, got an empty string"),
    ("cmd", '"   "', "expected a command, got an empty string"),
    ("cmd", "[]", "expected a string or a list of strings, got []"),
    ("cmd", '["a", 1]', "expected a string or a list of strings, got ['a', 1]"),
    ("cmd", '["", "x"]', "expected a program as the first item, got ''"),
    ("cmd", "\"echo 'oops\"", "cannot split \"echo 'oops\": No closing quotation"),
    ("shell", '"yes"', "expected true or false, got 'yes'"),
    ("numprocs", '"2"', "expected an integer, got '2'"),
    ("numprocs", "1.5", "expected an integer, got 1.5"),
    ("numprocs", "true", "expected an integer, got true"),
    ("numprocs", "-1", "expected 0..10000, got -1"),
    ("numprocs", "10001", "expected 0..10000, got 10001"),
    ("autostart", "1", "expected true or false, got 1"),
    ("restart", '"sometimes"', "expected always | on-failure | never, got 'sometimes'"),
    ("restart", '"Always"', "expected always | on-failure | never, got 'Always'"),
    ("restart", "true", "expected always | on-failure | never, got True"),
    ("exit_codes", '"0"', "expected a list of 0..255, got '0'"),
    ("exit_codes", "[256]", "expected a list of 0..255, got [256]"),
    ("exit_codes", "[-1]", "expected a list of 0..255, got [-1]"),
    ("exit_codes", "[true]", "expected a list of 0..255, got [true]"),
    ("exit_codes", "1.0", "expected a list of 0..255, got 1.0"),
    ("start_secs", '"1"', "expected a number of seconds, got '1'"),
    ("start_secs", "true", "expected a number of seconds, got true"),
    ("start_secs", "-1", "expected 0..86400 seconds, got -1"),
    ("start_secs", "-0.5", "expected 0..86400 seconds, got -0.5"),
    ("start_secs", "nan", "expected 0..86400 seconds, got nan"),
    ("start_secs", "inf", "expected 0..86400 seconds, got inf"),
    ("start_secs", "86401", "expected 0..86400 seconds, got 86401"),
    ("start_retries", "-2", "expected -1..1000000, got -2"),
    ("start_retries", "1.5", "expected an integer, got 1.5"),
    ("backoff", "3601", "expected 0..3600 seconds, got 3601"),
    ("backoff", "-0.25", "expected 0..3600 seconds, got -0.25"),
    ("backoff_max", '"x"', "expected a number of seconds, got 'x'"),
    ("stop_signal", '"NOPE"', "invalid signal 'NOPE': not a signal name or number"),
    ("stop_signal", '"SIGKILLL"', "invalid signal 'SIGKILLL': not a signal name or number"),
    ("stop_signal", "0", "invalid signal '0': out of range 1..{rtmax}"),
    ("stop_signal", "65", "invalid signal '65': out of range 1..{rtmax}"),
    ("stop_signal", "-15", "invalid signal '-15': out of range 1..{rtmax}"),
    ("stop_signal", "true", "invalid signal True: not a signal name or number"),
    ("stop_timeout", "-1", "expected 0..86400 seconds, got -1"),
    ("stop_timeout", '"10s"', "expected a number of seconds, got '10s'"),
    ("cwd", "5", "expected a string, got 5"),
    ("env", '"A=1"', "expected a table of names to strings, got 'A=1'"),
    ("env", "{ A = true }", "A: expected a string, got true"),
    ("env", "{ A = [1] }", "A: expected a string, got [1]"),
    ("env", '{ "" = "x" }', "invalid variable name ''"),
    ("env", '{ "A=B" = "x" }', "invalid variable name 'A=B'"),
    ("env", '{ A = "a\\u0000b" }', "A: value contains a NUL byte"),
    ("inherit_env", '"no"', "expected true or false, got 'no'"),
    ("user", "-1", "expected a name or a number, got -1"),
    ("group", "[]", "expected a name or a number, got []"),
    ("umask", '"9"', "expected an octal mask, got '9'"),
    ("umask", '"rwx"', "expected an octal mask, got 'rwx'"),
    ("umask", "1000", "expected an octal mask 000..777, got 1000"),
    ("umask", "-1", "expected an octal mask 000..777, got -1"),
    ("umask", "true", "expected an octal mask 000..777, got true"),
    ("stdout", "5", "expected a file name, 'console', 'null' or a table, got 5"),
    ("stdout", '""', "expected a file, 'console' or 'null', got ''"),
    ("stdout", '"stdout"', "expected a file, 'console' or 'null', got 'stdout'"),
    ("stdout", '{ file = "console" }', "file: rotation applies to files only, got 'console'"),
    ("stdout", '{ file = "o", bogus = 1 }', "bogus: unknown key"),
    ("stdout", '{ file = "o", max_bytes = -1 }', "max_bytes: expected a whole number >= 0, got -1"),
    ("stdout", '{ file = "o", backups = 1.5 }', "backups: expected a whole number >= 0, got 1.5"),
    ("stdout", '{ file = "o", timestamps = 1 }', "timestamps: expected true, false or a time format, got 1"),
    ("stdout", '{ file = "o", timestamps = "" }', "timestamps: expected true, false or a time format, got ''"),
    ("timestamps", "1", "expected true, false or a time format, got 1"),
    ("stdout", "{ max_bytes = 1 }", "file: expected a file name, got nothing"),
    ("stderr", "[]", "expected a file name, 'console', 'null' or a table, got []"),
    ("priority", '"high"', "expected an integer, got 'high'"),
    ("priority", "2000000", "expected -1000000..1000000, got 2000000"),
    ("depends_on", "5", "expected a list of program names, got 5"),
    ("depends_on", "[1]", "expected a list of program names, got [1]"),
    ("critical", '"yes"', "expected true or false, got 'yes'"),
    ("bogus", "1", "unknown key"),
    ("stop_as_group", "true", "unknown key"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_VALUES,
                         ids=[f"{k}={v}" for k, v, _ in BAD_VALUES])
def test_bad_value_is_refused_at_its_line(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    first = "# the command comes next" if key == "cmd" else 'cmd = "x"'
    path = write(tmp_path, f"[programs.web]\n{first}\n{key} = {value}\n")
    exc = refusal(path)
    expected = message.format(rtmax=RTMAX)
    assert str(exc) == f"{path}:3: {key}: {expected}"
    assert (exc.file, exc.line, exc.key) == (path, 3, key)


def test_every_program_key_has_a_bad_value_case() -> None:
    assert {k for k, _, _ in BAD_VALUES} >= PROGRAM_KEYS


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("x = 1\n[programs.web]\ncmd = 'x'\n", 1,
         "x: unknown key (expected [corral] or [programs.NAME])"),
        ("[programs.web]\ncmd = 'x'\n\n[server]\nport = 1\n", 4,
         "server: unknown key (expected [corral] or [programs.NAME])"),
        ("[corral]\nstate_dir = 'x'\nbogus = 1\n", 3, "bogus: unknown key"),
        ("[corral]\nstate_dir = 5\n", 2, "state_dir: expected a directory, got 5"),
        ("[corral]\nstate_dir = ''\n", 2, "state_dir: expected a directory, got ''"),
        ("[corral]\nlog_level = 'loud'\n", 2,
         "log_level: expected one of debug, info, warning, error, got 'loud'"),
        ("corral = 5\n", 1, "corral: expected a table"),
        ("\nprograms = 5\n", 2, "programs: expected a table"),
        ("[programs]\nweb = 3\n", 2, "web: expected a table [programs.NAME]"),
        ("\n[[programs.web]]\ncmd = 'x'\n", 2, "web: expected a table [programs.NAME]"),
        ("\n\n[programs.web]\nnumprocs = 1\n", 3, "cmd: missing required key"),
        ('[programs."a b"]\ncmd = "x"\n', 1,
         "invalid program name 'a b': use letters, digits, '-' and '_'"),
        ('[programs.web]\ncmd = "x"\n[programs."web.0"]\ncmd = "x"\n', 3,
         "invalid program name 'web.0': use letters, digits, '-' and '_'"),
        (f'[programs.{"n" * 65}]\ncmd = "x"\n', 1,
         f"invalid program name '{'n' * 65}': use letters, digits, '-' and '_'"),
    ],
    ids=["top-key", "top-table", "corral-key", "state_dir-type", "state_dir-empty",
         "log_level", "corral-not-table", "programs-not-table", "program-not-table",
         "array-of-tables", "missing-cmd", "name-space", "name-dot", "name-long"],
)
def test_structure_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    assert str(refusal(path)) == f"{path}:{line}: {message}"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[programs.web]\ncmd = "x"\nnumprocs = = 2\n', 3),
        ('[programs.web]\ncmd = "x"\ncmd = "y"\n', 3),
        ('[programs.web]\n[programs.web]\ncmd = "x"\n', 2),
        ('\n\n\n[programs.web\ncmd = "x"\n', 4),
        ("a = 1\nb = tru\n", 2),
    ],
)
def test_bad_toml_syntax_names_its_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, text)
    exc = refusal(path)
    assert exc.line == line
    assert str(exc).startswith(f"{path}:{line}: invalid TOML: ")
    assert "(at line" not in str(exc)


def test_regression_error_at_end_of_document_points_at_the_last_line(
    tmp_path: Path,
) -> None:
    """An unterminated string on line 3 of 3 is not an error on line 1."""
    path = write(tmp_path, '[programs.web]\nnumprocs = 1\ncmd = "python app.py')
    exc = refusal(path)
    assert exc.line == 3


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b'[programs.web]\n\ncmd = "caf\xe9"\n')
    assert str(refusal(path)) == f"{path}:3: file is not valid UTF-8"


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.toml")
    exc = refusal(path)
    assert exc.file == path
    assert str(exc).endswith("cannot read config: No such file or directory")


# ---------------------------------------------------------------------------
# Dependencies


def test_unknown_depends_on(tmp_path: Path) -> None:
    path = write(tmp_path, '[programs.web]\ncmd = "x"\ndepends_on = ["db"]\n')
    exc = refusal(path)
    assert exc.key == "depends_on"
    assert str(exc).endswith("depends_on: unknown program 'db'")
    assert exc.file == path


@pytest.mark.parametrize(
    ("text", "cycle"),
    [
        ('[programs.a]\ncmd = "x"\ndepends_on = ["a"]\n', "a -> a"),
        ('[programs.a]\ncmd = "x"\ndepends_on = ["b"]\n\n'
         '[programs.b]\ncmd = "x"\ndepends_on = ["a"]\n', "a -> b -> a"),
        ('[programs.z]\ncmd = "x"\n[programs.a]\ncmd = "x"\ndepends_on = ["b"]\n'
         '[programs.b]\ncmd = "x"\ndepends_on = ["c"]\n'
         '[programs.c]\ncmd = "x"\ndepends_on = "b"\n', "b -> c -> b"),
    ],
)
def test_dependency_cycle(tmp_path: Path, text: str, cycle: str) -> None:
    path = write(tmp_path, text)
    exc = refusal(path)
    assert exc.key == "depends_on" and exc.file == path
    assert str(exc).endswith(f"depends_on: dependency cycle: {cycle}")


@pytest.mark.parametrize(
    "text",
    [
        '[programs.web]\ncmd = "x"\ndepends_on = ["db"]\n',
        '[programs.web]\ncmd = "x"\ndepends_on = ["web"]\n',
    ],
    ids=["unknown", "cycle"],
)
def test_regression_depends_on_errors_point_at_the_depends_on_line(
    tmp_path: Path, text: str
) -> None:
    """`FILE:LINE: depends_on:` must name the line where depends_on is."""
    path = write(tmp_path, text)
    assert refusal(path).line == 3


# ---------------------------------------------------------------------------
# Finding lines


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[programs]\nweb = { cmd = "x", numprocs = -1 }\n', 2),
        ('programs.web.cmd = "x"\nprograms.web.numprocs = -1\n', 2),
        ('[programs]\nweb.cmd = "x"\n\nweb.numprocs = -1\n', 4),
        ('[ programs . web ]  # the site\ncmd = "x"\n"numprocs" = -1\n', 3),
        ('[programs.web]\ncmd = """\nnumprocs = 5\n"""\nnumprocs = -1\n', 5),
        ("[programs.web]\ncmd = '''\n[programs.web]\nnumprocs = 1\n'''\nnumprocs = -1\n", 6),
        ('[programs.web]\ncmd = """x"""\n\nnumprocs = -1\n', 4),
        ('[programs.web]\ncmd = "x"\n\n\n\n\n\n\n\n\nnumprocs = -1\n', 11),
    ],
    ids=["inline-table", "dotted", "dotted-in-table", "spaced-header",
         "multiline-basic", "multiline-literal", "one-line-triple", "far"],
)
def test_the_line_is_found_in_every_spelling(tmp_path: Path, text: str, line: int) -> None:
    exc = refusal(write(tmp_path, text))
    assert (exc.key, exc.line) == ("numprocs", line)


@pytest.mark.parametrize(
    "text",
    [
        '[programs.web]\ncmd = "x"\n# see """ below\nnumprocs = -1\n',
        "[programs.web]\ncmd = ['\"\"\"']\n\nnumprocs = -1\n",
    ],
    ids=["comment", "literal-string"],
)
def test_regression_triple_quotes_outside_a_multiline_string(
    tmp_path: Path, text: str
) -> None:
    """A `\"\"\"` that opens no string must not hide the lines after it."""
    assert refusal(write(tmp_path, text)).line == 4


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_regression_unicode_line_separators_do_not_shift_lines(
    tmp_path: Path, separator: str
) -> None:
    """TOML allows these in comments and strings; lines are counted at \\n only."""
    text = f'# a{separator}b\n[programs.web]\ncmd = "x"\nnumprocs = -1\n'
    assert refusal(write(tmp_path, text)).line == 4


def test_regression_stream_sub_table_key_points_at_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[programs.web]\ncmd = "x"\n\n[programs.web.stdout]\n'
                 'file = "o.log"\nmax_bytes = -1\n')
    assert refusal(path).line == 6


def test_locate_keys_maps_tables_and_keys() -> None:
    found = locate_keys('[corral]\nstate_dir = "s"\n\n[programs.web]\ncmd = "x"\n'
                        'env = { A = "1", B = "2" }\n')
    assert found[("corral",)] == 1
    assert found[("corral", "state_dir")] == 2
    assert found[("programs", "web")] == 4
    assert found[("programs", "web", "cmd")] == 5
    assert found[("programs", "web", "env", "B")] == 6


@pytest.mark.parametrize(
    "text",
    [
        '[programs.web]\ncmd = "x"\nstop_signal = 15.0\n',
        '[programs.web]\ncmd = "x"\nstop_signal = [15]\n',
        '[programs.web]\ncmd = "x"\nstop_signal = "\u00b2"\n',
    ],
    ids=["float", "list", "superscript-two"],
)
def test_regression_stop_signal_of_any_type_is_a_config_error(
    tmp_path: Path, text: str
) -> None:
    """A float or a list escapes as AttributeError, '²' as ValueError.

    Either way `corral check` prints a traceback instead of FILE:LINE.
    """
    path = write(tmp_path, text)
    exc = refusal(path)
    assert (exc.line, exc.key) == (3, "stop_signal")


# ---------------------------------------------------------------------------
# Properties: Config or ConfigError, never anything else


# The characters str.splitlines treats as line ends beyond \n and \r; see
# test_regression_unicode_line_separators_do_not_shift_lines.
EXTRA_LINE_ENDS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"],
                           blacklist_characters=EXTRA_LINE_ENDS),
    max_size=12,
)
NAMES = st.sampled_from(["web", "db", "api-2", "w_1", "cache", "cron", "Q",
                         "\u00e9", "a b", "", "x.y"])
SCALARS = st.one_of(
    SAFE_TEXT,
    st.sampled_from(["console", "null", "stdout", "always", "never", "on-failure",
                     "TERM", "SIGKILL", "022", "~", ".", "web", "db"]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-3, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["file", "max_bytes", "backups", "timestamps",
                                         "A", "B", ""]), inner, max_size=3),
    ),
    max_leaves=4,
)
# stop_signal only as a str or an int: other types are a known crash, see
# test_regression_stop_signal_of_any_type_is_a_config_error.
SIGNALS = st.one_of(
    st.sampled_from(["TERM", "sigint", "RTMIN+1", "NOPE", "", "0", "-1"]),
    st.integers(min_value=-100, max_value=100),
)
SECONDS = st.one_of(st.integers(0, 100), st.floats(0, 100))
STREAM_FILE = st.fixed_dictionaries(
    {"file": st.just("o.log")},
    optional={"max_bytes": st.integers(0, 10**6), "backups": st.integers(0, 5),
              "timestamps": st.one_of(st.booleans(), st.just("%H:%M"))},
)
# Plausible values, so that a random table gets past its first key.
GOOD: dict[str, st.SearchStrategy[Any]] = {
    "cmd": st.sampled_from(["sleep 5", "echo 'a b'", ["python", "-c", "pass"]]),
    "shell": st.booleans(),
    "numprocs": st.integers(0, 5),
    "autostart": st.booleans(),
    "restart": st.sampled_from(["always", "on-failure", "never"]),
    "exit_codes": st.one_of(st.integers(0, 255), st.lists(st.integers(0, 255),
                                                          max_size=3)),
    "start_secs": SECONDS,
    "start_retries": st.integers(-1, 10),
    "backoff": SECONDS,
    "backoff_max": SECONDS,
    "stop_signal": SIGNALS,
    "stop_timeout": SECONDS,
    "cwd": st.sampled_from([".", "sub", "~", "/tmp"]),
    "env": st.dictionaries(st.sampled_from(["A", "B_2"]),
                           st.one_of(SAFE_TEXT, st.integers())),
    "inherit_env": st.booleans(),
    "user": st.sampled_from(["nobody", "root", "1000"]),
    "group": st.sampled_from(["nogroup", "0"]),
    "umask": st.sampled_from(["022", 0o27, 18]),
    "stdout": st.one_of(st.sampled_from(["console", "null", "o.log"]), STREAM_FILE),
    "stderr": st.one_of(st.sampled_from(["console", "null", "stdout", "e.log"]),
                        STREAM_FILE),
    "priority": st.integers(-10, 10),
    "depends_on": st.lists(NAMES, max_size=3),
    "critical": st.booleans(),
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    items = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
    return "{ " + items + " }"


@st.composite
def programs(draw: st.DrawFn) -> str:
    """A [corral] table and [programs.NAME] tables, mostly plausible."""
    lines = []
    if draw(st.booleans()):
        lines.append("[corral]")
        good = draw(st.integers(0, 9)) > 0
        lines.append("state_dir = " + toml_value(draw(
            st.sampled_from(["run", ".corral", "/tmp/x"]) if good else VALUES)))
        lines.append("log_level = " + toml_value(draw(
            st.sampled_from(["info", "debug", "info", "debug", "loud", 3]))))
    for name in draw(st.lists(NAMES, max_size=4, unique=True)):
        lines.append(f"[programs.{json.dumps(name, ensure_ascii=False)}]")
        keys = draw(st.lists(st.sampled_from(sorted(GOOD)), max_size=8, unique=True))
        if "cmd" not in keys and draw(st.integers(0, 9)):
            keys.insert(0, "cmd")
        if not draw(st.integers(0, 19)):
            keys.append("bogus")
        for key in keys:
            if key == "bogus":
                value: Any = 1
            elif key == "stop_signal" or draw(st.integers(0, 9)) > 0:
                value = draw(GOOD[key])
            else:
                value = draw(VALUES)
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


FRAGMENTS = st.sampled_from([
    "[programs.web]", "[programs.db]", "[corral]", "[[programs.web]]", "[server]",
    "[programs]", 'cmd = "sleep 1"', "cmd = ['a', 'b']", "numprocs = 2",
    "numprocs = -1", 'depends_on = ["db"]', 'depends_on = ["web"]', "shell = true",
    'stop_signal = "HUP"', 'stdout = { file = "o.log", max_bytes = 10 }',
    'env = { A = "1" }', 'cmd = """', '"""', "'''", "# comment", "", "=", "[",
    'web = { cmd = "x" }', "programs.api.cmd = 'x'", 'state_dir = "s"',
    'log_level = "debug"', "x = 1", 'restart = "never"', "a.b.c = 1",
])


@st.composite
def tomlish(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(FRAGMENTS, SAFE_TEXT), max_size=14))
    return "\n".join(parts) + draw(st.sampled_from(["", "\n"]))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("toml")


def load_or_refuse(directory: Path, text: str) -> None:
    path = os.path.join(directory, "corral.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    try:
        config = load(path)
    except ConfigError as exc:
        assert exc.file == path
        lines = text.count("\n") + 1
        assert exc.line is None or 1 <= exc.line <= lines, (exc.line, lines)
        assert "\n" not in str(exc)
    else:
        assert all(p.file == path for p in config.programs.values())
        config.ordered()


PROPERTY = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(text=programs())
def test_random_program_tables_load_or_are_refused(scratch: Path, text: str) -> None:
    load_or_refuse(scratch, text)


@PROPERTY
@given(text=tomlish())
def test_random_tomlish_text_loads_or_is_refused(scratch: Path, text: str) -> None:
    load_or_refuse(scratch, text)


def test_read_toml_alone_does_not_check_references(tmp_path: Path) -> None:
    """`load` adds the cross-program checks; the reader stays per program."""
    path = write(tmp_path, '[programs.web]\ncmd = "x"\ndepends_on = ["db"]\n')
    assert read_toml(path).programs["web"].depends_on == ("db",)
