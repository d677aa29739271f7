"""The shipped units: `systemd-analyze verify` each, and the properties the docs promise.

verify checks that ExecStart's binary exists, so each unit is verified as a copy whose
/usr/local/bin/syncd and /opt/pipeline/venv/bin/python point at this checkout's venv; a
template is verified as an instance (syncd@pipeline.service).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "units"
SYNCD = shutil.which("syncd", path=str(Path(sys.executable).parent)) or f"{sys.executable}"


def installed_copy(tmp_path: Path, name: str, as_name: str | None = None) -> Path:
    text = (UNITS / name).read_text()
    text = text.replace("/usr/local/bin/syncd", SYNCD).replace(
        "/opt/pipeline/venv/bin/python", sys.executable
    )
    path = tmp_path / (as_name or name)
    path.write_text(text)
    return path


def directives(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize(
    "name,as_name",
    [("syncd.service", None), ("syncd@.service", "syncd@pipeline.service"), ("pipeline.service", None)],
)
def test_unit_verifies_clean(tmp_path, name, as_name):
    path = installed_copy(tmp_path, name, as_name)
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "" and proc.stdout.strip() == "", (
        proc.stderr + proc.stdout
    )  # not even a warning


@pytest.mark.parametrize("name", ["syncd.service", "syncd@.service"])
def test_daemon_units_are_notify_watchdog_and_hardened(tmp_path, name):
    d = directives(name)
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] and d["Restart"] == ["on-failure"]
    assert d["RestartPreventExitStatus"] == ["2"]  # a config error is not fixed by restarting
    assert d["KillMode"] == ["mixed"]  # SIGTERM to syncd only: it stops hooks at a safe point itself
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["yes"]
    assert "/etc/systemd/system" in d["ReadWritePaths"][0]
    caps = set(d["CapabilityBoundingSet"][0].split())
    assert caps == {
        "CAP_CHOWN",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_KILL",
    }
    text = (UNITS / name).read_text()
    assert text.count("Relaxation:") >= 4  # each relaxation says why
    path = installed_copy(tmp_path, name, "syncd@pipeline.service" if "@" in name else None)
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=35", "--no-pager", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-400:]  # exposure 3.5 or better ("OK")


def test_template_reads_its_own_config_and_state():
    d = directives("syncd@.service")
    assert d["ExecStart"] == ["/usr/local/bin/syncd --config /etc/syncd/%i.toml run"]
    assert d["StateDirectory"] == ["syncd/%i"]
    assert directives("syncd.service")["ExecStart"] == [
        "/usr/local/bin/syncd --config /etc/syncd/syncd.toml run"
    ]


def test_pipeline_example_fixes_the_tutorial():
    d = directives("pipeline.service")
    text = (UNITS / "pipeline.service").read_text()
    assert "/etc/systemd/system/pipeline.service" in text
    assert d["User"] == ["pipeline"] and d["Group"] == ["pipelineadmin"]
    assert "groupadd --system pipelineadmin" in text  # the Group= it names is created first
    assert d["ExecStart"][0].startswith("/opt/pipeline/venv/bin/python ")
    assert d["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert d["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert "DICOM_PORT (104)" in text  # the port comes from the environment syncd renders
    assert d["Restart"] == ["on-failure"] and d["StartLimitBurst"] and d["StartLimitIntervalSec"]
