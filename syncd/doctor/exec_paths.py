"""ExecStart= and WorkingDirectory= are absolute paths that exist (systemd has no PATH of yours)."""

import os

from syncd.doctor import result
from syncd.doctor.unitfile import exec_program, last


def check(s):
    if s.cfg is None or not s.directives:
        return None
    tree = s.cfg.repo.path
    problems, fixes = [], []
    starts = s.directives.get("ExecStart") or []
    if not starts:
        problems.append("no ExecStart=")
        fixes.append(f"ExecStart={tree}/venv/bin/python {tree}/main.py")
    for value in starts:
        program = exec_program(value)
        if not program.startswith("/"):
            problems.append(f"ExecStart={value}: {program!r} is not an absolute path")
            fixes.append(f"ExecStart={tree}/{program} ... (the absolute path)")
        elif not os.path.exists(program):
            problems.append(f"ExecStart program {program} does not exist")
            fixes.append(
                "create it (syncd install builds the environment) or point ExecStart= at one that exists"
            )
    workdir = last(s.directives, "WorkingDirectory")
    if workdir is None:
        problems.append("no WorkingDirectory= (the service starts in /, its relative paths break)")
        fixes.append(f"WorkingDirectory={tree}")
    else:
        path = workdir.lstrip("-")
        if path != "~" and not path.startswith("/"):
            problems.append(f"WorkingDirectory={workdir} is not absolute")
            fixes.append(f"WorkingDirectory={tree}")
        elif path.startswith("/") and not os.path.isdir(path) and not workdir.startswith("-"):
            problems.append(f"WorkingDirectory={path} does not exist")
            fixes.append(f"WorkingDirectory={tree}")
    if problems:
        return result(
            "exec-paths",
            False,
            "; ".join(problems),
            f"in [Service] of {s.props.get('FragmentPath') or s.unit}: "
            + "; ".join(fixes)
            + f"; then systemctl daemon-reload && systemctl restart {s.unit}",
        )
    return result(
        "exec-paths", True, f"ExecStart {exec_program(starts[-1])} and WorkingDirectory {workdir} exist"
    )
