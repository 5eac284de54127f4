"""Signal names and numbers: every accepted form, every refusal, one line each."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.errors import CorralError, UsageError
from corral.signals import parse_signal, signal_name

RTMIN = int(signal.SIGRTMIN)
RTMAX = int(signal.SIGRTMAX)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("TERM", 15),
        ("SIGTERM", 15),
        ("term", 15),
        ("sigterm", 15),
        ("SigTerm", 15),
        (" HUP ", 1),
        ("15", 15),
        ("9", 9),
        (15, 15),
        (1, 1),
        ("KILL", 9),
        ("USR1", int(signal.SIGUSR1)),
        ("SIGCHLD", int(signal.SIGCHLD)),
        ("RTMIN", RTMIN),
        ("RTMAX", RTMAX),
        ("RTMIN+2", RTMIN + 2),
        ("SIGRTMIN+2", RTMIN + 2),
        ("rtmin+2", RTMIN + 2),
        ("SIGRTMAX-1", RTMAX - 1),
        ("RTMAX-0", RTMAX),
        (str(RTMAX), RTMAX),
    ],
)
def test_accepted_forms(text: str | int, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("member", list(signal.Signals), ids=lambda s: s.name)
def test_every_signal_of_this_system_by_each_form(member: signal.Signals) -> None:
    short = member.name[3:]
    for form in (member.name, short, short.lower(), str(int(member)), int(member)):
        assert parse_signal(form) == int(member), form


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "invalid signal '0': out of range 1..{max}"),
        ("0", "invalid signal '0': out of range 1..{max}"),
        (65, "invalid signal '65': out of range 1..{max}"),
        (-1, "invalid signal '-1': out of range 1..{max}"),
        ("-1", "invalid signal '-1': out of range 1..{max}"),
        ("-15", "invalid signal '-15': out of range 1..{max}"),
        ("", "invalid signal '': not a signal name or number"),
        ("   ", "invalid signal '   ': not a signal name or number"),
        ("NOPE", "invalid signal 'NOPE': not a signal name or number"),
        ("SIG", "invalid signal 'SIG': not a signal name or number"),
        ("SIGSIGTERM", "invalid signal 'SIGSIGTERM': not a signal name or number"),
        ("+15", "invalid signal '+15': not a signal name or number"),
        ("RTMIN+", "invalid signal 'RTMIN+': not a signal name or number"),
        ("RTMIN+x", "invalid signal 'RTMIN+x': not a signal name or number"),
        ("RTMINX", "invalid signal 'RTMINX': not a signal name or number"),
        ("RTMIN+31", "invalid signal 'RTMIN+31': real-time signals are RTMIN..RTMIN+30"),
        ("SIG_DFL", "invalid signal 'SIG_DFL': not a signal name or number"),
        ("TERM!", "invalid signal 'TERM!': not a signal name or number"),
        (True, "invalid signal True: not a signal name or number"),
        (False, "invalid signal False: not a signal name or number"),
    ],
)
def test_refusals_are_one_line_usage_errors(value: Any, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_signal(value)
    text = str(info.value)
    assert text == message.format(max=RTMAX)
    assert "\n" not in text
    assert info.value.exit_status == 2
    assert isinstance(info.value, CorralError)


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=12))
def test_any_ascii_text_is_a_signal_or_a_usage_error(text: str) -> None:
    try:
        number = parse_signal(text)
    except UsageError as exc:
        assert str(exc).startswith("invalid signal ")
    else:
        assert 1 <= number <= RTMAX


@given(st.integers())
def test_any_integer_is_in_range_or_refused(number: int) -> None:
    try:
        assert parse_signal(number) == number
    except UsageError:
        assert not 1 <= number <= RTMAX


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (15, "SIGTERM"),
        (9, "SIGKILL"),
        (RTMIN, "SIGRTMIN"),
        (RTMIN + 2, "SIGRTMIN+2"),
        (RTMAX, "SIGRTMAX"),
        (RTMAX - 1, f"SIGRTMIN+{RTMAX - 1 - RTMIN}"),
        (RTMAX + 1, f"signal {RTMAX + 1}"),
        (0, "signal 0"),
    ],
)
def test_signal_name(number: int, name: str) -> None:
    assert signal_name(number) == name


@pytest.mark.parametrize(
    "number", [n for n in range(1, RTMAX + 1) if n < 32 or n >= RTMIN]
)
def test_signal_name_parses_back(number: int) -> None:
    assert parse_signal(signal_name(number)) == number


# -- regressions -------------------------------------------------------------


@pytest.mark.parametrize("text", ["RTMIN-1", "RTMAX+1"])
def test_regression_rt_offset_in_the_wrong_direction_is_refused(text: str) -> None:
    """RTMIN-1 and RTMAX+1 lie outside the real-time range; neither is a
    real-time signal. parse_signal applies the base's own sign whatever the
    text says, so RTMIN-1 becomes RTMIN+1 and RTMAX+1 becomes RTMAX-1: a
    typo sends a different signal instead of being refused.
    """
    with pytest.raises(UsageError):
        parse_signal(text)


def test_regression_rt_offset_stays_in_the_real_time_range() -> None:
    """RTMAX-40 is below RTMIN: it must be refused, not turned into SIGXCPU."""
    with pytest.raises(UsageError):
        parse_signal("RTMAX-40")


@pytest.mark.parametrize("text", ["\u00b2", "-\u00b2", "RTMIN+\u00b2"])
def test_regression_unicode_digits_are_a_usage_error(text: str) -> None:
    """'²' passes str.isdigit but int('²') raises a bare ValueError.

    The bare ValueError escapes the CorralError family: `corral signal web ²`
    prints a traceback, and `stop_signal = "²"` crashes the config reader.
    """
    with pytest.raises(UsageError):
        parse_signal(text)


@pytest.mark.parametrize("value", [15.0, [15], {"a": 1}, None])
def test_regression_values_of_other_types_are_a_usage_error(value: Any) -> None:
    """A TOML `stop_signal = 15.0` reaches parse_signal as a float.

    It raises AttributeError, which `build_program` does not catch.
    """
    with pytest.raises(UsageError):
        parse_signal(value)
