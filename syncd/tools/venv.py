"""`python -m venv` and pip, run as the tree's owner: the pipeline's environment until the
`[python]` builder (one environment per release) takes over in `syncd install`."""

from __future__ import annotations

from pathlib import Path

from syncd import runas
from syncd.errors import ToolError
from syncd.runas import Identity


def _run_as(who: Identity, argv: list[str], cwd: Path, timeout: float) -> None:
    try:
        proc = runas.run(
            who, argv, cwd=cwd, timeout=timeout, umask=0o002, extra_env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        )
    except runas.TimedOut as exc:
        raise ToolError(argv, -9, str(exc)) from None
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).decode("utf-8", "replace")
        raise ToolError(argv, proc.returncode, output[-2000:])


def create(who: Identity, python: str, venv: Path, with_pip: bool) -> None:
    _run_as(
        who, [python, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(venv)], venv.parent, 600
    )


def pip_install(who: Identity, venv: Path, requirements: Path) -> None:
    _run_as(
        who,
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        requirements.parent,
        3600,
    )
