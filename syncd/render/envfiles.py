"""Plain dotenv files (`env.files`) and the precedence that merges all environment sources.

Values follow python-dotenv's quoting (the format developers already use locally), read
with its parser so line numbers survive into error messages. Errors name the file, the
line and the variable when there is one, never a value.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from syncd.config.values import ENV_NAME_PATTERN
from syncd.errors import EnvError
from syncd.render.quoting import check_env_value, validate_env_name

# A line that at least starts like an assignment: lets an error name the variable.
_ASSIGNMENT_START = re.compile(rf"[^\S\r\n]*(?:export[^\S\r\n]+)?({ENV_NAME_PATTERN})[^\S\r\n]*=")
_NEWLINE = re.compile(r"\r\n|\n|\r")


def _first_line(original) -> int:
    """dotenv marks a binding where the previous one ended; skip the blank lines before it."""
    text = original.string
    leading = text[: len(text) - len(text.lstrip())]
    return original.line + len(_NEWLINE.findall(leading))


def _decode(data: bytes, display: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EnvError(f"{display}:{line}: not valid UTF-8 (byte {exc.start})") from None
    return text.removeprefix("\ufeff")


def read_env_file(path: Path, display: str) -> list[tuple[str, str, int]]:
    """(name, value, line) for each assignment of the dotenv file at `path`, in file order.

    `display` is how messages name the file (the path as written in the config).
    """

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise EnvError(f"{display}: env file not found") from None
    except IsADirectoryError:
        raise EnvError(f"{display}: env file is a directory") from None
    except OSError as exc:
        raise EnvError(f"{display}: cannot read env file: {exc.strerror}") from None
    return parse_env_bytes(data, display)


def parse_env_bytes(data: bytes, display: str) -> list[tuple[str, str, int]]:
    """(name, value, line) for each assignment of dotenv text `data` (e.g. a blob of a commit)."""
    from dotenv.parser import parse_stream

    # newline=None: universal newlines, as python-dotenv itself reads files (CRLF files work).
    stream = io.StringIO(_decode(data, display), newline=None)
    result: list[tuple[str, str, int]] = []
    for binding in parse_stream(stream):
        line = _first_line(binding.original)
        if binding.error:
            start = _ASSIGNMENT_START.match(binding.original.string.lstrip("\r\n \t"))
            what = f"{start.group(1)}: " if start else ""
            raise EnvError(
                f"{display}:{line}: {what}cannot parse this line "
                "(an unterminated quote or text after a quoted value?)"
            )
        if binding.key is None:  # blank line or comment
            continue
        if not validate_env_name(binding.key):
            shown = binding.key if len(binding.key) <= 64 else binding.key[:64] + "..."
            raise EnvError(
                f"{display}:{line}: invalid variable name {shown!r} "
                "(expected letters, digits and _, not starting with a digit)"
            )
        if binding.value is None:
            raise EnvError(
                f"{display}:{line}: {binding.key}: no '=' and no value "
                f"(write {binding.key}= for an empty value)"
            )
        check_env_value(binding.key, binding.value, source=f"{display}:{line}")
        result.append((binding.key, binding.value, line))
    return result


def merge_environment(
    sources: list[tuple[str, list[tuple[str, str, int]]]], vars: dict[str, str]
) -> list[tuple[str, str]]:
    """Later wins: `sources` in order (env.files, then env.secrets), then `vars` (env.vars).

    A name keeps the position where it first appeared and takes the value it was given last.
    """
    merged: dict[str, str] = {}
    for _display, entries in sources:
        for name, value, _line in entries:
            merged[name] = value
    for name, value in vars.items():
        check_env_value(name, value, source="env.vars")
        merged[name] = value
    return list(merged.items())
