"""`syncd install` and `syncd doctor` at system scope, on a fresh booted Debian 12 and 13 each.

From a system with only syncd installed (docs/deploy.md section 1) and a developer account: the
dry run changes nothing; one `syncd install --port 104 --push-repo ... --secrets` brings the pipeline
up (listening on 104 as its unprivileged user) and syncd@pipeline; a second run has nothing to do;
the developer's push over ssh is deployed; doctor passes; then each problem planted in turn is
reported by doctor with exit 1 and its fix, and passes again once fixed. Tests run in order.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from .bed import RELEASES, Machine
from .conftest import _PREPARE_ERRORS, _PREPARING, Server

CONFIG = "/etc/syncd/pipeline.toml"
INSTALL = (
    "syncd install pipeline --repo /root/pipeline --port 104 --push-repo /srv/git/pipeline.git --secrets "
    "--local-branch local --admin alice --exec 'venv/bin/python -m pipeline'"
)
WRITTEN = [
    "/etc/syncd/pipeline.toml",
    "/etc/syncd/keys/pipeline.key",
    "/etc/systemd/system/pipeline.service",
    "/etc/systemd/system/syncd@.service",
    "/var/lib/syncd/pipeline/install.json",
    "/etc/gitconfig",
]


@pytest.fixture(scope="module", params=sorted(RELEASES))
def fresh(request):
    """A freshly booted Debian with syncd installed (guide section 1), a developer, her repository."""
    if request.param in _PREPARING:  # the image being built in the background
        _PREPARING[request.param].join()
    if request.param in _PREPARE_ERRORS:
        raise _PREPARE_ERRORS[request.param]
    machine = Machine(
        request.param,
        Path(tempfile.mkdtemp(prefix=f"syncd-bed-{request.param}-")),
        name=f"syncd-inst-{request.param}-{os.getpid()}",
    )
    machine.create()
    machine.boot()
    server = Server(machine)
    try:
        server.guide(1)
        machine.sh("useradd --create-home --shell /bin/bash alice")
        server.developer_machine()
        # The code as root has it (a release unpacked, say): in root's own 0700 home.
        machine.sh("cp -a /home/alice/pipeline /root/pipeline && chown -R root:root /root/pipeline")
        yield server
    finally:
        machine.destroy()


def mtimes(m: Machine) -> str:
    return m.sh("stat -c '%n %Y.%y' " + " ".join(WRITTEN))


def doctor(m: Machine) -> tuple[int, dict]:
    res = m.run("syncd doctor pipeline --json")
    return res.returncode, {r["check"]: r for r in json.loads(res.stdout)}


def test_dry_run_changes_nothing(fresh):
    m = fresh.m
    out = m.sh(INSTALL + " --dry-run")
    assert "would: groupadd --system pipelineadmin" in out and "nothing was changed" in out
    assert m.run("getent passwd pipeline").returncode == 2
    assert (
        m.run("test -e /opt/pipeline -o -e /etc/syncd/pipeline.toml -o -e /srv/git/pipeline.git").returncode
        == 1
    )
    assert m.run("test -e /etc/systemd/system/pipeline.service").returncode == 1


def test_install_brings_up_the_pipeline_on_104_as_its_user(fresh):
    m = fresh.m
    res = m.run(INSTALL)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "its recipient, for the developers: syncd1:" in res.stdout
    assert m.sh("systemctl is-active pipeline.service syncd@pipeline.service").split() == ["active", "active"]
    assert m.sh("systemctl is-enabled pipeline.service syncd@pipeline.service").split() == [
        "enabled",
        "enabled",
    ]
    # Listening on 104, as the unprivileged user, by the one capability.
    listener = m.wait_for("ss -Hltnp 'sport = :104' | grep -o 'pid=[0-9]*'", timeout=60).stdout.strip()
    pid = listener.split("=")[1]
    assert m.sh(f"stat -c %U /proc/{pid}") == "pipeline"
    assert m.run("bash -c 'exec 3<>/dev/tcp/127.0.0.1/104'").returncode == 0
    assert fresh.report()["version"] == "1"
    assert m.sh("stat -c '%U:%G %a' /etc/syncd/keys/pipeline.key") == "root:root 600"
    assert m.sh("stat -c %U:%G /opt/pipeline /opt/pipeline/VERSION").split() == ["pipeline:pipelineadmin"] * 2
    assert m.sh("stat -c %U:%G /srv/git/pipeline.git") == "root:pipelineadmin"
    assert m.sh("runuser -u pipeline -- git -C /opt/pipeline rev-parse --abbrev-ref HEAD") == "local"
    assert fresh.wait_settled(CONFIG)["result"] in ("up-to-date", "deployed")


def test_second_install_has_nothing_to_do(fresh):
    m = fresh.m
    before = mtimes(m)
    out = m.sh(INSTALL)
    assert out.endswith("nothing to do"), out
    assert mtimes(m) == before


def test_developer_push_is_deployed(fresh):
    m = fresh.m
    fresh.alice("git remote add production ssh://alice@server/srv/git/pipeline.git")
    head = fresh.push("2")
    fresh.wait_result(head, ("deployed",), config=CONFIG)
    assert fresh.report()["version"] == "2"
    assert m.sh("stat -c %U:%G /opt/pipeline/VERSION") == "pipeline:pipelineadmin"


def test_doctor_passes(fresh):
    code, results = doctor(fresh.m)
    assert code == 0, {k: v for k, v in results.items() if not v["ok"]}
    assert {
        "config",
        "unit-loads",
        "exec-paths",
        "exec-python",
        "user-group",
        "tree-owner",
        "privileged-port",
        "firewall",
        "selinux",
        "remote",
        "secrets-key",
        "trusted-files",
        "last-result",
        "daemon",
    } <= set(results)


UNIT = "/etc/systemd/system/pipeline.service"
PLANTS = {
    # name: (plant, undo, the check that fails, words of its fix)
    "root-owned file in the tree": (
        "touch /opt/pipeline/by-root.txt",
        "rm /opt/pipeline/by-root.txt",
        "tree-owner",
        "chown -R",
    ),
    "relative ExecStart": (
        f"sed -i 's#^ExecStart=/opt/pipeline/#ExecStart=#' {UNIT} && systemctl daemon-reload",
        f"sed -i 's#^ExecStart=venv/#ExecStart=/opt/pipeline/venv/#' {UNIT} && systemctl daemon-reload",
        "exec-paths",
        "absolute path",
    ),
    "capability removed with port 104": (
        f"sed -i '/^AmbientCapabilities=/d' {UNIT} && systemctl daemon-reload",
        f"sed -i 's#^CapabilityBoundingSet=#AmbientCapabilities=CAP_NET_BIND_SERVICE\\nCapabilityBoundingSet=#' {UNIT}"
        " && systemctl daemon-reload",
        "privileged-port",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    ),
    "group-writable config": (f"chmod g+w {CONFIG}", f"chmod g-w {CONFIG}", "trusted-files", "chmod go-w"),
    "world-readable key": (
        "chmod o+r /etc/syncd/keys/pipeline.key",
        "chmod o-r /etc/syncd/keys/pipeline.key",
        "trusted-files",
        "chmod 600",
    ),
    "unit that does not load": (
        f"cp {UNIT} /root/unit.saved && printf '[Service]\\nExecStart=\\n' >> {UNIT} && "
        "systemctl daemon-reload",
        f"cp /root/unit.saved {UNIT} && systemctl daemon-reload",
        "unit-loads",
        "systemd-analyze verify",
    ),
}


@pytest.mark.parametrize("problem", list(PLANTS))
def test_doctor_reports_a_planted_problem_and_passes_once_fixed(fresh, problem):
    plant, undo, check, fix = PLANTS[problem]
    m = fresh.m
    m.sh("syncd --config /etc/syncd/pipeline.toml pause")  # a sync meanwhile would record the problem
    m.sh(plant)
    try:
        code, results = doctor(m)
        assert code == 1 and not results[check]["ok"], (problem, results[check])
        assert fix in results[check]["fix"], results[check]
        assert m.run("syncd doctor pipeline").stdout.count("FAIL") >= 1
    finally:
        m.sh(undo)
        m.sh("syncd --config /etc/syncd/pipeline.toml resume")
    code, results = doctor(m)
    assert code == 0, (problem, {k: v for k, v in results.items() if not v["ok"]})


def test_doctor_reports_a_secrets_file_the_key_cannot_open(fresh):
    m = fresh.m
    m.sh("syncd --config /etc/syncd/pipeline.toml pause")  # the daemon would try to deploy the local commit
    try:
        other = m.sh("syncd secrets keygen --out /root/other.key")
        m.sh(
            f"cd /opt/pipeline && printf x | runuser -u pipeline -- syncd secrets set deploy/other.env.enc "
            f"PASSWORD --recipient {other} && runuser -u pipeline -- git add deploy/other.env.enc && "
            "runuser -u pipeline -- git -c user.name=ops -c user.email=ops@server commit -qm 'other key'"
        )
        m.sh(
            f"cp {CONFIG} /root/config.saved && "
            f"sed -i 's#^\\[env\\]#[env]\\nsecrets = [\"deploy/other.env.enc\"]#' {CONFIG}"
        )
        code, results = doctor(m)
        assert code == 1 and not results["secrets-key"]["ok"], results["secrets-key"]
        assert "deploy/other.env.enc" in results["secrets-key"]["detail"]
        assert "syncd secrets recipients" in results["secrets-key"]["fix"]
    finally:
        m.sh(
            f"cp /root/config.saved {CONFIG} && runuser -u pipeline -- git -C /opt/pipeline reset -q --hard HEAD~1"
        )
        m.sh("syncd --config /etc/syncd/pipeline.toml resume")
    code, results = doctor(m)
    assert code == 0, {k: v for k, v in results.items() if not v["ok"]}
