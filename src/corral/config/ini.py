"""A line-aware INI reader for the circus and supervisord dialects.

configparser forgets where a value came from, and corral promises
``FILE:LINE`` in every config error, so this reader keeps the line of each
section and key. It follows configparser's syntax: ``key = value`` or
``key: value``, indented lines continue a value, whole-line comments start
with ``#`` or ``;``. The rest is a dialect choice, passed by the reader:
which characters start an inline comment when whitespace precedes them
(supervisord: ``;`` and ``#``; circus: ``;``), and circus's extras (a
line starting with ``rem`` is a comment, a value of ``""`` is empty).

Where configparser would quietly merge a repeated section or keep one of
two values of a key, this reader refuses: a repeated key is nearly always
a mistake, and corral does not guess which one was meant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from corral.errors import ConfigError


@dataclass
class Option:
    """One ``key = value`` of a section."""

    key: str
    value: str
    line: int
    # The line where the value's text begins: the next one when the key's
    # own line leaves the value empty and continuation lines carry it.
    value_line: int = 0

    def __post_init__(self) -> None:
        self.value_line = self.value_line or self.line


@dataclass
class Section:
    """One ``[name]`` with its options in file order."""

    name: str
    line: int
    file: str
    options: dict[str, Option] = field(default_factory=dict)

    def get(self, key: str) -> Option | None:
        return self.options.get(key)


def parse_ini(
    text: str,
    file: str,
    *,
    inline_comments: str = "",
    lower_keys: bool = True,
    circus: bool = False,
) -> list[Section]:
    """Split INI text into sections. Raises `ConfigError` on bad syntax.

    INLINE_COMMENTS lists the characters that start a comment after
    whitespace; CIRCUS turns on circus's ``rem`` comments and ``""``.
    """
    sections: list[Section] = []
    seen: set[str] = set()
    current: Section | None = None
    last: Option | None = None

    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if "\0" in raw:
            raise ConfigError("line contains a NUL byte", file=file, line=number)

        # Blank lines and comments end nothing: configparser keeps
        # continuation across them only when indented, as here.
        if not stripped or stripped[0] in "#;":
            continue
        if circus and raw[:4].lower() in ("rem", "rem ", "rem\t"):
            continue

        # An indented line continues the previous value.
        if raw[0].isspace() and last is not None:
            piece = _strip_inline(stripped, inline_comments)
            if not last.value:
                last.value_line = number
            last.value = f"{last.value}\n{piece}" if last.value else piece
            continue

        if stripped.startswith("["):
            stripped = _strip_inline(stripped, inline_comments)
            if not stripped.endswith("]"):
                raise ConfigError(
                    f"expected a section header like [name], got {stripped!r}",
                    file=file,
                    line=number,
                )
            name = stripped[1:-1].strip()
            if name in seen:
                raise ConfigError(
                    f"section [{name}] appears twice", file=file, line=number
                )
            seen.add(name)
            current = Section(name, number, file)
            sections.append(current)
            last = None
            continue

        if current is None:
            raise ConfigError(
                "expected a [section] before the first key", file=file, line=number
            )
        key, value = _split_option(stripped, file, number)
        if lower_keys:
            key = key.lower()
        if key in current.options:
            raise ConfigError(
                f"key appears twice in [{current.name}]",
                file=file,
                line=number,
                key=key,
            )
        value = _strip_inline(value, inline_comments)
        if circus and value == '""':
            value = ""
        last = Option(key, value, number)
        current.options[key] = last

    return sections


def _split_option(text: str, file: str, line: int) -> tuple[str, str]:
    positions = [p for p in (text.find("="), text.find(":")) if p > 0]
    if not positions:
        raise ConfigError(
            f"expected 'key = value', got {text!r}", file=file, line=line
        )
    cut = min(positions)
    return text[:cut].strip(), text[cut + 1 :].strip()


def _strip_inline(value: str, prefixes: str) -> str:
    if not prefixes:
        return value
    # A comment character counts only after whitespace, so that URLs,
    # fragments and "a;b" inside a value survive.
    for i, char in enumerate(value):
        if char in prefixes and (i == 0 or value[i - 1].isspace()):
            return value[:i].rstrip()
    return value


TRUE = frozenset({"1", "yes", "true", "on"})
FALSE = frozenset({"0", "no", "false", "off"})


def to_bool(option: Option, file: str) -> bool:
    """Read a boolean the way configparser does; refuse anything else."""
    word = option.value.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ConfigError(
        f"expected true or false, got {option.value!r}",
        file=file,
        line=option.line,
        key=option.key,
    )


def to_int(option: Option, file: str) -> int:
    """Read a whole number; refuse anything else."""
    try:
        return int(option.value.strip())
    except ValueError:
        raise ConfigError(
            f"expected an integer, got {option.value!r}",
            file=file,
            line=option.line,
            key=option.key,
        ) from None


def to_number(option: Option, file: str) -> float:
    """Read a number of seconds; refuse anything else."""
    try:
        value = float(option.value.strip())
    except ValueError:
        raise ConfigError(
            f"expected a number, got {option.value!r}",
            file=file,
            line=option.line,
            key=option.key,
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(
            f"expected a number, got {option.value!r}",
            file=file,
            line=option.line,
            key=option.key,
        )
    return int(value) if value.is_integer() else value
