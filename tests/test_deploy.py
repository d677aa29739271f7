"""The core deploy against a real systemd user manager, real git and a real service user."""

from __future__ import annotations

import time

from conftest import git


def wait_version(d, version, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if d.running()["version"] == version:
                return d.running()
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"version {version} never ran; report: {d.report.read_text() if d.report.exists() else None}")


def test_first_sync_adopts_then_deploys_a_push(deployment):
    d = deployment()
    wait_version(d, "v1")
    out = d.sync()
    st = d.status()
    assert st["deployed"] == d.head()
    assert st["result"] in ("deployed", "up-to-date")
    sha = d.commit({"VERSION": "v2\n"})
    out = d.sync()
    assert "deployed" in out.stdout
    assert d.head() == sha
    assert wait_version(d, "v2")
    st = d.status()
    assert (st["deployed"], st["upstream"], st["result"]) == (sha, sha, "deployed")
    assert d.dropin.exists()


def test_up_to_date_does_not_restart(deployment):
    d = deployment()
    d.sync()
    pid = d.show("MainPID")["MainPID"]
    out = d.sync()
    assert "up-to-date" in out.stdout
    assert d.show("MainPID")["MainPID"] == pid
    assert d.status()["result"] == "up-to-date"
