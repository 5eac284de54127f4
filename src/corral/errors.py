"""The one exception family of corral.

Every error a user can cause is a `CorralError`; `cli.main` catches the
family once and prints its message as one line. Anything else that escapes
is a bug. Each class carries the exit status the command line uses for it.
"""

from __future__ import annotations


class CorralError(Exception):
    """Base of every error corral reports to a user."""

    exit_status = 1


class UsageError(CorralError, ValueError):
    """The command line or a request was malformed (exit status 2)."""

    exit_status = 2


class UnknownName(CorralError, LookupError):
    """A program or process name that the running setup does not have."""

    exit_status = 2


class ConfigError(CorralError, ValueError):
    """A config file is invalid. Formats as ``FILE:LINE: key: message``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file is not None and self.line:
            where = f"{self.file}:{self.line}: "
        elif self.file is not None:
            where = f"{self.file}: "  # about the file as a whole
        what = f"{self.key}: " if self.key else ""
        return f"{where}{what}{self.message}"

    def located(self, file: str, line: int | None) -> ConfigError:
        """Return a copy that points at FILE:LINE unless it has a place."""
        if self.file is not None:
            return self
        return ConfigError(self.message, file=file, line=line, key=self.key)


class NotRunning(CorralError, ConnectionError):
    """No daemon answers on the control socket (exit status 3)."""

    exit_status = 3


class ControlError(CorralError):
    """The daemon answered a request with an error."""


class ActionFailed(CorralError):
    """A start, stop, restart or signal did not reach its goal."""
