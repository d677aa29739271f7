"""[python]: one environment per release, built with uv as the owner, switched and switched back.

Offline: the packages are small wheels built here and referenced by file URL (`--no-index`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

from helpers import PYTHON, git, systemctl

PKG = "syncdtestpkg"

APP = """\
import json, os, sys, time
import syncdtestpkg
out = os.environ["APP_REPORT"]
report = {"version": open("VERSION").read().strip(), "pid": os.getpid(), "pkg": syncdtestpkg.VERSION,
          "prefix": sys.prefix}
with open(out + ".tmp", "w") as f:
    json.dump(report, f)
os.replace(out + ".tmp", out)
while True:
    time.sleep(3600)
"""


def build_wheel(directory: Path, version: str, broken: bool = False) -> Path:
    """A pure-Python wheel of syncdtestpkg; a broken one fails at import, as nibabel 3.2.2 does on NumPy 2."""
    dist = f"{PKG}-{version}.dist-info"
    init = (
        'raise ImportError("np.sctypes was removed in the NumPy 2.0 release")\n'
        if broken
        else f'VERSION = "{version}"\n'
    )
    files = {
        f"{PKG}/__init__.py": init,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {PKG}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: syncd-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    path = directory / f"{PKG}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
        whl.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


def requirements(wheel: Path) -> str:
    return f"--no-index\n{PKG} @ {wheel.as_uri()}\n"


class PythonApp:
    """A deployment whose unit runs venv/bin/python, with wheels to pin in requirements.txt."""

    def __init__(self, d, keep: int | None = None):
        self.d = d
        self.wheels = d.base / "wheels"
        self.wheels.mkdir()
        self.envs = d.tree.with_name("tree.envs")
        self.venv = d.tree / "venv"
        self.python_config = '\n[python]\nrequirements = "requirements.txt"\n' + (
            f"keep = {keep}\n" if keep is not None else ""
        )
        # Many restarts in a few seconds are the point of these tests, not a crash loop.
        unit = d.unit_file.read_text().replace(f"ExecStart={PYTHON} ", f"ExecStart={d.tree}/venv/bin/python ")
        d.unit_file.write_text(unit.replace("[Unit]\n", "[Unit]\nStartLimitIntervalSec=0\n"))
        systemctl("daemon-reload")
        d.write_config(self.python_config)

    def wheel(self, version: str, broken: bool = False) -> Path:
        return build_wheel(self.wheels, version, broken)

    def push(self, version: str, broken: bool = False, **files) -> str:
        wheel = self.wheels / f"{PKG}-{version}-py3-none-any.whl"
        if not wheel.exists():
            wheel = self.wheel(version, broken)
        return self.d.commit(
            {"app.py": APP, "requirements.txt": requirements(wheel), **files}, f"pkg {version}"
        )

    def environment(self) -> str:
        target = Path(os.readlink(self.venv))
        assert target.parent == self.envs, target
        return target.name

    def built(self) -> set[str]:
        return {p.name for p in self.envs.iterdir() if not p.name.startswith(".")}

    def wait_pkg(self, version: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        report = None
        while time.monotonic() < deadline:
            try:
                report = json.loads(self.d.report.read_text())
                if report.get("pkg") == version:
                    return report
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"package {version} never ran; last report {report}")


def test_first_build_switches_venv_and_status_names_the_environment(deployment, service_user):
    app = PythonApp(deployment())
    app.push("1.0")
    out = app.d.sync()
    report = app.wait_pkg("1.0")
    name = app.environment()
    assert report["prefix"] == str(app.venv)  # the unit's venv/bin/python runs in the link's environment
    assert app.d.status()["environment"] == name
    assert "python environment" in out.stdout
    env = app.envs / name
    assert env.stat().st_uid == service_user.pw_uid  # built as the owner, never root
    assert (app.envs / ".uv-cache").stat().st_uid == service_user.pw_uid
    assert app.venv.is_symlink() and git(app.d.tree, "status", "--porcelain") == "?? venv"
    # Nothing new: no rebuild, no restart.
    inode = env.stat().st_ino
    assert "up-to-date" in app.d.sync().stdout
    assert env.stat().st_ino == inode and app.wait_pkg("1.0")["pid"] == report["pid"]


def test_bad_dependency_rolls_back_to_old_packages_and_a_revert_reuses_them(deployment):
    app = PythonApp(deployment())
    good = app.push("1.0")
    app.d.sync()
    first = app.wait_pkg("1.0")
    old_env = app.environment()
    (app.wheels / f"{PKG}-1.0-py3-none-any.whl").unlink()  # the index no longer has the old version
    bad = app.push("2.0", broken=True)
    out = app.d.sync(check=1)
    assert "rolled-back" in out.stdout, out.stdout
    assert app.environment() == old_env
    report = app.wait_pkg("1.0")  # the old version runs again, on its own packages
    assert report["pid"] != first["pid"] and report["prefix"] == str(app.venv)
    status = app.d.status()
    assert status["environment"] == old_env and bad in status["quarantined"]
    # A revert of the pin: the same bytes name the same environment, which already runs: no build.
    inode = (app.envs / old_env).stat().st_ino
    git(app.d.dev, "revert", "--no-edit", "HEAD")
    git(app.d.dev, "push", "--quiet", "origin", "HEAD:master")
    app.d.sync()
    assert git(app.d.tree, "rev-parse", "HEAD~2") == good
    assert app.environment() == old_env and app.wait_pkg("1.0")
    # Later, from another release, back to those pins: the kept environment is reused, offline.
    app.push("2.1")
    app.d.sync()
    app.wait_pkg("2.1")
    app.d.commit(
        {"requirements.txt": requirements(app.wheels / f"{PKG}-1.0-py3-none-any.whl")}, "back to 1.0"
    )
    out = app.d.syncd("-v", "sync", check=0)
    assert "reusing python environment" in out.stderr, out.stderr
    assert app.environment() == old_env and app.wait_pkg("1.0")
    assert (app.envs / old_env).stat().st_ino == inode


def test_failing_build_blocks_untouched_and_the_next_trigger_retries(deployment):
    app = PythonApp(deployment())
    app.push("1.0")
    app.d.sync()
    report = app.wait_pkg("1.0")
    head, env, built = app.d.head(), app.environment(), app.built()
    missing = app.wheels / f"{PKG}-3.0-py3-none-any.whl"
    app.d.commit({"requirements.txt": requirements(missing)}, "pin 3.0 (wheel not published yet)")
    out = app.d.sync(check=3)
    assert "blocked" in out.stdout and "uv pip install exited" in out.stdout, out.stdout
    assert f"{PKG}-3.0-py3-none-any.whl" in out.stdout  # the build's own last lines are in the reason
    status = app.d.status()
    assert status["result"] == "blocked" and f"{PKG}-3.0" in status["reason"]
    assert app.d.head() == head and app.environment() == env and app.built() == built
    assert status["quarantined"] == [] and app.wait_pkg("1.0")["pid"] == report["pid"]
    app.wheel("3.0")
    app.d.sync()
    assert app.wait_pkg("3.0")["prefix"] == str(app.venv)


def test_sigkill_between_switch_and_judgement_is_undone_on_next_start(deployment):
    from syncd.config import load_config
    from syncd.deploy import reconcile

    app = PythonApp(deployment())
    app.push("1.0")
    app.d.sync()
    app.wait_pkg("1.0")
    old_env = app.environment()
    app.d.write_config(app.python_config, health='timeout = "60s"\nsettle = "60s"')
    app.push("2.0")
    proc = subprocess.Popen(
        [PYTHON, "-m", "syncd", "--config", str(app.d.config), "sync"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        app.wait_pkg("2.0", timeout=120)  # switched and restarted: now being judged
        journal = json.loads((app.d.state / "syncd" / "journal.json").read_text())
        assert journal["phase"] == "restarting" and journal["venv_previous"] == str(app.envs / old_env)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert app.environment() != old_env
    app.d.write_config(app.python_config)
    outcome = reconcile(load_config(app.d.config), recover_only=True)
    assert outcome.result == "recovered"
    assert app.environment() == old_env
    assert app.wait_pkg("1.0")
    assert app.d.status()["result"] == "rolled-back"


def test_keep_is_honoured_and_rollback_needs_no_network(deployment):
    app = PythonApp(deployment(), keep=1)
    names = []
    for version in ("1.0", "2.0", "3.0", "4.0"):
        app.push(version)
        app.d.sync()
        app.wait_pkg(version)
        names.append(app.environment())
    # keep = 1: the running one and one older; the rest removed.
    assert app.built() == {names[3], names[2]}
    for wheel in app.wheels.iterdir():
        wheel.unlink()
    out = app.d.syncd("rollback", check=0)
    assert "paused" in out.stdout
    assert app.environment() == names[2] and app.wait_pkg("3.0")
    assert app.d.status()["environment"] == names[2]
    assert app.built() == {names[3], names[2]}  # the one rolled back from is the one before it now


def test_a_hand_made_venv_directory_blocks_with_the_way_over(deployment):
    app = PythonApp(deployment())
    (app.venv / "bin").mkdir(parents=True)
    app.push("1.0")
    head = app.d.head()
    out = app.d.sync(check=3)
    assert "not the symlink [python] manages" in out.stdout and "venv.handmade" in out.stdout, out.stdout
    assert app.d.head() == head and app.venv.is_dir() and not app.venv.is_symlink()
    # Moved over as docs/python.md says: the next sync deploys, and the link it replaced is recorded.
    os.rename(app.venv, app.d.tree / "venv.handmade")
    os.symlink("venv.handmade", app.venv)
    app.d.sync()
    assert app.wait_pkg("1.0") and app.d.status()["environment"] == app.environment()


def test_pip_index_settings_map_to_uv(tmp_path, service_user):
    from syncd.tools.uv import pip_index_settings

    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nindex-url = https://mirror.example.org/simple\ntimeout = 30\n"
        "[install]\nextra-index-url = https://a.example.org/simple https://b.example.org/simple\n"
        "trusted-host = a.example.org\n"
    )
    home = tmp_path / "home"
    (home / ".config/pip").mkdir(parents=True)
    (home / ".config/pip/pip.conf").symlink_to(conf)  # a link in the owner's home is not followed
    environ = {
        "PIP_CONFIG_FILE": str(conf),
        "PIP_FIND_LINKS": "/srv/wheels",
        "PIP_NO_INDEX": "1",
        "PIP_CERT": "/etc/ssl/certs/ca.pem",
        "PIP_DEFAULT_TIMEOUT": "60",
    }
    s = pip_index_settings(str(home), service_user.pw_uid, environ)
    assert s.args == [
        "--default-index",
        "https://mirror.example.org/simple",
        "--index",
        "https://a.example.org/simple",
        "--index",
        "https://b.example.org/simple",
        "--find-links",
        "/srv/wheels",
        "--no-index",
        "--allow-insecure-host",
        "a.example.org",
    ]
    assert s.env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca.pem" and s.env["UV_HTTP_TIMEOUT"] == "60"
    assert pip_index_settings(str(home), service_user.pw_uid, {}).args == []


def test_compile_bytecode_writes_pyc_at_build_time(workdir, service_user):
    from syncd.config import load_config
    from syncd.environments import Environments, env_name
    from syncd.tools.git import identity_for

    tree = workdir / "tree"
    tree.mkdir()
    wheel = build_wheel(workdir, "1.0")
    subprocess.run(["chown", "-R", f"{service_user.pw_uid}:{service_user.pw_gid}", str(workdir)], check=True)
    made = {}
    for flag in ("false", "true"):
        config = workdir / f"{flag}.toml"
        config.write_text(
            f'[repo]\npath = "{tree}"\n[service]\nunit = "x.service"\nowner = "{service_user.pw_name}"\n'
            f'[python]\nrequirements = "r.txt"\ncompile_bytecode = {flag}\n'
        )
        cfg = load_config(config)
        text = requirements(wheel) + f"# {flag}\n"
        name = env_name(text.encode(), cfg.python.python)
        assert Environments(
            cfg.python, tree, identity_for(service_user.pw_uid, service_user.pw_gid)
        ).ensure_built(name, text.encode())
        made[flag] = list(
            (workdir / "tree.envs" / name).glob(f"lib/python*/site-packages/{PKG}/__pycache__/*.pyc")
        )
    assert made == {"false": [], "true": made["true"]} and made["true"]


def test_an_environment_built_at_install_is_adopted_by_the_first_sync(deployment, service_user):
    """`syncd install` builds HEAD's environment and links `venv`; the first sync then has nothing to do."""
    from syncd.config import PythonConfig
    from syncd.environments import build_for_commit
    from syncd.tools.git import identity_for

    app = PythonApp(deployment())
    app.push("1.0")
    git(app.d.tree, "pull", "--quiet", "--ff-only", user=service_user)
    name = build_for_commit(
        app.d.tree,
        PythonConfig(requirements="requirements.txt"),
        identity_for(service_user.pw_uid, service_user.pw_gid),
    )
    assert app.environment() == name
    systemctl("restart", app.d.unit)
    pid = app.wait_pkg("1.0")["pid"]
    out = app.d.sync()
    assert "up-to-date" in out.stdout, out.stdout
    assert app.d.status()["environment"] == name and app.wait_pkg("1.0")["pid"] == pid
