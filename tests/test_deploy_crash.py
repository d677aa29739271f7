"""A syncd killed with SIGKILL at several points of a deploy finishes or undoes it on its next start."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from helpers import PYTHON, git
from test_deploy import wait_version


def start_sync(d):
    return subprocess.Popen(
        [PYTHON, "-m", "syncd", "--config", str(d.config), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def journal(d):
    path = d.state / "syncd" / "journal.json"
    return json.loads(path.read_text()) if path.exists() else None


@pytest.mark.parametrize("point", ["during-hook", "during-judge"])
def test_sigkill_mid_deploy_is_undone_then_redeployed(deployment, point):
    d = deployment(local_branch="local")
    slow = d.base / "slow"
    hook = f'[hooks]\npre_restart = [["/bin/sh", "-c", "while [ -e {slow} ]; do sleep 0.05; done"]]\n'
    settle = '"30s"' if point == "during-judge" else '"0.5s"'
    d.write_config('\n[env.vars]\nSTAGE = "one"\n' + hook, health=f'timeout = "40s"\nsettle = {settle}')
    d.sync()
    before = d.head()
    dropin_before = d.dropin_bytes()
    d.commit({"VERSION": "v2\n"})
    d.write_config('\n[env.vars]\nSTAGE = "two"\n' + hook, health=f'timeout = "40s"\nsettle = {settle}')
    if point == "during-hook":
        slow.touch()
    proc = start_sync(d)
    try:
        if point == "during-hook":
            wait_for(lambda: (journal(d) or {}).get("phase") == "applied", what="hook to start")
        else:
            wait_for(lambda: (journal(d) or {}).get("phase") == "restarting", what="restart")
            wait_version(d, "v2")
        assert d.head() != before  # really mid-deploy: the tree had moved
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert journal(d) is not None
    slow.unlink(missing_ok=True)
    d.write_config('\n[env.vars]\nSTAGE = "two"\n' + hook, health='timeout = "20s"\nsettle = "0.5s"')
    out = d.sync()
    assert journal(d) is None
    history = json.loads(d.syncd("history", "--json", check=0).stdout)
    assert history[1]["result"] == "rolled-back" and "interrupted" in history[1]["reason"]
    assert history[0]["result"] == "deployed"
    assert git(d.tree, "rev-parse", "HEAD^1") == before  # local branch commits kept
    report = wait_version(d, "v2")
    assert report["env"]["STAGE"] == "two"
    assert d.dropin_bytes() != dropin_before
    assert git(d.tree, "status", "--porcelain") == "", out.stdout


def test_sigkill_then_undo_restores_previous_bytes(deployment):
    """Recovery alone (the next deploy is then blocked by a dirty tree) leaves the old state exactly."""
    d = deployment()
    slow = d.base / "slow"
    hook = f'[hooks]\npre_restart = [["/bin/sh", "-c", "while [ -e {slow} ]; do sleep 0.05; done"]]\n'
    d.write_config('\n[env.vars]\nSTAGE = "one"\n' + hook)
    d.sync()
    before, dropin_before = d.head(), d.dropin_bytes()
    pid = d.show("MainPID")["MainPID"]
    d.commit({"VERSION": "v2\n"})
    d.write_config('\n[env.vars]\nSTAGE = "two"\n' + hook)
    slow.touch()
    proc = start_sync(d)
    wait_for(lambda: (journal(d) or {}).get("phase") == "applied", what="hook to start")
    assert d.dropin_bytes() != dropin_before
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    slow.unlink()
    # An uncommitted edit (of a file the deploy did not touch) blocks the deploy after the recovery.
    (d.tree / "app.py").write_text((d.tree / "app.py").read_text() + "# edited on the server\n")
    d.write_config('\n[env.vars]\nSTAGE = "one"\n' + hook)
    out = d.sync(check=3)
    assert "uncommitted" in out.stdout
    assert journal(d) is None
    assert d.head() == before
    assert d.dropin_bytes() == dropin_before
    assert git(d.tree, "status", "--porcelain") == "M app.py"
    # Killed before the restart: the service was never restarted, by the deploy or the undo.
    assert d.show("MainPID")["MainPID"] == pid
    history = json.loads(d.syncd("history", "--json", check=0).stdout)
    assert any(h.get("trigger") == "recovery" and h["to"] == before for h in history)


def test_recover_only_undoes_without_deploying(deployment):
    from syncd.config import load_config
    from syncd.deploy import reconcile

    d = deployment()
    slow = d.base / "slow"
    hook = f'[hooks]\npre_restart = [["/bin/sh", "-c", "while [ -e {slow} ]; do sleep 0.05; done"]]\n'
    d.write_config(hook)
    d.sync()
    before = d.head()
    d.commit({"VERSION": "v2\n"})
    slow.touch()
    proc = start_sync(d)
    wait_for(lambda: (journal(d) or {}).get("phase") == "applied", what="hook to start")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    slow.unlink()
    outcome = reconcile(load_config(d.config), recover_only=True)
    assert outcome.result == "recovered"
    assert journal(d) is None and d.head() == before
    assert d.status()["result"] == "rolled-back"


def test_chatty_hook_does_not_block(deployment):
    d = deployment()
    d.write_config(
        '[hooks]\npre_restart = [["/bin/sh", "-c", "head -c 1000000 /dev/zero | tr \\"\\\\0\\" x"]]\n'
    )
    d.commit({"VERSION": "v2\n"})
    d.sync()
    assert wait_version(d, "v2")
