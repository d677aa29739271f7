"""`syncd doctor`: one small check per module, each `check(subject) -> dict | list[dict] | None`.

A result is {check, ok, detail, fix}. None means the check does not apply (it needs a config that
loads, say). A new check is one module here and one name in CHECKS.
"""

from __future__ import annotations

import importlib

from syncd.records import dataclass, field
from pathlib import Path

CHECKS = (
    "config",
    "unit_loads",
    "exec_paths",
    "exec_python",
    "user_group",
    "tree_owner",
    "privileged_port",
    "firewall",
    "selinux",
    "remote",
    "secrets_key",
    "trusted_files",
    "last_result",
    "daemon",
)

UNIT_PROPERTIES = (
    "LoadState",
    "LoadError",
    "FragmentPath",
    "DropInPaths",
    "NeedDaemonReload",
    "ActiveState",
    "SubState",
    "MainPID",
    "User",
    "Group",
    "AmbientCapabilities",
    "CapabilityBoundingSet",
    "Result",
    "UnitFileState",
)


def result(check: str, ok: bool, detail: str, fix: str = "") -> dict:
    return {"check": check, "ok": bool(ok), "detail": detail, "fix": "" if ok else fix}


@dataclass
class Subject:
    """What the checks look at, gathered once: the config and the unit as systemd and its files say."""

    config_path: Path
    cfg: object = None  # syncd.config.Config, or None when it does not load
    config_error: str | None = None
    unit: str | None = None
    props: dict = field(default_factory=dict)  # systemctl show; {} when systemd cannot be asked
    systemd_error: str | None = None
    directives: dict = field(default_factory=dict)  # [Service] of the unit's files (unitfile.parse)

    @property
    def name(self) -> str:
        return self.config_path.stem


def gather(config_path: Path) -> Subject:
    from syncd.config import load_config
    from syncd.errors import SyncdError

    subject = Subject(config_path=Path(config_path))
    try:
        subject.cfg = load_config(subject.config_path)
    except SyncdError as exc:
        subject.config_error = str(exc)
        return subject
    subject.unit = subject.cfg.service.unit
    _ask_systemd(subject)
    return subject


def _ask_systemd(subject: Subject) -> None:
    from syncd.doctor import unitfile
    from syncd.errors import ToolError
    from syncd.tools.systemctl import Systemctl

    sc = Systemctl(subject.cfg.service.scope)
    try:
        subject.props = sc.show(subject.unit, *UNIT_PROPERTIES)
    except (ToolError, OSError) as exc:
        subject.systemd_error = str(exc)
    files = [
        p for p in [subject.props.get("FragmentPath", "")] + subject.props.get("DropInPaths", "").split() if p
    ]
    if not files and (sc.unit_dir() / subject.unit).exists():
        files = [str(sc.unit_dir() / subject.unit)]
    subject.directives = unitfile.parse_files(files)


def run_checks(subject: Subject, names=CHECKS) -> list[dict]:
    out: list[dict] = []
    for name in names:
        found = importlib.import_module(f"syncd.doctor.{name}").check(subject)
        if found is None:
            continue
        out.extend(found if isinstance(found, list) else [found])
    return out
