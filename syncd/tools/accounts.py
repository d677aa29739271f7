"""Users and groups: questions through NSS (pwd/grp), changes through shadow-utils' commands."""

from __future__ import annotations

import grp
import pwd
import subprocess

from syncd.errors import ToolError

NOLOGIN = "/usr/sbin/nologin"


def user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def in_group(user_name: str, group_name: str) -> bool:
    """A member either through the primary group or the group's member list."""
    g, u = group(group_name), user(user_name)
    if g is None or u is None:
        return False
    return u.pw_gid == g.gr_gid or user_name in g.gr_mem


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    if proc.returncode != 0:
        raise ToolError(argv, proc.returncode, proc.stderr)


def add_group_argv(name: str) -> list[str]:
    return ["groupadd", "--system", name]


def add_user_argv(name: str, primary_group: str, home: str, comment: str) -> list[str]:
    # No home is created here (no /etc/skel copy): the caller makes the one directory it needs.
    return [
        "useradd",
        "--system",
        "--gid",
        primary_group,
        "--home-dir",
        home,
        "--no-create-home",
        "--shell",
        NOLOGIN,
        "--comment",
        comment,
        name,
    ]


def add_to_group_argv(user_name: str, group_name: str) -> list[str]:
    return ["usermod", "--append", "--groups", group_name, user_name]


def add_group(name: str) -> None:
    _run(add_group_argv(name))


def add_user(name: str, primary_group: str, home: str, comment: str) -> None:
    _run(add_user_argv(name, primary_group, home, comment))


def add_to_group(user_name: str, group_name: str) -> None:
    _run(add_to_group_argv(user_name, group_name))
