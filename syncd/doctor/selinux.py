"""SELinux enforcing, with recent AVC denials that concern the unit (its program, its tree, its PID)."""

from __future__ import annotations

import os
import re

from syncd.doctor import result
from syncd.doctor.unitfile import exec_program


def denials_for(lines: list[str], exes: set[str], tree: str, pids: set[str]) -> list[str]:
    """The denial lines about this service: its executable, a path in its tree, or its main PID."""
    out = []
    for line in lines:
        if "denied" not in line:
            continue
        exe = re.search(r'\bexe="([^"]*)"', line)
        pid = re.search(r"\bpid=(\d+)", line)
        paths = re.findall(r'\b(?:path|name)="([^"]*)"', line)
        if (
            (exe and exe.group(1) in exes)
            or (pid and pid.group(1) in pids)
            or any(p == tree or p.startswith(tree.rstrip("/") + "/") for p in paths)
        ):
            out.append(line.strip())
    return out


def check(s):
    if s.cfg is None:
        return None
    from syncd.tools import selinux

    mode = selinux.mode()
    if mode != "enforcing":
        return result(
            "selinux",
            True,
            f"SELinux {mode}: nothing to check" if mode != "disabled" else "SELinux not enabled on this host",
        )
    exes = set()
    for value in s.directives.get("ExecStart") or []:
        program = exec_program(value)
        if program:
            exes |= {program, os.path.realpath(program)}
    pids = {s.props["MainPID"]} if s.props.get("MainPID", "0") != "0" else set()
    found = denials_for(selinux.recent_denials(), exes, str(s.cfg.repo.path), pids)
    if found:
        return result(
            "selinux",
            False,
            f"{len(found)} recent SELinux denials for {s.unit}, e.g. {found[-1][:300]}",
            f"ausearch -m AVC -ts recent -i shows them; files with a wrong label: restorecon -Rv "
            f"{s.cfg.repo.path}; a port: semanage port -a -t <type> -p tcp PORT; else "
            f"ausearch -m AVC -ts recent | audit2allow -M {s.name} && semodule -i {s.name}.pp",
        )
    return result("selinux", True, f"SELinux enforcing, no recent denials for {s.unit}")
