"""`syncd doctor`: each check's logic, without a booted system.

Checks get a Subject (the config as loaded, `systemctl show` properties and the unit's [Service]
directives); here those are built from real config files, real trees, keys and git repositories,
with the systemd side given as the dictionaries systemd would answer. The whole command against a
real unit under the user manager is at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import PYTHON, git
from syncd.config import load_config
from syncd.doctor import Subject, run_checks
from syncd.doctor import config as config_check
from syncd.doctor import (
    daemon,
    exec_paths,
    exec_python,
    firewall,
    last_result,
    privileged_port,
    remote,
    secrets_key,
    selinux,
    trusted_files,
    tree_owner,
    unit_loads,
    unitfile,
    user_group,
)
from syncd.state import State


def write_config(tmp: Path, tree: Path, extra: str = "", owner: str | None = None) -> Path:
    path = tmp / "pipe.toml"
    owner_line = f'owner = "{owner}"\n' if owner else ""
    path.write_text(
        f'[repo]\npath = "{tree}"\n\n[service]\nunit = "pipe.service"\n{owner_line}\n'
        f'[state]\ndir = "{tmp / "state"}"\n' + extra
    )
    return path


def subject(
    tmp: Path,
    tree: Path | None = None,
    extra: str = "",
    owner: str | None = None,
    props: dict | None = None,
    unit_text: str | None = None,
) -> Subject:
    tree = tree or tmp
    path = write_config(tmp, tree, extra, owner)
    s = Subject(config_path=path, cfg=load_config(path), unit="pipe.service", props=props or {})
    if unit_text is not None:
        s.directives = unitfile.parse([unit_text])
    return s


def only(found) -> dict:
    assert isinstance(found, dict), found
    assert set(found) == {"check", "ok", "detail", "fix"}
    return found


# -- unit files ---------------------------------------------------------------------------------


def test_unitfile_parse_reads_service_section_with_resets_and_continuations():
    fragment = (
        "[Unit]\nDescription=x\nExecStart=/not/this\n[Service]\n# comment\nExecStart=/bin/a \\\n  --flag\n"
        "User=pipe\nEnvironment=A=1\n"
    )
    dropin = "[Service]\nExecStart=\nExecStart=/bin/b\nEnvironment=B=2\n"
    d = unitfile.parse([fragment, dropin])
    assert d["ExecStart"] == ["/bin/b"]
    assert d["Environment"] == ["A=1", "B=2"] and d["User"] == ["pipe"]
    assert unitfile.parse([fragment])["ExecStart"] == ["/bin/a  --flag"]
    assert unitfile.exec_program('-"/opt/my app/python" x') == "/opt/my app/python"


# -- config ----------------------------------------------------------------------------------------


def test_config_check_reports_the_error_and_a_missing_file(tmp_path):
    missing = Subject(config_path=tmp_path / "nope.toml", config_error="x")
    r = only(config_check.check(missing))
    assert not r["ok"] and "does not exist" in r["detail"] and "syncd install nope" in r["fix"]
    bad = Subject(config_path=tmp_path / "bad.toml", config_error="bad.toml: repo.path: expected ...")
    (tmp_path / "bad.toml").write_text("x")
    r = only(config_check.check(bad))
    assert not r["ok"] and "repo.path" in r["detail"]
    assert only(config_check.check(subject(tmp_path)))["ok"]
    # every other check needs the config, except the trust of the config file itself
    assert [r["check"] for r in run_checks(bad)] == ["config", "trusted-files"]


# -- the unit ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "props,ok,words",
    [
        ({"LoadState": "loaded", "FragmentPath": "/etc/systemd/system/pipe.service"}, True, "loaded from"),
        ({"LoadState": "not-found"}, False, "no such unit"),
        (
            {
                "LoadState": "bad-setting",
                "LoadError": 'org.freedesktop.systemd1.BadUnitSetting "Unit has a bad setting"',
                "FragmentPath": "/etc/systemd/system/pipe.service",
            },
            False,
            "bad-setting",
        ),
        ({"LoadState": "loaded", "NeedDaemonReload": "yes"}, False, "changed on disk"),
    ],
)
def test_unit_loads(tmp_path, props, ok, words):
    r = only(unit_loads.check(subject(tmp_path, props=props)))
    assert r["ok"] is ok and words in r["detail"]
    if not ok:
        assert "daemon-reload" in r["fix"] or "syncd install" in r["fix"]


def test_exec_paths_relative_missing_and_good(tmp_path):
    s = subject(tmp_path, unit_text="[Service]\nExecStart=venv/bin/python main.py\n")
    r = only(exec_paths.check(s))
    assert not r["ok"] and "'venv/bin/python' is not an absolute path" in r["detail"]
    assert "no WorkingDirectory=" in r["detail"] and f"WorkingDirectory={tmp_path}" in r["fix"]
    s = subject(
        tmp_path, unit_text=f"[Service]\nExecStart={tmp_path}/nothing x\nWorkingDirectory={tmp_path}/gone\n"
    )
    r = only(exec_paths.check(s))
    assert (
        not r["ok"] and "does not exist" in r["detail"] and f"{tmp_path}/gone does not exist" in r["detail"]
    )
    s = subject(tmp_path, unit_text=f"[Service]\nExecStart={PYTHON} app.py\nWorkingDirectory={tmp_path}\n")
    assert only(exec_paths.check(s))["ok"]
    s = subject(tmp_path, unit_text=f"[Service]\nExecStart={PYTHON}\nWorkingDirectory=-{tmp_path}/optional\n")
    assert only(exec_paths.check(s))["ok"]  # "-": systemd does not mind it missing


def test_exec_python_wants_an_environment(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin" / "python").symlink_to(sys.executable)
    ok = only(
        exec_python.check(subject(tmp_path, unit_text=f"[Service]\nExecStart={venv}/bin/python main.py\n"))
    )
    assert ok["ok"]
    bad = only(
        exec_python.check(subject(tmp_path, unit_text="[Service]\nExecStart=/usr/bin/python3 main.py\n"))
    )
    assert (
        not bad["ok"] and "system's python" in bad["detail"] and f"{tmp_path}/venv/bin/python" in bad["fix"]
    )
    other = only(
        exec_python.check(subject(tmp_path, unit_text="[Service]\nExecStart=/usr/bin/node server.js\n"))
    )
    assert other["ok"]


def test_user_group(tmp_path, service_user):
    r = only(user_group.check(subject(tmp_path, unit_text="[Service]\nExecStart=/bin/true\n")))
    assert not r["ok"] and "runs as root" in r["detail"]
    r = only(
        user_group.check(subject(tmp_path, unit_text="[Service]\nUser=nosuchuser-x\nGroup=nosuchgroup-x\n"))
    )
    assert (
        not r["ok"]
        and "User=nosuchuser-x: no such user" in r["detail"]
        and "Group=nosuchgroup-x" in r["detail"]
    )
    good = f"[Service]\nUser={service_user.pw_name}\nGroup={service_user.pw_name}\n"
    assert only(user_group.check(subject(tmp_path, unit_text=good)))["ok"]


# -- the tree ---------------------------------------------------------------------------------------


def test_tree_owner_finds_a_root_owned_file_and_never_follows_links(workdir, service_user):
    tree = workdir / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.py").write_text("x")
    (tree / "link").symlink_to("/etc")  # root-owned target: not followed, not reported
    owner = f"{service_user.pw_name}:{service_user.pw_name}"
    subprocess.run(["chown", "-R", "--no-dereference", owner, str(tree)], check=True)
    cfg_dir = workdir / "cfg"
    cfg_dir.mkdir()
    assert only(tree_owner.check(subject(cfg_dir, tree, owner=owner)))["ok"]
    (tree / "sub" / "root.txt").write_text("made by root")
    r = only(tree_owner.check(subject(cfg_dir, tree, owner=owner)))
    assert not r["ok"] and str(tree / "sub" / "root.txt") in r["detail"]
    assert r["fix"] == f"chown -R --no-dereference {owner} {tree}"
    examples, count, stopped = tree_owner.scan(tree, service_user.pw_uid, -1, limit=5)
    assert count == 1 and not stopped


# -- ports --------------------------------------------------------------------------------------------


def test_privileged_port_needs_the_capability():
    assert privileged_port.needs_capability([104], "pipeline", "", None, 1024) == [104]
    assert (
        privileged_port.needs_capability(
            [104], "pipeline", "cap_net_bind_service", "cap_net_bind_service", 1024
        )
        == []
    )
    assert privileged_port.needs_capability([104], "pipeline", "cap_net_bind_service", "cap_chown", 1024) == [
        104
    ]
    assert privileged_port.needs_capability([104], "pipeline", "cap_net_bind_service", "", 1024) == [
        104
    ]  # empty set
    assert privileged_port.needs_capability([104], "root", "", None, 1024) == []
    assert privileged_port.needs_capability([11112], "pipeline", "", None, 1024) == []
    assert privileged_port.needs_capability([104], "pipeline", "", None, 80) == []  # sysctl lowered it


def test_privileged_port_check_reads_the_config_and_the_unit(tmp_path):
    extra = '[health]\ntcp = "127.0.0.1:104"\n'
    bad = subject(
        tmp_path,
        extra=extra,
        props={
            "User": "pipeline",
            "AmbientCapabilities": "",
            "CapabilityBoundingSet": "cap_net_bind_service",
        },
    )
    r = only(privileged_port.check(bad))
    assert (
        not r["ok"] and "port 104" in r["detail"] and "AmbientCapabilities=CAP_NET_BIND_SERVICE" in r["fix"]
    )
    good = subject(
        tmp_path,
        extra=extra,
        props={
            "User": "pipeline",
            "AmbientCapabilities": "cap_net_bind_service",
            "CapabilityBoundingSet": "cap_net_bind_service",
        },
    )
    assert only(privileged_port.check(good))["ok"]
    assert only(privileged_port.check(subject(tmp_path)))["ok"]  # no port: nothing to check


UFW_ACTIVE = """Status: active

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW       Anywhere
104/tcp                    ALLOW       Anywhere
8000:8100/tcp              ALLOW       Anywhere
22/tcp (v6)                ALLOW       Anywhere (v6)
"""


def test_ufw_rules():
    assert firewall.ufw_allows(UFW_ACTIVE, 104) is True
    assert firewall.ufw_allows(UFW_ACTIVE, 8050) is True
    assert firewall.ufw_allows(UFW_ACTIVE, 11112) is False
    assert firewall.ufw_allows("Status: inactive\n", 104) is None


def nft(policy: str, *rules: list) -> dict:
    items = [
        {"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "inet", "name": "filter"}},
        {
            "chain": {
                "family": "inet",
                "table": "filter",
                "name": "input",
                "type": "filter",
                "hook": "input",
                "prio": 0,
                "policy": policy,
            }
        },
        {
            "chain": {
                "family": "inet",
                "table": "filter",
                "name": "output",
                "type": "filter",
                "hook": "output",
                "prio": 0,
                "policy": "drop",
            }
        },
    ]
    for expr in rules:
        items.append({"rule": {"family": "inet", "table": "filter", "chain": "input", "expr": expr}})
    return {"nftables": items}


def dport(right) -> dict:
    return {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": right}}


CT_ESTABLISHED = [
    {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
    {"accept": None},
]


def test_nftables_ruleset():
    assert firewall.nft_verdict({"nftables": [{"metainfo": {}}]}, 104) is None  # no input chain: no firewall
    assert firewall.nft_verdict(nft("accept"), 104) is True
    assert firewall.nft_verdict(nft("drop", CT_ESTABLISHED, [dport(22), {"accept": None}]), 104) is False
    assert firewall.nft_verdict(nft("drop", CT_ESTABLISHED, [dport(104), {"accept": None}]), 104) is True
    assert firewall.nft_verdict(nft("drop", [dport({"set": [22, 104]}), {"accept": None}]), 104) is True
    assert (
        firewall.nft_verdict(
            nft("drop", [dport({"range": [100, 110]}), {"counter": None}, {"accept": None}]), 104
        )
        is True
    )
    assert firewall.nft_verdict(nft("accept", [dport(104), {"drop": None}]), 104) is False
    assert firewall.nft_verdict(nft("accept", [dport(104), {"reject": None}]), 11112) is True


def test_firewall_check_names_the_firewall_and_its_command(tmp_path, monkeypatch):
    from syncd.tools import firewall as tools

    monkeypatch.setattr(tools, "firewalld_running", lambda: False)
    monkeypatch.setattr(tools, "ufw_status", lambda: None)
    monkeypatch.setattr(tools, "nft_ruleset", lambda: nft("drop", CT_ESTABLISHED))
    s = subject(tmp_path, extra='[health]\ntcp = "127.0.0.1:104"\n')
    r = only(firewall.check(s))
    assert not r["ok"] and "nftables" in r["detail"] and "tcp dport 104 accept" in r["fix"]
    monkeypatch.setattr(tools, "ufw_status", lambda: UFW_ACTIVE)
    assert only(firewall.check(s))["ok"]
    monkeypatch.setattr(tools, "firewalld_running", lambda: True)
    monkeypatch.setattr(tools, "firewalld_allows", lambda port: False)
    r = only(firewall.check(s))
    assert not r["ok"] and "firewall-cmd --permanent --add-port=104/tcp" in r["fix"]
    monkeypatch.setattr(tools, "firewalld_running", lambda: False)
    monkeypatch.setattr(tools, "ufw_status", lambda: None)
    monkeypatch.setattr(tools, "nft_ruleset", lambda: None)
    assert "no active firewall" in only(firewall.check(s))["detail"]


# -- SELinux -----------------------------------------------------------------------------------------

AVC_TREE = (
    'type=AVC msg=audit(1701500000.123:456): avc:  denied  { read } for  pid=4242 comm="python" '
    'name="model.bin" dev="sda1" ino=1 scontext=system_u:system_r:unconfined_service_t:s0 '
    "tcontext=unconfined_u:object_r:user_home_t:s0 tclass=file permissive=0"
)
AVC_PORT = (
    'type=AVC msg=audit(1701500001.0:457): avc:  denied  { name_bind } for  pid=4243 comm="python3" '
    "src=104 scontext=system_u:system_r:init_t:s0 tcontext=system_u:object_r:dicom_port_t:s0 "
    'tclass=tcp_socket permissive=0 exe="/opt/pipe/venv/bin/python"'
)
AVC_OTHER = (
    'type=AVC msg=audit(1701500002.0:458): avc:  denied  { write } for  pid=1 comm="sshd" '
    'path="/root/x" exe="/usr/sbin/sshd"'
)


def test_selinux_denials_for_the_unit():
    found = selinux.denials_for(
        [AVC_TREE, AVC_PORT, AVC_OTHER], {"/opt/pipe/venv/bin/python"}, "/opt/pipe", {"4242"}
    )
    assert found == [AVC_TREE, AVC_PORT]
    assert selinux.denials_for([AVC_OTHER], {"/opt/pipe/venv/bin/python"}, "/opt/pipe", set()) == []


def test_selinux_check(tmp_path, monkeypatch):
    from syncd.tools import selinux as tools

    s = subject(
        tmp_path,
        unit_text="[Service]\nExecStart=/opt/pipe/venv/bin/python main.py\n",
        props={"MainPID": "4242"},
    )
    monkeypatch.setattr(tools, "mode", lambda: "disabled")
    assert only(selinux.check(s))["ok"]
    monkeypatch.setattr(tools, "mode", lambda: "enforcing")
    monkeypatch.setattr(tools, "recent_denials", lambda: [AVC_PORT, AVC_OTHER])
    r = only(selinux.check(s))
    assert not r["ok"] and "1 recent SELinux denials" in r["detail"] and "audit2allow" in r["fix"]
    monkeypatch.setattr(tools, "recent_denials", lambda: [AVC_OTHER])
    assert only(selinux.check(s))["ok"]


# -- the remote, the key, the files root trusts, the last result ----------------------------------------


def test_remote_reachable_as_the_owner(workdir, service_user):
    owner = f"{service_user.pw_name}:{service_user.pw_name}"
    git(workdir, "init", "--quiet", "--bare", "--initial-branch=master", str(workdir / "origin.git"))
    git(workdir, "clone", "--quiet", str(workdir / "origin.git"), str(workdir / "tree"))
    git(workdir / "tree", "commit", "--quiet", "--allow-empty", "-m", "one")
    git(workdir / "tree", "push", "--quiet", "origin", "HEAD:master")
    subprocess.run(["chown", "-R", owner, str(workdir / "tree")], check=True)  # origin stays root's
    cfg_dir = workdir / "cfg"
    cfg_dir.mkdir()
    r = only(remote.check(subject(cfg_dir, workdir / "tree", owner=owner)))
    assert r["ok"] and f"as uid {service_user.pw_uid}" in r["detail"]
    git(workdir / "tree", "remote", "set-url", "origin", str(workdir / "gone.git"))
    r = only(remote.check(subject(cfg_dir, workdir / "tree", owner=owner)))
    assert not r["ok"] and "not reachable" in r["detail"] and "ls-remote" in r["fix"]
    git(workdir / "tree", "remote", "set-url", "origin", str(workdir / "origin.git"))
    s = subject(cfg_dir, workdir / "tree", owner=owner)
    s.cfg = load_config(_with_branch(s.config_path, "nobranch"))
    r = only(remote.check(s))
    assert not r["ok"] and "has no branch nobranch" in r["detail"]


def _with_branch(path: Path, branch: str) -> Path:
    path.write_text(path.read_text().replace("[repo]\n", f'[repo]\nbranch = "{branch}"\n'))
    return path


def test_secrets_key_opens_every_file(workdir, service_user):
    from syncd.secrets import seal_value
    from syncd.secrets.format import new_file
    from syncd.secrets.keys import generate_key_file

    server = generate_key_file(workdir / "server.key")
    other = generate_key_file(workdir / "other.key")
    tree = workdir / "tree"
    tree.mkdir()
    git(tree, "init", "--quiet", "--initial-branch=master")
    for name, recipient in (("good.env.enc", server), ("bad.env.enc", other)):
        f = new_file(name, "good" if name.startswith("good") else "bad", [recipient])
        seal_value(f, "PASSWORD", "s3cret value")
        (tree / name).write_bytes(f.to_bytes())
    git(tree, "add", "-A")
    git(tree, "commit", "--quiet", "-m", "secrets")
    owner = f"{service_user.pw_name}:{service_user.pw_name}"
    subprocess.run(["chown", "-R", owner, str(tree)], check=True)
    cfg_dir = workdir / "cfg"
    cfg_dir.mkdir()
    extra = f'[env]\nsecrets = ["good.env.enc"]\nkey = "{workdir / "server.key"}"\n'
    assert only(secrets_key.check(subject(cfg_dir, tree, extra=extra, owner=owner)))["ok"]
    extra = f'[env]\nsecrets = ["good.env.enc", "bad.env.enc"]\nkey = "{workdir / "server.key"}"\n'
    r = only(secrets_key.check(subject(cfg_dir, tree, extra=extra, owner=owner)))
    assert not r["ok"] and "bad.env.enc" in r["detail"] and "good.env.enc" not in r["detail"]
    assert f"--add {server}" in r["fix"] and "s3cret" not in json.dumps(r)
    assert (
        only(secrets_key.check(subject(cfg_dir, tree, owner=owner)))["detail"] == "no env.secrets configured"
    )


def test_trusted_files(tmp_path):
    key = tmp_path / "k.key"
    key.write_text("x")
    os.chmod(key, 0o600)
    os.chmod(tmp_path, 0o755)
    assert trusted_files.problems_of(key, secret=True) == []
    os.chmod(key, 0o644)
    assert trusted_files.problems_of(key, secret=True) == [
        (f"{key} is readable by others than root (mode 0644)", f"chmod 600 {key}")
    ]
    conf = tmp_path / "c.toml"
    conf.write_text("x")
    os.chmod(conf, 0o664)
    assert trusted_files.problems_of(conf) == [
        (f"{conf} is writable by group (mode 0664)", f"chmod go-w {conf}")
    ]
    os.chown(conf, 65534, 0)
    assert (
        f"{conf} is owned by uid 65534, not root",
        f"chown root:root {conf}",
    ) in trusted_files.problems_of(conf)
    assert trusted_files.problems_of(tmp_path / "missing") == []
    assert trusted_files.problems_of(Path("/tmp")) == []  # sticky and root's: like /tmp for sshd


def test_trusted_files_check(tmp_path):
    os.chmod(tmp_path, 0o755)
    s = subject(tmp_path, extra=f'[env]\nkey = "{tmp_path / "k.key"}"\n')
    (tmp_path / "k.key").write_text("x")
    os.chmod(tmp_path / "k.key", 0o604)
    os.chmod(s.config_path, 0o664)
    r = only(trusted_files.check(s))
    assert not r["ok"] and "chmod go-w" in r["fix"] and f"chmod 600 {tmp_path / 'k.key'}" in r["fix"]
    os.chmod(tmp_path / "k.key", 0o600)
    os.chmod(s.config_path, 0o644)
    assert only(trusted_files.check(s))["ok"], trusted_files.check(s)


def test_last_result(tmp_path):
    s = subject(tmp_path)
    r = only(last_result.check(s))
    assert not r["ok"] and r["detail"] == "never synced"
    state = State(s.cfg.state_dir).ensure()
    state.update_status(
        result="blocked", reason="merge conflict in config.py", last_sync="2026-01-01T00:00:00"
    )
    r = only(last_result.check(s))
    assert not r["ok"] and "merge conflict in config.py" in r["detail"] and "troubleshooting" in r["fix"]
    state.update_status(result="deployed", deployed="a" * 40, reason=None)
    assert only(last_result.check(s))["ok"]


def test_daemon_unit_name():
    assert daemon.daemon_unit("syncd") == "syncd.service"
    assert daemon.daemon_unit("pipeline") == "syncd@pipeline.service"


# -- the whole command ------------------------------------------------------------------------------


def test_doctor_command_against_a_real_unit(deployment):
    d = deployment()
    d.sync()
    proc = d.syncd("doctor", "--json")
    results = {r["check"]: r for r in json.loads(proc.stdout)}
    assert proc.returncode == 1  # no syncd daemon and no User=: not all is well
    for name in (
        "config",
        "unit-loads",
        "exec-paths",
        "exec-python",
        "tree-owner",
        "remote",
        "last-result",
        "privileged-port",
        "firewall",
        "selinux",
        "secrets-key",
    ):
        assert results[name]["ok"], results[name]
    assert not results["user-group"]["ok"] and "runs as root" in results["user-group"]["detail"]
    assert not results["daemon"]["ok"]
    text = d.syncd("doctor").stdout
    assert "FAIL user-group" in text and "-> fix: User=" in text and "ok   unit-loads" in text
    d.unit_file.write_text(d.unit_file.read_text().replace("ExecStart=", "ExecStart=relative/"))
    from helpers import systemctl

    systemctl("daemon-reload")
    results = {r["check"]: r for r in json.loads(d.syncd("doctor", "--json", check=1).stdout)}
    assert not results["unit-loads"]["ok"] and not results["exec-paths"]["ok"]
