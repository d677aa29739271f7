"""Content for a systemd EnvironmentFile= that gives the service every value byte for byte.

systemd's env-file parser (src/basic/env-file.c), inside double quotes: a backslash before
one of  " \\ ` $  yields that character, a backslash before a newline is a line continuation,
any other character (a newline, '#', '%', a single quote, trailing spaces) is taken literally.
EnvironmentFile= content gets neither specifier (%) nor variable ($) expansion. So each value
is written double-quoted with exactly those four characters escaped; newlines stay literal.
tests/test_secrets_delivery.py checks this against a real unit.
"""

from __future__ import annotations

from syncd.config.values import is_env_name

_ESCAPE = {c: "\\" + c for c in '"\\`$'}


def quote_for_systemd(value: str) -> str:
    return '"' + "".join(_ESCAPE.get(c, c) for c in value) + '"'


def environment_file_bytes(values: dict[str, str]) -> bytes:
    """NAME="escaped value" lines, in the given order. ValueError for a bad name or a NUL."""
    out = ["# Written by syncd; do not edit (values come from the encrypted secrets files).\n"]
    for name, value in values.items():
        if not is_env_name(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        if "\0" in value:
            raise ValueError(f"the value of {name} contains a NUL character")
        out.append(f"{name}={quote_for_systemd(value)}\n")
    return "".join(out).encode("utf-8")
