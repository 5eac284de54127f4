"""The one exception family: classes, exit statuses, the config message shape."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import corral
from corral.errors import (
    ActionFailed,
    ConfigError,
    ControlError,
    CorralError,
    NotRunning,
    UnknownName,
    UsageError,
)


@pytest.mark.parametrize(
    ("cls", "builtin", "status"),
    [
        (CorralError, Exception, 1),
        (UsageError, ValueError, 2),
        (UnknownName, LookupError, 2),
        (ConfigError, ValueError, 1),
        (NotRunning, ConnectionError, 3),
        (ControlError, CorralError, 1),
        (ActionFailed, CorralError, 1),
    ],
)
def test_family_builtins_and_exit_status(
    cls: type[CorralError], builtin: type[BaseException], status: int
) -> None:
    assert issubclass(cls, CorralError)
    assert issubclass(cls, builtin)
    assert cls.exit_status == status


def test_exit_statuses_are_the_documented_few() -> None:
    """0 done, 1 failed, 2 usage or unknown name, 3 no daemon (cli docstring)."""
    classes: list[type[CorralError]] = [CorralError, *CorralError.__subclasses__()]
    assert {c.exit_status for c in classes} == {1, 2, 3}


# Raised and caught inside the control server, turned into an HTTP status
# there; it never reaches a user. Listed so a new stray still fails.
INTERNAL = {"corral.control.HttpError"}


def test_every_exception_class_in_corral_is_a_corral_error() -> None:
    """STYLE point 6: one family, caught once at the edge."""
    strays = []
    for info in pkgutil.walk_packages(corral.__path__, "corral."):
        if info.name == "corral.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (issubclass(obj, BaseException) and obj.__module__ == info.name
                    and not issubclass(obj, CorralError)
                    and f"{info.name}.{name}" not in INTERNAL):
                strays.append(f"{info.name}.{name}")
    assert strays == []


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({}, "expected a number"),
        ({"key": "numprocs"}, "numprocs: expected a number"),
        ({"file": "c.toml", "line": 7}, "c.toml:7: expected a number"),
        ({"file": "c.toml", "line": 7, "key": "numprocs"},
         "c.toml:7: numprocs: expected a number"),
        ({"file": "c.toml"}, "c.toml: expected a number"),
        ({"file": "c.toml", "line": 0}, "c.toml: expected a number"),
    ],
)
def test_config_error_renders_file_line_key_message(
    kwargs: dict[str, object], text: str
) -> None:
    exc = ConfigError("expected a number", **kwargs)  # type: ignore[arg-type]
    assert str(exc) == text
    assert exc.message == "expected a number"


def test_located_fills_in_the_place_and_keeps_the_key() -> None:
    exc = ConfigError("unknown program 'db'", key="depends_on")
    placed = exc.located("c.toml", 12)
    assert placed is not exc
    assert (placed.file, placed.line, placed.key) == ("c.toml", 12, "depends_on")
    assert str(placed) == "c.toml:12: depends_on: unknown program 'db'"


def test_located_keeps_a_place_it_already_has() -> None:
    exc = ConfigError("bad", file="a.toml", line=3)
    assert exc.located("b.toml", 9) is exc


def test_messages_are_one_line() -> None:
    exc = ConfigError("expected a string, got 5", file="c.toml", line=2, key="cwd")
    assert "\n" not in str(exc)
