"""One parser per kind of value syncd reads in more than one place: durations, "host:port", a DICOM
"AETITLE@host:port", an owner "user[:group]", an environment variable name, a git ref name.

The config validates with these, and the code that later uses the value (probes, chown, email,
metrics, dotenv and secrets files) parses with the same ones, so what loads is what works. They
know nothing of files or keys: a bad value is a ValueError whose text says what was expected;
the config adds the file, the key and the line.
"""

from __future__ import annotations

import grp
import math
import pwd
import re
from urllib.parse import urlsplit

# --- TOML types, for "expected X, found Y" ---------------------------------------------------------

TYPE_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    dict: "table",
}


def type_name(value: object) -> str:
    """The TOML name of a parsed value's type (`type is`, so true is a boolean, not an integer)."""
    for py, name in TYPE_NAMES.items():
        if type(value) is py:
            return name
    return type(value).__name__  # datetime, date, time


# --- durations ------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds from a number (>= 0) or a string such as "90s", "5m", "1h30m", "250ms".

    Raises ValueError with a short reason.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f'expected a number of seconds or a string like "90s", found {type_name(value)}')
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            seconds, pos = 0.0, 0
            while pos < len(text):
                m = _DURATION_PART.match(text, pos)
                if not m:
                    raise ValueError(
                        f"{value!r} is not a duration: expected seconds or a string like "
                        '"90s", "5m", "1h30m", "250ms" (units ms, s, m, h, d)'
                    )
                seconds += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
                pos = m.end()
            if not text:
                raise ValueError('empty duration: expected seconds or a string like "90s"')
    else:
        seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration: must be a finite number of seconds >= 0")
    return seconds


# --- host:port ------------------------------------------------------------------------------------

# A name or IPv4 address (no space, ":", "/", "@" or brackets), or an IPv6 address in brackets;
# the port in ASCII digits (\d would also take other scripts' digits, which int() reads).
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/@]+):([0-9]{1,5})\Z")


def parse_host_port(text: str, expected: str = '"host:port"') -> tuple[str, int]:
    """ "host:port" or "[v6addr]:port" -> (host without brackets, port 1-65535).

    ValueError "expected <expected> (port 1-65535; IPv6 as [::1]:port), got '<text>'".
    """
    m = _HOST_PORT.match(text) if isinstance(text, str) else None
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise ValueError(f"expected {expected} (port 1-65535; IPv6 as [::1]:port), got {text!r}")
    host = m.group(1)
    return (host[1:-1] if host.startswith("[") else host), int(m.group(2))


# --- web URLs (health.http, notify.webhook) --------------------------------------------------------


def web_url(url: str) -> bool:
    """An http:// or https:// URL with a host (and a port 1-65535 if it names one)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:  # also urlsplit's, e.g. for "http://[::1/"
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --- DICOM AE title -------------------------------------------------------------------------------

DICOM_TARGET = '"AETITLE@host:port", e.g. "PIPELINE@127.0.0.1:11112"'


def is_ae_title(title: str) -> bool:
    """1-16 characters of the default repertoire (printable ASCII), no backslash, not only spaces."""
    return (
        isinstance(title, str)
        and 0 < len(title) <= 16
        and title.strip() != ""
        and all(32 <= ord(c) < 127 and c != "\\" for c in title)
    )


def parse_dicom_target(text: str) -> tuple[str, str, int]:
    """ "AETITLE@host:port" -> (AE title, host, port); ValueError saying which part is wrong."""
    title, at, address = text.rpartition("@")
    if not at:
        raise ValueError(f"expected {DICOM_TARGET}, got {text!r}")
    if not is_ae_title(title):
        raise ValueError(
            f"AE title {title!r}: expected 1 to 16 printable ASCII characters, not only spaces, no backslash"
        )
    return (title, *parse_host_port(address, DICOM_TARGET))


# --- owner ----------------------------------------------------------------------------------------

_EXISTING = '(expected "user" or "user:group" naming an existing user and group)'


def _ascii_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_owner(owner: str) -> tuple[int, int]:
    """ "user" or "user:group" (names, or numeric ids) -> (uid, gid), looked up on this host.

    Without a group, the user's primary group. A name is looked up first; a number that names no
    account is taken as an id, but a user id without a passwd entry has no primary group, so it
    needs ":gid". ValueError saying what is wrong.
    """
    user, colon, group = owner.partition(":") if isinstance(owner, str) else ("", "", "")
    if not user or (colon and not group) or ":" in group:
        raise ValueError(f'expected "user" or "user:group", got {owner!r}')
    try:
        entry = pwd.getpwnam(user)
        uid, primary_gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        if not _ascii_number(user):
            raise ValueError(f"no user named {user!r} on this host {_EXISTING}") from None
        uid = int(user)
        try:
            primary_gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            if not group:
                raise ValueError(
                    f'user id {uid} has no passwd entry, so no primary group; write "{uid}:GID"'
                ) from None
    if not group:
        return uid, primary_gid
    try:
        return uid, grp.getgrnam(group).gr_gid
    except KeyError:
        if _ascii_number(group):
            return uid, int(group)
        raise ValueError(f"no group named {group!r} on this host {_EXISTING}") from None


# --- environment variable names -------------------------------------------------------------------

# systemd's (and POSIX shells') rule; also used inside larger patterns (a dotenv line's start).
ENV_NAME_PATTERN = "[A-Za-z_][A-Za-z0-9_]*"
_ENV_NAME = re.compile(ENV_NAME_PATTERN + r"\Z")


def is_env_name(name: object) -> bool:
    """Letters, digits and `_`, not starting with a digit."""
    return isinstance(name, str) and _ENV_NAME.match(name) is not None


# --- git ref names --------------------------------------------------------------------------------


def bad_ref_name(name: str) -> str | None:
    """Why `name` is not a usable branch/remote name (git check-ref-format rules), or None."""
    if not name:
        return "must not be empty"
    if name.startswith("-"):
        return 'must not start with "-"'
    if name in ("@", "HEAD"):
        return f"{name!r} is reserved"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "must not contain control characters"
    for bad in (" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{", "//"):
        if bad in name:
            return f"must not contain {bad!r}"
    if name.startswith("/") or name.endswith("/") or name.endswith("."):
        return 'must not start or end with "/" or end with "."'
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return 'no part may start with "." or end with ".lock"'
    return None
