"""Shared fixtures: a real systemd user manager, real git repositories, a real system user."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from syncd.tools.usermanager import start_private

TEST_USER = os.environ.get("SYNCD_TEST_USER", "syncd-test")


@pytest.fixture(scope="session")
def user_manager():
    """A private `systemd --user`, its XDG dirs exported to this process and its children."""
    base = Path(tempfile.mkdtemp(prefix="syncd-sd-"))
    os.chmod(base, 0o755)
    manager = start_private(base)
    saved = {k: os.environ.get(k) for k in manager.env}
    os.environ.update(manager.env)
    yield manager
    manager.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def service_user():
    """A real system user for chown and run-as-owner tests (.ci/run creates it)."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        if os.geteuid() != 0:
            pytest.fail(f"system user {TEST_USER!r} missing and not root to create it")
        subprocess.run(["useradd", "--system", "--user-group", "--shell", "/usr/sbin/nologin",
                        "--home-dir", "/nonexistent", "--no-create-home", TEST_USER], check=True)
        return pwd.getpwnam(TEST_USER)


def git(cwd, *args, user=None, check=True):
    """Run git in tests with a fixed identity (no global config needed)."""
    env = dict(os.environ, GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.org",
               GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.org",
               GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd))
    kw = {}
    if user is not None:
        kw = {"user": user.pw_uid, "group": user.pw_gid}
    proc = subprocess.run(["git", "-c", "safe.directory=*", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


PYTHON = sys.executable
