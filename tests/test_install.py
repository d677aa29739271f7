"""`syncd install`: its templates, its record of what it wrote, its arguments, and a whole run.

The whole run is real on this host as far as it can be: real useradd/groupadd (dedicated names,
removed afterwards), /etc/syncd, /var/lib, a push repository, a clone, a venv, and the units under
root's systemd user manager (`--scope user`: systemd is not PID 1 here) — where User=, Group= and
AmbientCapabilities= work as in the system manager, so the pipeline really binds a port below 1024
as its unprivileged user. The system-scope runs on booted Debian 12/13 are in tests/booted/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import PYTHON, git, systemctl
from syncd.config import load_config
from syncd.install.record import CREATE, EDITED, SAME, UPDATE, Record
from syncd.install.templates import (
    Answers,
    config_text,
    daemon_dropin,
    daemon_unit,
    exec_argv,
    exec_word,
    pipeline_unit,
)

UNITS = Path(__file__).resolve().parent.parent / "units"


def answers(**kw) -> Answers:
    base = dict(
        name="pipeline",
        repo="https://example.org/p.git",
        dir=Path("/opt/pipeline"),
        user="pipeline",
        group="pipelineadmin",
    )
    base.update(kw)
    return Answers(**base)


# -- templates ----------------------------------------------------------------------------------


def directives(text: str) -> dict[str, list[str]]:
    from syncd.doctor.unitfile import parse

    return parse([text])


def test_unit_has_absolute_paths_restart_and_the_capability_only_below_1024():
    d = directives(pipeline_unit(answers(port=104)))
    assert d["ExecStart"] == ["/opt/pipeline/venv/bin/python /opt/pipeline/main.py"]
    assert d["WorkingDirectory"] == ["/opt/pipeline"] and d["Restart"] == ["on-failure"]
    assert d["User"] == ["pipeline"] and d["Group"] == ["pipelineadmin"]
    assert d["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert d["StateDirectory"] == ["pipeline"] and d["LogsDirectory"] == ["pipeline"]
    assert "AmbientCapabilities" not in directives(pipeline_unit(answers(port=11112)))
    assert "AmbientCapabilities" not in directives(pipeline_unit(answers()))
    assert "WantedBy=multi-user.target" in pipeline_unit(answers())
    assert "WantedBy=default.target" in pipeline_unit(answers(scope="user"))


def test_exec_words_are_absolute_and_quoted():
    assert exec_argv(answers(exec="venv/bin/python -m pipeline --port 104")) == [
        "/opt/pipeline/venv/bin/python",
        "-m",
        "pipeline",
        "--port",
        "104",
    ]
    assert exec_argv(answers(exec="/usr/bin/env python3 app/serve.py -c conf.yml")) == [
        "/usr/bin/env",
        "python3",
        "/opt/pipeline/app/serve.py",
        "-c",
        "conf.yml",
    ]
    assert exec_word("100%") == "100%%" and exec_word("$HOME") == '"$$HOME"'
    assert exec_word('a "b" c') == '"a \\"b\\" c"'


@pytest.mark.parametrize("port", [104, 11112, None])
def test_generated_unit_verifies_clean(workdir, service_user, port):
    tree = workdir / "tree"
    (tree / "venv" / "bin").mkdir(parents=True)
    (tree / "venv" / "bin" / "python").symlink_to(sys.executable)
    (tree / "main.py").write_text("")
    a = answers(dir=tree, user=service_user.pw_name, group=service_user.pw_name, port=port)
    path = workdir / "pipeline.service"
    path.write_text(pipeline_unit(a))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"local_branch": "local", "port": 104, "secrets": True},
        {"dir": Path('/opt/we"ird dir/é'), "branch": "release/2.x", "scope": "user"},
    ],
)
def test_config_is_valid_by_construction(tmp_path, service_user, extra):
    a = answers(user=service_user.pw_name, group=service_user.pw_name, **extra)
    path = tmp_path / "pipeline.toml"
    path.write_text(config_text(a, with_python=False))
    cfg = load_config(path)
    assert cfg.repo.path == a.dir and cfg.repo.branch == a.branch and cfg.repo.local_branch == a.local_branch
    assert cfg.service.unit == "pipeline.service" and cfg.service.owner == f"{a.user}:{a.group}"
    assert cfg.service.scope == a.scope
    assert cfg.env.key == (Path("/etc/syncd/keys/pipeline.key") if a.secrets else None)
    assert cfg.health.tcp == ("127.0.0.1:104" if a.port else None)


def test_daemon_unit_runs_the_installed_syncd():
    shipped = (UNITS / "syncd@.service").read_text()
    text = daemon_unit(shipped, "/opt/syncd/venv/bin/syncd")
    assert "ExecStart=/opt/syncd/venv/bin/syncd --config /etc/syncd/%i.toml run" in text
    assert "WantedBy=default.target" in daemon_unit(shipped, "/x/syncd", "user")
    # shipped with the package: the same bytes as units/
    from syncd.actions.install import shipped_unit

    assert shipped_unit("syncd@.service") == shipped


def test_daemon_dropin_only_when_the_sandbox_needs_it():
    assert daemon_dropin(answers(), Path("/etc/systemd/system"), Path("/var/lib/syncd/pipeline"), {}) is None
    text = daemon_dropin(answers(dir=Path("/srv/pipeline")), Path("/etc/systemd/system"), Path("/x"), {})
    assert "ReadWritePaths=/srv/pipeline\n" in text


# -- the record ---------------------------------------------------------------------------------


def test_record_tells_its_own_file_from_an_edited_one(tmp_path):
    record = Record(tmp_path / "state")
    target = tmp_path / "etc" / "x.conf"
    plan = record.plan(target, b"one\n")
    assert plan.kind == CREATE
    record.write(plan, 0o644)
    assert record.plan(target, b"one\n").kind == SAME
    assert record.plan(target, b"two\n").kind == UPDATE  # syncd wrote what is there: the answers changed
    target.write_text("one\nmine\n")
    plan = record.plan(target, b"two\n")
    assert plan.kind == EDITED and "-mine" in plan.diff() and "+two" in plan.diff()
    kept = record.write(plan, 0o644)
    assert kept.read_text() == "one\nmine\n" and target.read_text() == "two\n"
    assert Record(tmp_path / "state").plan(target, b"two\n").kind == SAME  # remembered on disk
    assert oct((tmp_path / "state" / "install.json").stat().st_mode & 0o777) == "0o600"


# -- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,words",
    [
        (["Bad Name", "--repo", "/tmp"], "NAME 'Bad Name'"),
        (["p", "--repo", "/nonexistent/repo"], "no such repository"),
        (["p", "--repo", "/tmp", "--dir", "relative"], "--dir relative: expected an absolute path"),
        (["p", "--repo", "/tmp", "--port", "70000"], "--port 70000"),
        (["p", "--repo", "/tmp", "--branch", "a..b"], "--branch 'a..b'"),
        (["p", "--repo", "/tmp", "--local-branch", "master"], "must differ"),
        (["p", "--repo", "/tmp", "--admin", "no-such-user-x"], "--admin no-such-user-x"),
        (["p", "--repo", "/tmp", "--exec", "'unclosed"], "--exec"),
        (["p"], "--repo"),
    ],
)
def test_bad_arguments_exit_2_and_say_why(argv, words):
    proc = subprocess.run([PYTHON, "-m", "syncd", "install", *argv], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr


def test_without_systemd_nothing_is_done_and_it_says_why(tmp_path):
    """This host has no systemd as PID 1: at system scope install refuses before changing anything."""
    if subprocess.run(["systemctl", "is-system-running"], capture_output=True).returncode == 0:
        pytest.skip("systemd runs as PID 1 here")
    proc = subprocess.run(
        [PYTHON, "-m", "syncd", "install", "nosystemd", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "does not answer" in proc.stdout and "nothing was changed" in proc.stdout
    assert subprocess.run(["getent", "group", "nosystemdadmin"], capture_output=True).returncode == 2


# -- a whole run ------------------------------------------------------------------------------------


def free_privileged_port() -> int:
    """A random free one: other runs of this suite on the host (other worktrees) pick theirs too."""
    import random

    for port in random.sample(range(600, 1000), 400):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port below 1024")


APP = """\
import socket
port = int(open("PORT").read())
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(open("VERSION").read().encode())
    c.close()
"""


def ask(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        return c.recv(100).decode().strip()


def wait_for(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, ValueError, KeyError):
            last = None
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Server:
    """One `syncd install` target: names, paths and the command line, and everything to undo."""

    def __init__(self, base: Path, user_manager, suffix: str = ""):
        self.name = f"syncdt{os.getpid() % 100000}{suffix}"
        self.dev_user = f"{self.name}dev"
        self.base = base
        self.src = base / "src"
        self.push = base / "push.git"
        self.tree = Path("/opt") / self.name  # inside the shipped unit's ReadWritePaths=/opt
        self.port = free_privileged_port()
        self.unit_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"
        self.config = Path("/etc/syncd") / f"{self.name}.toml"
        self.key = Path("/etc/syncd/keys") / f"{self.name}.key"
        self.unit_file = self.unit_dir / f"{self.name}.service"

    def argv(self, *extra: str) -> list[str]:
        return [
            PYTHON,
            "-m",
            "syncd",
            "install",
            self.name,
            "--repo",
            str(self.src),
            "--dir",
            str(self.tree),
            "--port",
            str(self.port),
            "--push-repo",
            str(self.push),
            "--secrets",
            "--local-branch",
            "local",
            "--admin",
            self.dev_user,
            "--scope",
            "user",
            *extra,
        ]

    def install(self, *extra: str, check: int | None = 0) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*extra), capture_output=True, text=True, timeout=600)
        if check is not None:
            assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def doctor(self) -> tuple[int, dict]:
        proc = subprocess.run(
            [PYTHON, "-m", "syncd", "doctor", self.name, "--json"], capture_output=True, text=True
        )
        return proc.returncode, {r["check"]: r for r in json.loads(proc.stdout)}

    def syncd(self, *args: str) -> None:
        subprocess.run(
            [PYTHON, "-m", "syncd", "--config", str(self.config), *args], check=True, capture_output=True
        )

    def status(self) -> dict:
        proc = subprocess.run(
            [PYTHON, "-m", "syncd", "--config", str(self.config), "status", "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(proc.stdout)

    def written(self) -> list[Path]:
        return [
            self.config,
            self.key,
            self.unit_file,
            self.unit_dir / "syncd@.service",
            Path("/var/lib/syncd") / self.name / "install.json",
        ]

    def cleanup(self) -> None:
        for unit in (f"syncd@{self.name}.service", f"{self.name}.service"):
            systemctl("disable", "--now", unit, check=False)
            systemctl("reset-failed", unit, check=False)
        for path in (self.config, self.key, self.unit_file):
            path.unlink(missing_ok=True)
        for path in (
            self.unit_dir / f"syncd@{self.name}.service.d",
            self.unit_dir / f"{self.name}.service.d",
            Path("/var/lib/syncd") / self.name,
            Path("/var/lib") / self.name,
            self.tree,
            Path("/var/log") / self.name,
        ):
            shutil.rmtree(path, ignore_errors=True)
        systemctl("daemon-reload", check=False)
        subprocess.run(
            ["git", "config", "--system", "--fixed-value", "--unset-all", "safe.directory", str(self.push)],
            capture_output=True,
        )
        for argv in (["userdel", self.name], ["userdel", self.dev_user], ["groupdel", f"{self.name}admin"]):
            subprocess.run(argv, capture_output=True)


@pytest.fixture(scope="module")
def server(user_manager, tmp_path_factory):
    base = Path(tempfile_dir())
    s = Server(base, user_manager)
    s.cleanup()  # a previous run killed half-way
    try:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", s.dev_user],
            check=True,
        )
        s.src.mkdir()
        git(s.src, "init", "--quiet", "--initial-branch=master")
        (s.src / "main.py").write_text(APP)
        (s.src / "PORT").write_text(f"{s.port}\n")
        (s.src / "VERSION").write_text("v1\n")
        (s.src / "requirements.txt").write_text("# the standard library is enough\n")
        (s.src / ".gitignore").write_text("venv\n")
        git(s.src, "add", "-A")
        git(s.src, "commit", "--quiet", "-m", "v1")
        container_dropins(s)
        yield s
    finally:
        s.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def container_dropins(s: Server) -> None:
    """This container cannot give the units' sandboxes these three (226/NAMESPACE); a booted host can."""
    for unit in (f"syncd@{s.name}.service", f"{s.name}.service"):
        dropins = s.unit_dir / f"{unit}.d"
        dropins.mkdir(parents=True, exist_ok=True)
        (dropins / "60-container.conf").write_text(
            "[Service]\nProtectKernelLogs=no\nProtectKernelTunables=no\nProtectHome=read-only\n"
        )


def tempfile_dir() -> str:
    import tempfile

    path = tempfile.mkdtemp(prefix="syncd-inst-", dir="/tmp")
    os.chmod(path, 0o755)
    return path


def test_dry_run_changes_nothing(server):
    proc = server.install("--dry-run")
    assert "would: groupadd --system" in proc.stdout and "nothing was changed" in proc.stdout
    assert subprocess.run(["getent", "passwd", server.name], capture_output=True).returncode == 2
    assert not server.config.exists() and not server.tree.exists() and not server.push.exists()
    assert not server.unit_file.exists()


def test_install_brings_the_pipeline_up_on_a_privileged_port_as_its_user(server):
    proc = server.install()
    out = proc.stdout
    for words in (
        "why:",
        "do: groupadd --system",
        "do: useradd --system",
        "git clone",
        "git checkout -b local",
        "uv: environment of requirements.txt",
        "syncd secrets keygen",
        f"write {server.config}",
        "enable --now",
        "its recipient, for the developers: syncd1:",
        "done:",
    ):
        assert words in out, out
    assert wait_for(lambda: ask(server.port), "the pipeline to listen") == "v1"
    pid = systemctl("show", "-p", "MainPID", "--value", f"{server.name}.service").stdout.strip()
    uids = [
        line.split()[1]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("Uid:")
    ]
    assert uids == [str(pwd_uid(server.name))]  # the unprivileged user binds a port below 1024
    assert systemctl("is-active", f"syncd@{server.name}.service").stdout.strip() == "active"
    cfg = load_config(server.config)
    assert cfg.env.key == server.key and cfg.repo.local_branch == "local"
    assert cfg.python.requirements == "requirements.txt" and (server.tree / "venv").is_symlink()  # [python]
    assert oct(server.key.stat().st_mode & 0o777) == "0o600" and server.key.stat().st_uid == 0
    st = server.tree.stat()
    assert (st.st_uid, st.st_gid) == (pwd_uid(server.name), grp_gid(f"{server.name}admin"))
    assert git(server.tree, "rev-parse", "--abbrev-ref", "HEAD") == "local"
    assert git(server.tree, "remote", "get-url", "origin") == str(server.push)
    assert server.push.stat().st_uid == 0 and server.push.stat().st_gid == grp_gid(f"{server.name}admin")
    groups = subprocess.run(["id", "-nG", server.dev_user], capture_output=True, text=True).stdout.split()
    assert f"{server.name}admin" in groups
    assert server.status()["result"] in ("up-to-date", "deployed")


def pwd_uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def grp_gid(name: str) -> int:
    import grp

    return grp.getgrnam(name).gr_gid


def test_second_run_has_nothing_to_do_and_changes_no_file(server):
    before = {p: p.stat().st_mtime_ns for p in server.written()}
    proc = server.install()
    assert proc.stdout.strip().endswith("nothing to do"), proc.stdout
    assert {p: p.stat().st_mtime_ns for p in server.written()} == before


def test_a_developer_push_is_deployed(server):
    dev = server.base / "dev"
    git(server.base, "clone", "--quiet", str(server.push), str(dev))
    (dev / "VERSION").write_text("v2\n")
    git(dev, "commit", "--quiet", "-am", "v2")
    subprocess.run(["chown", "-R", server.dev_user, str(dev)], check=True)
    pw = __import__("pwd").getpwnam(server.dev_user)
    # As the developer, a member of the admin group (the push repository is root's, group-writable).
    subprocess.run(
        ["git", "push", "--quiet", "origin", "master"],
        cwd=dev,
        check=True,
        user=pw.pw_uid,
        group=pw.pw_gid,
        extra_groups=[grp_gid(f"{server.name}admin")],
        env={"PATH": os.environ["PATH"], "HOME": str(dev)},
    )
    pushed = git(dev, "rev-parse", "HEAD")
    # The new version answers once restarted; the status once it was judged healthy.
    wait_for(lambda: ask(server.port) == "v2", "the new version to answer")
    wait_for(
        lambda: (
            lambda st: (
                st["upstream"] == pushed
                and st["result"] in ("deployed", "up-to-date")
                and st["deployed"] == git(server.tree, "rev-parse", "HEAD")
            )
        )(server.status()),
        "the deploy to be judged healthy",
    )


def test_doctor_passes(server):
    code, results = server.doctor()
    assert code == 0, {k: v for k, v in results.items() if not v["ok"]}
    assert len(results) == 14


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new))


def plant_root_file(s: Server):
    (s.tree / "made-by-root.txt").write_text("x")
    return lambda: (s.tree / "made-by-root.txt").unlink()


def plant_relative_exec(s: Server):
    replace_in(s.unit_file, f"ExecStart={s.tree}/venv/bin/python", "ExecStart=venv/bin/python")
    systemctl("daemon-reload")
    return lambda: (
        replace_in(s.unit_file, "ExecStart=venv/bin/python", f"ExecStart={s.tree}/venv/bin/python"),
        systemctl("daemon-reload"),
    )


def plant_no_capability(s: Server):
    replace_in(s.unit_file, "AmbientCapabilities=CAP_NET_BIND_SERVICE\n", "")
    systemctl("daemon-reload")
    return lambda: (
        replace_in(
            s.unit_file,
            "CapabilityBoundingSet=",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=",
        ),
        systemctl("daemon-reload"),
    )


def plant_group_writable_config(s: Server):
    os.chmod(s.config, 0o664)
    return lambda: os.chmod(s.config, 0o644)


def plant_world_readable_key(s: Server):
    os.chmod(s.key, 0o604)
    return lambda: os.chmod(s.key, 0o600)


def plant_unopenable_secrets(s: Server):
    from syncd.secrets import seal_value
    from syncd.secrets.format import new_file
    from syncd.secrets.keys import generate_key_file

    other = generate_key_file(s.base / f"other-{time.monotonic_ns()}.key")
    f = new_file("prod.env.enc", "prod", [other])
    seal_value(f, "PASSWORD", "x")
    (s.tree / "prod.env.enc").write_bytes(f.to_bytes())
    owner = __import__("pwd").getpwnam(s.name)
    git(s.tree, "add", "prod.env.enc", user=owner)
    git(s.tree, "commit", "--quiet", "-m", "secrets", user=owner)
    saved = s.config.read_bytes()
    replace_in(s.config, "[env]\n", '[env]\nsecrets = ["prod.env.enc"]\n')

    def fix():
        s.config.write_bytes(saved)
        git(s.tree, "reset", "--quiet", "--hard", "HEAD~1", user=owner)

    return fix


def plant_unit_that_does_not_load(s: Server):
    # Paused: under load the daemon's next poll could land while the unit is broken and record an
    # error that the final all-clear would then report.
    s.syncd("pause")
    saved = s.unit_file.read_text()
    s.unit_file.write_text(saved + "[Service]\nExecStart=\n")  # no ExecStart= left: systemd refuses it
    systemctl("daemon-reload")
    return lambda: (s.unit_file.write_text(saved), systemctl("daemon-reload"), s.syncd("resume"))


@pytest.mark.parametrize(
    "plant,check,fix_words",
    [
        (plant_root_file, "tree-owner", "chown -R"),
        (plant_relative_exec, "exec-paths", "absolute path"),
        (plant_no_capability, "privileged-port", "AmbientCapabilities=CAP_NET_BIND_SERVICE"),
        (plant_group_writable_config, "trusted-files", "chmod go-w"),
        (plant_world_readable_key, "trusted-files", "chmod 600"),
        (plant_unopenable_secrets, "secrets-key", "syncd secrets recipients"),
        (plant_unit_that_does_not_load, "unit-loads", "systemd-analyze verify"),
    ],
)
def test_doctor_reports_each_planted_problem_with_its_fix(server, plant, check, fix_words):
    server.syncd("pause")  # a sync meanwhile would record the planted problem as its last result
    undo = plant(server)
    try:
        code, results = server.doctor()
        assert code == 1 and not results[check]["ok"], results[check]
        assert fix_words in results[check]["fix"], results[check]
    finally:
        undo()
        server.syncd("resume")
    code, results = server.doctor()
    assert code == 0, {k: v for k, v in results.items() if not v["ok"]}


def test_changed_answers_update_syncds_files_but_an_edit_needs_force(server):
    old_port = server.port
    server.port = free_privileged_port()
    (server.unit_file).write_text(server.unit_file.read_text() + "# my note\n")
    before = server.unit_file.read_text()
    proc = server.install(check=1)
    assert (
        "a person edited it" in proc.stdout and "--force" in proc.stdout and "+# my note" not in proc.stdout
    )
    assert "nothing was changed" in proc.stdout and server.unit_file.read_text() == before
    dry = server.install("--dry-run", check=1)
    assert (
        f'+tcp = "127.0.0.1:{server.port}"' in dry.stdout
    )  # the config: syncd's own, updated without --force
    proc = server.install("--force")
    assert "kept the edited version as" in proc.stdout
    assert "# my note" not in server.unit_file.read_text()
    assert load_config(server.config).health.tcp == f"127.0.0.1:{server.port}"
    server.port = old_port


def test_a_repository_only_root_can_read(user_manager, workdir):
    """--repo in root's 0700 home: the service user cannot clone it; root copies it into --push-repo."""
    s = Server(workdir, user_manager, suffix="r")
    s.cleanup()
    private = workdir / "root-only"
    private.mkdir(mode=0o700)
    s.src = private / "src"
    s.src.mkdir()
    git(s.src, "init", "--quiet", "--initial-branch=master")
    (s.src / "VERSION").write_text("v1\n")
    git(s.src, "add", "-A")
    git(s.src, "commit", "--quiet", "-m", "v1")
    base = [
        PYTHON,
        "-m",
        "syncd",
        "install",
        s.name,
        "--repo",
        str(s.src),
        "--dir",
        str(s.tree),
        "--scope",
        "user",
        "--exec",
        "/bin/sleep infinity",
    ]
    try:
        container_dropins(s)
        proc = subprocess.run(base, capture_output=True, text=True)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "error: working tree" in proc.stdout and "give --push-repo" in proc.stdout
        proc = subprocess.run(base + ["--push-repo", str(s.push)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"fetch every branch of {s.src} into it, as root" in proc.stdout
        assert (s.tree / "VERSION").read_text() == "v1\n"
        assert s.tree.stat().st_uid == pwd_uid(s.name)
    finally:
        s.cleanup()
