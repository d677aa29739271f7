"""One [section] of the file as the section parsers see it: typed access to its keys, each bad value
a ConfigError naming the file, the dotted key, the line and what was expected."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from syncd.config import values
from syncd.config.values import TYPE_NAMES, type_name
from syncd.errors import ConfigError

if TYPE_CHECKING:
    from syncd.config.loader import Source

T = TypeVar("T")


def suggest(word: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" for the closest choice, or ""."""
    import difflib  # only for an error: a valid config does not pay for it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Table:
    """One [table] of the file: typed access to its keys, unknown keys refused up front."""

    def __init__(self, src: Source, name: str, table: dict[str, Any], allowed: tuple[str, ...]):
        self.src, self.name, self.table = src, name, table
        for key in table:
            if key not in allowed:
                raise self.error(
                    key,
                    "unknown key"
                    + suggest(key, allowed)
                    + f"; allowed keys in [{name}]: {', '.join(allowed)}",
                )

    def error(
        self, key: str, expected: str, line_key: str | None = None, at_line: bool = True
    ) -> ConfigError:
        """`key` may be "files[1]" or "vars.NAME"; `line_key` is the key whose line to name."""
        return self.src.error(
            f"{self.name}.{key}",
            expected,
            line_key=f"{self.name}.{line_key}" if line_key else None,
            at_line=at_line,
        )

    def has(self, key: str) -> bool:
        return key in self.table

    def get(self, key: str, kind: type[T]) -> T:
        """The value of `key`, of exactly `kind` (true is not an integer); missing: required."""
        if key not in self.table:
            raise self.error(key, f"missing required key (expected a {TYPE_NAMES[kind]})", at_line=False)
        value = self.table[key]
        if type(value) is not kind:  # `type is`, so true is not taken for an integer
            raise self.error(key, f"expected a {TYPE_NAMES[kind]}, found {type_name(value)}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.get(key, str)
        if value not in allowed:
            raise self.error(
                key,
                f"expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
                + suggest(value, allowed),
            )
        return value

    def duration(self, key: str, positive: bool = False) -> float:
        try:
            seconds = values.parse_duration(self.table[key])
        except ValueError as e:
            raise self.error(key, str(e)) from None
        if positive and seconds == 0:
            raise self.error(key, "must be longer than 0")
        return seconds

    def host_port(self, key: str, expected: str) -> str:
        """A "host:port" string, kept as written (the users parse it with values.parse_host_port)."""
        value = self.get(key, str)
        try:
            values.parse_host_port(value, expected)
        except ValueError as e:
            raise self.error(key, str(e)) from None
        return value

    def abs_path(self, key: str) -> Path:
        value = self.get(key, str)
        path = PurePosixPath(value)
        if not value or "\0" in value or not path.is_absolute() or ".." in path.parts:
            raise self.error(key, f'expected an absolute path without "..", got {value!r}')
        return Path(os.path.normpath(value))

    def rel_path(self, key: str, value: object, line_key: str) -> str:
        """`value` (an item of a list, or the value of `key`): a path inside repo.path."""
        if not isinstance(value, str):
            raise self.error(
                key,
                f"expected a string (a path relative to repo.path), found {type_name(value)}",
                line_key=line_key,
            )
        path = PurePosixPath(value)
        if (
            not value
            or "\0" in value
            or path.is_absolute()
            or ".." in path.parts
            or path == PurePosixPath(".")
        ):
            raise self.error(
                key,
                "expected a file path relative to repo.path that stays inside it "
                f'(not absolute, no ".."), got {value!r}',
                line_key=line_key,
            )
        return value

    def argv(self, key: str, argv: list[Any], line_key: str | None = None) -> tuple[str, ...]:
        if not argv:
            raise self.error(
                key, "expected a non-empty list of strings (program and arguments)", line_key=line_key
            )
        for i, arg in enumerate(argv):
            if not isinstance(arg, str):
                raise self.error(
                    f"{key}[{i}]", f"expected a string, found {type_name(arg)}", line_key=line_key or key
                )
        if not argv[0]:
            raise self.error(f"{key}[0]", "the program name must not be empty", line_key=line_key or key)
        return tuple(argv)

    def ref_name(self, key: str) -> str:
        value = self.get(key, str)
        reason = values.bad_ref_name(value)
        if reason:
            raise self.error(key, f"expected a valid git ref name, got {value!r}: {reason}")
        return value
