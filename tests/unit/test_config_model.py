"""Per-process templates in the shared model, and build_program's checks."""

from __future__ import annotations

import pytest

from corral.config.model import Entry, build_program, display_template, literal
from corral.errors import ConfigError


def build(entries: dict[str, object], **kwargs: object) -> object:
    return build_program(
        "web",
        {k: Entry(v, i + 2) for i, (k, v) in enumerate(entries.items())},
        file="app.conf",
        line=1,
        base_dir="/srv",
        **kwargs,  # type: ignore[arg-type]
    )


def test_fields_follow_num_start_and_port_base() -> None:
    prog = build({"cmd": "app {process_num} {wid} {port} {{x}}",
                  "env": {"N": "{program_name}.{process_num:02d}"}},
                 template=True, num_start=5, port_base=8000)
    assert prog.argv_for(0) == ("app", "5", "1", "8000", "{x}")  # type: ignore[attr-defined]
    assert prog.argv_for(2) == ("app", "7", "3", "8002", "{x}")  # type: ignore[attr-defined]
    assert dict(prog.env_for(1)) == {"N": "web.06"}  # type: ignore[attr-defined]


def test_without_template_braces_are_plain() -> None:
    prog = build({"cmd": "app {process_num}"})
    assert prog.argv_for(3) == ("app", "{process_num}")  # type: ignore[attr-defined]


@pytest.mark.parametrize(("cmd", "message"), [
    ("app {nope}", "cmd: unknown per-process field {nope}"),
    ("app {", "cmd: bad per-process field"),
    ("app {wid:q}", "cmd: bad per-process field"),
])
def test_bad_templates_are_config_errors(cmd: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build({"cmd": cmd}, template=True)
    assert str(info.value).startswith(f"app.conf:2: {message}")


def test_literal_and_display_round_trip() -> None:
    text = "python -c 'print({1: 2})'"
    assert literal(text).format_map({}) == text
    assert display_template(literal(text) + " {wid}") == text + " {wid}"
    assert display_template("{") == "{"


def test_command_text_can_be_given() -> None:
    prog = build({"cmd": "app {wid}"}, template=True, command_text="app $(circus.wid)")
    assert prog.command_text == "app $(circus.wid)"  # type: ignore[attr-defined]
    assert prog.launch_key() != build({"cmd": "app {wid}"}).launch_key()  # type: ignore[attr-defined]


def test_quick_exit_floor_is_the_lifecycle_s() -> None:
    """The supervisord reader's startsecs=0 promise rests on this floor."""
    from corral import program
    from corral.config.model import QUICK_EXIT_SECS

    assert program.QUICK_EXIT_SECS is QUICK_EXIT_SECS
