"""Signal names and numbers, parsed strictly.

A stop signal or a `corral signal` argument is refused unless it names a
signal this kernel has, so a typo is an error before anything is touched
instead of a silent SIGTERM.
"""

from __future__ import annotations

import signal

from corral.errors import UsageError

# Real-time signals are addressed as RTMIN+N / RTMAX-N, as kill(1) does.
_RTMIN = signal.SIGRTMIN
_RTMAX = signal.SIGRTMAX

# Signals that make no sense to send to a program: 0 only probes, and
# SIGSTOP cannot be caught or undone by the program itself (SIGCONT can).
_NAMES: dict[str, int] = {
    s.name[3:]: int(s)
    for s in signal.Signals
    if s.name.startswith("SIG") and not s.name.startswith("SIG_")
    and s.name not in ("SIGRTMIN", "SIGRTMAX")
}


def parse_signal(value: str | int) -> int:
    """Return the number of a signal given as TERM, SIGTERM, term or 15.

    Raises `UsageError` naming the value when it is not a signal of this
    system.
    """
    if isinstance(value, bool):
        raise UsageError(f"invalid signal {value!r}")
    if isinstance(value, int):
        return _check_number(value, str(value))

    text = value.strip()
    if text.lstrip("-").isdigit():
        return _check_number(int(text), value)

    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in _NAMES:
        return _NAMES[name]
    for base, number, sign in (("RTMIN", _RTMIN, 1), ("RTMAX", _RTMAX, -1)):
        if name == base:
            return number
        if name.startswith(base) and name[len(base)] in "+-":
            offset = name[len(base) + 1 :]
            if offset.isdigit():
                return _check_number(number + sign * int(offset), value)
    raise UsageError(f"invalid signal {value!r}: not a signal name or number")


def _check_number(number: int, shown: str) -> int:
    if 1 <= number <= _RTMAX:
        return number
    raise UsageError(f"invalid signal {shown!r}: out of range 1..{_RTMAX}")


def signal_name(number: int) -> str:
    """Return SIGTERM for 15, SIGRTMIN+2 for a real-time signal."""
    try:
        return signal.Signals(number).name
    except ValueError:
        if _RTMIN <= number <= _RTMAX:
            return f"SIGRTMIN+{number - _RTMIN}"
        return f"signal {number}"
