"""`python -m venv` and pip, run as the tree's owner: the pipeline's environment until the
`[python]` builder (one environment per release) takes over in `syncd install`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from syncd.errors import ToolError
from syncd.tools.git import Identity

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _run_as(who: Identity, argv: list[str], cwd: Path, timeout: float) -> None:
    env = {"PATH": _PATH, "HOME": who.home, "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, user=who.uid, group=who.gid, extra_groups=list(who.groups),
                          umask=0o002)
    if proc.returncode != 0:
        raise ToolError(argv, proc.returncode, (proc.stderr or proc.stdout)[-2000:])


def create(who: Identity, python: str, venv: Path, with_pip: bool) -> None:
    _run_as(who, [python, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(venv)], venv.parent, 600)


def pip_install(who: Identity, venv: Path, requirements: Path) -> None:
    _run_as(who, [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
            requirements.parent, 3600)
