"""Shared fixtures: a real systemd user manager, real git repositories, a real system user."""

from __future__ import annotations

import os
import pwd
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import Deployment
from syncd.tools.usermanager import start_private

TEST_USER = os.environ.get("SYNCD_TEST_USER", "syncd-test")


def pytest_collection_modifyitems(items):
    """Mark each test by the kind it is (by folder), so `pytest -m unit` or `-m "not booted"` picks."""
    for item in items:
        path = str(item.fspath)
        if "/tests/unit/" in path:
            item.add_marker(pytest.mark.unit)
        elif "/tests/booted/" not in path:
            item.add_marker(pytest.mark.system)


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
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                "--home-dir",
                "/nonexistent",
                "--no-create-home",
                TEST_USER,
            ],
            check=True,
        )
        return pwd.getpwnam(TEST_USER)


@pytest.fixture
def workdir():
    """A scratch dir the service user can traverse (pytest's tmp_path parents are 0700)."""
    import shutil

    path = Path(tempfile.mkdtemp(prefix="syncd-t-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def deployment(user_manager, service_user, workdir):
    """Factory: deployment(local_branch=None, extra_config="") -> Deployment (cleaned up after)."""
    made = []

    def make(**kw):
        d = Deployment(workdir / f"d{len(made)}", service_user, **kw)
        made.append(d)
        return d

    for sub in range(4):
        (workdir / f"d{sub}").mkdir()
    yield make
    for d in made:
        d.close()
