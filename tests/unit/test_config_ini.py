"""The line-aware INI parser shared by the circus and supervisord readers."""

from __future__ import annotations

import pytest

from corral.config.ini import parse_ini
from corral.errors import ConfigError


def test_lines_continuations_and_comments() -> None:
    sections = parse_ini(
        "# top\n[a] ; x\nk = v ; c\nm =\n  one\n\n  two # c\n; gone\n[b]\nK: V\n",
        "f.ini",
        inline_comments=";#",
    )
    a, b = sections
    assert (a.name, a.line, b.name, b.line) == ("a", 2, "b", 9)
    assert a.options["k"].value == "v" and a.options["k"].line == 3
    m = a.options["m"]
    assert (m.value, m.line, m.value_line) == ("one\ntwo", 4, 5)
    assert b.options["k"].value == "V"


def test_dialects() -> None:
    text = "[w]\nrem a comment\nX = a;b ;c #d\nE = \"\"\n"
    circus = parse_ini(text, "f", inline_comments=";", lower_keys=False, circus=True)
    assert circus[0].options == {
        "X": circus[0].options["X"], "E": circus[0].options["E"]}
    assert circus[0].options["X"].value == "a;b"
    assert circus[0].options["E"].value == ""
    with pytest.raises(ConfigError, match="f:2: expected 'key = value'"):
        parse_ini(text, "f")


@pytest.mark.parametrize(("text", "message"), [
    ("k = v\n", "f:1: expected a [section] before the first key"),
    ("[a\n", "f:1: expected a section header like [name], got '[a'"),
    ("[a]\n[a]\n", "f:2: section [a] appears twice"),
    ("[a]\nk = 1\nK = 2\n", "f:3: k: key appears twice in [a]"),
    ("[a]\njust words\n", "f:2: expected 'key = value', got 'just words'"),
    ("[a]\nk = \x00\n", "f:2: line contains a NUL byte"),
])
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ini(text, "f")
    assert str(info.value) == message
