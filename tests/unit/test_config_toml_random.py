"""The TOML reader with random programs, and the refusals the other readers share."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.config import load
from corral.config.model import PROGRAM_KEYS
from corral.errors import ConfigError
from tests.unit.conftest import exercise_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "corral.toml"
    path.write_text(text)
    return path


ERRORS = [
    ('[programs.a]\ncmd = "a"\nbogus = 1\n', 3, "bogus", "unknown key"),
    ("[programs.a]\nshell = true\n", 1, "cmd", "missing required key"),
    ('[programs.a]\ncmd = "a"\nnumprocs = "two"\n', 3, "numprocs",
     "expected an integer"),
    ('[programs.a]\ncmd = "a"\nstop_signal = "NOPE"\n', 3, "stop_signal",
     "invalid signal 'NOPE'"),
    ('[programs.a]\ncmd = "a"\nstop_signal = []\n', 3, "stop_signal",
     "invalid signal []: not a signal name or number"),
    ('[programs.a]\ncmd = "a"\nrestart = "sometimes"\n', 3, "restart",
     "expected always | on-failure | never"),
    ('[programs.a]\ncmd = "a"\nstdout = { file = "x", colour = 1 }\n', 3,
     "stdout", "colour: unknown key"),
    ('[programs.a]\ncmd = "a\\u0000b"\n', 2, "cmd", "expected text without NUL"),
    ('[programs.a]\ncmd = "a"\ncwd = "x\\u0000"\n', 3, "cwd",
     "expected text without NUL"),
    ('[corral]\nstate_dir = 3\n', 2, "state_dir", "expected a directory"),
    ('[other]\n', 1, "other", "unknown key"),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), ERRORS)
def test_errors_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value).startswith(f"{path}:{line}: {key}: {message}"), str(
        info.value
    )


def test_invalid_toml_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[programs.a]\ncmd = "a"\nnumprocs = = 2\n')
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert str(info.value).startswith(f"{path}:3: invalid TOML")


# -- random programs -------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A small TOML writer for the values below (strings, numbers, lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    items = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
    return "{ " + items + " }"


SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["TERM", "always", "never", "on-failure", "console", "null",
                     "stdout", "app --x", "sh -c 'x'", "022", "/tmp", "'"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["file", "max_bytes", "backups",
                                         "timestamps", "X", "bogus"]),
                        inner, max_size=3),
    ),
    max_leaves=6,
)


@st.composite
def toml_files(draw: st.DrawFn) -> str:
    lines = []
    for name in draw(st.lists(st.sampled_from(["a", "b", "bad name"]),
                              unique=True, min_size=1, max_size=3)):
        lines.append(f"[programs.{json.dumps(name)}]")
        lines.append(f"cmd = {toml_value(draw(st.one_of(st.just('app'), VALUES)))}")
        keys = draw(st.lists(st.sampled_from(sorted(PROGRAM_KEYS)), unique=True,
                             max_size=6))
        for key in keys:
            if key != "cmd":
                lines.append(f"{key} = {toml_value(draw(VALUES))}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(toml_files())
def test_random_programs_end_in_config_or_error(text: str) -> None:
    exercise_config(text, "corral.toml")
