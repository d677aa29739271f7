"""Write environment values into a systemd drop-in so the service sees them byte for byte.

systemd reads `Environment="NAME=value"` in three steps (systemd.syntax(7) "Quoting",
systemd.exec(5) Environment=): the line is read (at most LONG_LINE_MAX bytes; a longer
line makes systemd give up on the rest of the file), the quoted word is C-unescaped, and
only then are `%` specifiers expanded. So we escape in the opposite order: `%` -> `%%`
first, then backslash, double quote and control characters get C escapes. `$` needs
nothing: Environment= does no variable expansion.

What systemd refuses (NUL, invalid UTF-8 including lone surrogates, Unicode
noncharacters) we refuse first, naming the variable and where it came from, never the
value: systemd would log the value and drop the assignment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from syncd.config.values import is_env_name as validate_env_name  # its callers' name
from syncd.errors import EnvError

HEADER = "# Managed by syncd: this file is rewritten on every deploy; edits here are lost."

# systemd's src/basic/def.h; read_line() refuses a line of LONG_LINE_MAX bytes or more.
LONG_LINE_MAX = 1024 * 1024

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
# Everything that needs an escape: backslash, quote, the C0 controls and DEL.
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')


def _max_exec_string() -> int:
    """Linux refuses execve() when one "NAME=value" string (with its NUL) exceeds 32 pages."""
    return 32 * os.sysconf("SC_PAGESIZE")


def _bad_character(value: str) -> tuple[int, str] | None:
    for index, char in enumerate(value):
        code = ord(char)
        if code == 0:
            return index, "a NUL character"
        if 0xD800 <= code <= 0xDFFF:
            return index, "a lone surrogate (not valid UTF-8)"
        if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
            return index, f"the Unicode noncharacter U+{code:04X}"
    return None


def check_env_value(name: str, value: str, source: str = "environment") -> None:
    """Raise EnvError when systemd or the kernel would not deliver NAME=value exactly.

    `source` says where the variable came from ("deploy/prod.env:12", "env.vars") and is
    part of the message; the value never is.
    """
    if not validate_env_name(name):
        raise EnvError(
            f"{source}: invalid variable name {name!r} "
            "(expected letters, digits and _, not starting with a digit)"
        )
    if not isinstance(value, str):
        raise EnvError(f"{source}: {name}: value must be a string, not {type(value).__name__}")
    bad = _bad_character(value)
    if bad is not None:
        index, what = bad
        raise EnvError(f"{source}: {name}: value contains {what} at character {index}, which systemd rejects")
    size = len(name) + 1 + len(value.encode("utf-8")) + 1
    limit = _max_exec_string()
    if size > limit:
        raise EnvError(
            f"{source}: {name}: value is {size} bytes; the kernel refuses to start a "
            f"process with an environment entry longer than {limit} bytes"
        )
    line_bytes = len(environment_line(name, value).encode("utf-8"))
    if line_bytes >= LONG_LINE_MAX:
        raise EnvError(
            f"{source}: {name}: the escaped Environment= line is {line_bytes} bytes; "
            f"systemd stops reading a drop-in at a line of {LONG_LINE_MAX} bytes or more"
        )


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return _ESCAPES.get(char) or f"\\x{ord(char):02x}"


def quote_value(value: str) -> str:
    """The text between `NAME=` and the closing quote: specifiers first, then C escapes."""
    return _NEEDS_ESCAPE.sub(_escape, value.replace("%", "%%"))


def environment_line(name: str, value: str) -> str:
    """`Environment="NAME=..."` that decodes to exactly `value`. Does not validate: see check_env_value."""
    return f'Environment="{name}={quote_value(value)}"'


def render_dropin(plain: Iterable[tuple[str, str]], extra_lines: Iterable[str] = ()) -> bytes:
    """The drop-in's bytes: header, [Service], Environment= lines in order, then extra_lines verbatim.

    Every pair is checked again here (a second fence after the readers, which report the
    file and line); extra_lines are EnvironmentFile=/LoadCredential= lines the deploy adds.
    """
    lines = [HEADER, "[Service]"]
    for name, value in plain:
        check_env_value(name, value, source="drop-in")
        lines.append(environment_line(name, value))
    for extra in extra_lines:
        if "\n" in extra or "\r" in extra:
            raise ValueError("extra drop-in line must be a single line")
        lines.append(extra)
    return ("\n".join(lines) + "\n").encode("utf-8")
