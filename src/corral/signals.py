"""Signal names and numbers, parsed strictly.

A stop signal or a `corral signal` argument is refused unless it names a
signal this kernel has, so a typo is an error before anything is touched
instead of a silent SIGTERM.
"""

from __future__ import annotations

import re
import signal
from typing import Any

from corral.errors import UsageError

# Real-time signals are addressed as RTMIN+N / RTMAX-N, as kill(1) does.
_RTMIN = signal.SIGRTMIN
_RTMAX = signal.SIGRTMAX

_NAMES: dict[str, int] = {
    s.name[3:]: int(s)
    for s in signal.Signals
    if s.name.startswith("SIG") and not s.name.startswith("SIG_")
    and s.name not in ("SIGRTMIN", "SIGRTMAX")
}
# Old names that kill(1) still accepts.
_ALIASES = {"IOT": signal.SIGABRT, "CLD": signal.SIGCHLD, "POLL": signal.SIGIO}

_NUMBER = re.compile(r"-?[0-9]+")
_REALTIME = re.compile(r"(RTMIN|RTMAX)(?:([+-])([0-9]+))?")


def parse_signal(value: Any) -> int:
    """Return the number of a signal given as TERM, SIGTERM, term or 15.

    Raises `UsageError` naming the value when it is not a signal of this
    system, whatever its type.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UsageError(f"invalid signal {value!r}: not a signal name or number")
    if isinstance(value, int):
        return _check_number(value, str(value))

    text = value.strip()
    if _NUMBER.fullmatch(text):
        return _check_number(int(text), value)

    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in _NAMES:
        return _NAMES[name]
    if name in _ALIASES:
        return int(_ALIASES[name])
    realtime = _REALTIME.fullmatch(name)
    if realtime:
        base, sign, offset = realtime.groups()
        if base == "RTMIN" and sign != "-":
            number = _RTMIN + int(offset or 0)
        elif base == "RTMAX" and sign != "+":
            number = _RTMAX - int(offset or 0)
        else:
            number = -1
        if _RTMIN <= number <= _RTMAX:
            return number
        raise UsageError(f"invalid signal {value!r}: real-time signals are "
                         f"RTMIN..RTMIN+{_RTMAX - _RTMIN}")
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
