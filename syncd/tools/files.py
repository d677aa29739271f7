"""coreutils on whole trees, for `syncd install` adopting a checkout (and the fixes doctor prints)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from syncd.errors import ToolError


def chown_recursive_argv(owner: str, path: Path) -> list[str]:
    # -R without -L/-H never follows a symbolic link (chown changes the link's target only with -L).
    return ["chown", "-R", "--no-dereference", owner, str(path)]


def group_writable_argv(path: Path) -> list[str]:
    return ["chmod", "-R", "g+rwX", str(path)]


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
    if proc.returncode != 0:
        raise ToolError(argv, proc.returncode, proc.stderr)


def chown_recursive(owner: str, path: Path) -> None:
    _run(chown_recursive_argv(owner, path))


def make_group_writable(path: Path) -> None:
    _run(group_writable_argv(path))
