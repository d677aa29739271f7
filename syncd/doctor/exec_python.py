"""ExecStart= runs an environment's python, not the system one (systemd activates no venv)."""

import re
from pathlib import Path

from syncd.doctor import result
from syncd.doctor.unitfile import exec_program

PYTHON = re.compile(r"python[0-9.]*\Z")


def in_environment(program: str) -> bool:
    """A venv's bin/ sits next to its pyvenv.cfg."""
    return (Path(program).parent.parent / "pyvenv.cfg").is_file()


def check(s):
    if s.cfg is None or not s.directives.get("ExecStart"):
        return None
    program = exec_program(s.directives["ExecStart"][-1])
    if not program.startswith("/"):
        return None  # exec-paths reports it
    if in_environment(program):
        return result("exec-python", True, f"{program} is an environment's python")
    if PYTHON.match(Path(program).name):
        tree = s.cfg.repo.path
        return result(
            "exec-python",
            False,
            f"ExecStart runs {program}, the system's python: the packages of the "
            "pipeline's environment are not there",
            f"ExecStart={tree}/venv/bin/python ... in {s.props.get('FragmentPath') or s.unit} "
            f"(syncd install {s.name} builds the environment); then systemctl daemon-reload",
        )
    return result("exec-python", True, f"{program} is not a python interpreter: nothing to check")
