"""Helpers the tests share: git as a developer runs it, systemctl --user, and a whole Deployment.

Import them from here (`from helpers import git`); fixtures stay in conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_DEV_GITCONFIG = Path(tempfile.mkdtemp(prefix="syncd-devgit-")) / "gitconfig"
# The developer (root in tests) pushes into a bare repo owned by the service user, as on a server.
_DEV_GITCONFIG.write_text("[safe]\n\tdirectory = *\n[init]\n\tdefaultBranch = master\n")


def git(cwd, *args, user=None, check=True):
    """Run git in tests as a developer would: fixed identity, no global config of the machine."""
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="Dev",
        GIT_AUTHOR_EMAIL="dev@example.org",
        GIT_COMMITTER_NAME="Dev",
        GIT_COMMITTER_EMAIL="dev@example.org",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(_DEV_GITCONFIG),
        HOME=str(cwd),
    )
    kw = {}
    if user is not None:
        kw = {"user": user.pw_uid, "group": user.pw_gid}
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=cwd, env=env, capture_output=True, text=True, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


PYTHON = sys.executable


# -- a whole deployment: bare origin, developer clone, server tree, a real unit, a config -------

APP = """\
import json, os, sys, time
version = open("VERSION").read().strip()
if version.startswith("broken"):
    sys.exit("broken version " + version)
out = os.environ.get("APP_REPORT")
report = {"version": version, "pid": os.getpid(), "env": dict(os.environ)}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(report, f)
os.replace(tmp, out)
while True:
    time.sleep(3600)
"""


class Deployment:
    """A pipeline repo deployed with syncd: push with .commit(), sync with .sync()."""

    _count = 0

    def __init__(
        self,
        base: Path,
        user,
        local_branch: str | None = None,
        extra_config: str = "",
        health: str = 'timeout = "10s"\nsettle = "0.5s"',
    ):
        Deployment._count += 1
        self.base = base
        self.user = user
        self.unit = f"pipeline-t{os.getpid()}-{Deployment._count}.service"
        self.origin = base / "origin.git"
        self.dev = base / "dev"
        self.tree = base / "tree"
        self.state = base / "state"
        self.report = base / "report.json"
        self.config = base / "syncd.toml"
        self.local_branch = local_branch
        git(base, "init", "--quiet", "--bare", "--initial-branch=master", str(self.origin))
        git(base, "clone", "--quiet", str(self.origin), str(self.dev))
        git(self.dev, "checkout", "--quiet", "-b", "master")
        (self.dev / "app.py").write_text(APP)
        (self.dev / "VERSION").write_text("v1\n")
        git(self.dev, "add", "-A")
        git(self.dev, "commit", "--quiet", "-m", "v1")
        git(self.dev, "push", "--quiet", "origin", "master")
        git(base, "clone", "--quiet", str(self.origin), str(self.tree))
        if local_branch:
            git(self.tree, "checkout", "--quiet", "-b", local_branch)
        subprocess.run(
            ["chown", "-R", f"{user.pw_name}:{user.pw_name}", str(self.tree), str(self.origin)], check=True
        )
        unit_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"
        self.unit_file = unit_dir / self.unit
        self.dropin = unit_dir / f"{self.unit}.d" / "50-syncd.conf"
        self.unit_file.write_text(
            "[Unit]\nDescription=test pipeline\n\n[Service]\n"
            f"ExecStart={PYTHON} {self.tree}/app.py\nWorkingDirectory={self.tree}\n"
            f"Environment=APP_REPORT={self.report}\nRestart=on-failure\nRestartSec=0.2\n"
        )
        systemctl("daemon-reload")
        systemctl("start", self.unit)
        self.write_config(extra_config, health)

    def write_config(self, extra: str = "", health: str = 'timeout = "10s"\nsettle = "0.5s"') -> None:
        local = f'local_branch = "{self.local_branch}"\n' if self.local_branch else ""
        self.config.write_text(
            f'[repo]\npath = "{self.tree}"\n{local}\n'
            f'[service]\nunit = "{self.unit}"\nscope = "user"\nowner = "{self.user.pw_name}:{self.user.pw_name}"\n\n'
            f'[health]\n{health}\n\n[state]\ndir = "{self.state}"\n' + extra
        )

    def commit(self, files: dict[str, str], message: str = "change", push: bool = True) -> str:
        for name, text in files.items():
            path = self.dev / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.dev, "add", "-A")
        git(self.dev, "commit", "--quiet", "-m", message)
        if push:
            git(self.dev, "push", "--quiet", "origin", "HEAD:master")
        return git(self.dev, "rev-parse", "HEAD")

    def syncd(self, *args: str, check: int | None = None, env: dict | None = None):
        proc = subprocess.run(
            [PYTHON, "-m", "syncd", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            env=dict(os.environ, **(env or {})),
            timeout=300,
        )
        if check is not None:
            assert proc.returncode == check, (
                f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def sync(self, check: int | None = 0, *extra: str):
        return self.syncd("sync", *extra, check=check)

    def status(self) -> dict:
        import json

        return json.loads(self.syncd("status", "--json", check=0).stdout)

    def running(self) -> dict:
        import json

        return json.loads(self.report.read_text())

    def show(self, *props: str) -> dict:
        out = systemctl("show", self.unit, *[f"-p{p}" for p in props]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def dropin_bytes(self) -> bytes | None:
        """syncd's drop-in, or None: with no environment configured none is needed."""
        return self.dropin.read_bytes() if self.dropin.exists() else None

    def head(self) -> str:
        return git(self.tree, "rev-parse", "HEAD")

    def close(self) -> None:
        systemctl("stop", self.unit, check=False)
        self.unit_file.unlink(missing_ok=True)
        import shutil

        shutil.rmtree(self.dropin.parent, ignore_errors=True)
        systemctl("daemon-reload", check=False)


def systemctl(*args: str, check: bool = True):
    proc = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"systemctl {' '.join(args)}: {proc.stderr}")
    return proc


def wait_for(predicate, timeout=20.0, what="condition", every=0.1):
    """Wait for a condition, not for a time: return predicate()'s first true value (a file being
    written meanwhile reads as not yet), or fail naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (FileNotFoundError, ValueError, KeyError):
            last = None
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def wait_version(d, version, timeout=10):
    """Wait until the deployment's app reports `version` running; return its report."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if d.running()["version"] == version:
                return d.running()
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(
        f"version {version} never ran; report: {d.report.read_text() if d.report.exists() else None}"
    )
