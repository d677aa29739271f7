"""Text that came from the repository, made safe for the operator's terminal.

A commit subject, a file name or a reason built from them may hold terminal control sequences:
ESC[2J clears the screen, OSC 52 writes the operator's clipboard, a bidi override reorders what is
shown. Everything syncd prints (sync, status, history, render), logs or sends as its STATUS= line
goes through printable(), which writes such characters as visible escapes (\\x1b, \\u202e).
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, line/paragraph separators and the bidi embedding/override/isolate marks.
# All of them are unprintable to str.isprintable() (categories Cc, Zl, Zp, Cf), so text it calls
# printable is returned as it is, and a sync that prints only such text never compiles these.
_UNSAFE = "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_UNSAFE_KEEPING_LINES = "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """`text` with every control character escaped (newlines kept when asked, e.g. for a drop-in)."""
    string = str(text)
    if string.isprintable():
        return string
    return re.sub(_UNSAFE_KEEPING_LINES if keep_newlines else _UNSAFE, _escape, string)
