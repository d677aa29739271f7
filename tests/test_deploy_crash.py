"""A syncd killed with SIGKILL at several points of a deploy finishes or undoes it on its next start."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from helpers import PYTHON, git, wait_for, wait_version


def start_sync(d):
    return subprocess.Popen(
        [PYTHON, "-m", "syncd", "--config", str(d.config), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def journal(d):
    path = d.state / "syncd" / "journal.json"
    return json.loads(path.read_text()) if path.exists() else None


def killed_while_a_hook_runs(d) -> str:
    """Deploy v2 and SIGKILL the `syncd sync` while its pre_restart hook runs; return the HEAD before."""
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
    return before


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
    before = killed_while_a_hook_runs(d)
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


def test_git_killed_with_syncd_leaves_locks_that_recovery_clears(deployment):
    """systemd kills the whole cgroup with syncd: a git killed mid-write leaves its .lock files.

    The next start must still undo the interrupted deploy and deploy again, not stop at
    "Unable to create '.git/index.lock': File exists".
    """
    d = deployment(local_branch="local")
    before = killed_while_a_hook_runs(d)
    # What a git killed in `reset --hard` / `update-ref` leaves, owned by the tree's owner.
    owner = (d.tree / ".git").stat()
    for name in ("index.lock", "HEAD.lock", "refs/heads/local.lock"):
        lock = d.tree / ".git" / name
        lock.write_text("")
        os.chown(lock, owner.st_uid, owner.st_gid)
    out = d.sync()
    assert journal(d) is None
    history = json.loads(d.syncd("history", "--json", check=0).stdout)
    assert history[1]["result"] == "rolled-back" and "interrupted" in history[1]["reason"]
    assert history[0]["result"] == "deployed", out.stdout
    assert git(d.tree, "rev-parse", "HEAD^1") == before
    assert not list((d.tree / ".git").rglob("*.lock"))
    wait_version(d, "v2")


def test_a_lock_of_a_git_still_running_is_left_alone(deployment):
    """A lock held by a live git (an operator's, say) is not syncd's to remove: blocked, untouched."""
    d = deployment()
    d.sync()
    d.commit({"VERSION": "v2\n"})
    lock = d.tree / ".git" / "index.lock"
    lock.write_text("")
    # A git that is still running in the tree (its cwd), as an operator's `git commit` would be.
    holder = subprocess.Popen(
        ["/bin/bash", "-c", "exec -a git sleep 60"], cwd=d.tree, stdin=subprocess.DEVNULL
    )
    try:
        out = d.sync(check=None)
        assert out.returncode != 0
        assert lock.exists()
        assert "index.lock" in out.stdout + out.stderr
    finally:
        holder.kill()
        holder.wait()


def test_recovery_leaves_the_lock_of_a_live_git_of_the_owner(tmp_path, service_user):
    """The owner's own git still running in the tree (e.g. a killed syncd's git finishing) keeps its lock."""
    from syncd.runas import identity_for
    from syncd.tools.git import Git

    tree = tmp_path / "tree"
    tree.mkdir()
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    (tree / ".git" / "index.lock").write_text("")
    uid, gid = service_user.pw_uid, service_user.pw_gid
    for path in [tree, *tree.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(tmp_path, 0o755)
    owner = identity_for(uid, gid)
    holder = subprocess.Popen(
        ["/bin/bash", "-c", "exec -a git sleep 60"], cwd=tree, user=uid, group=gid, stdin=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: Git(tree, owner).running_here() == [holder.pid], what="the owner's git to be seen")
        assert Git(tree, owner).remove_stale_locks() == []
        assert (tree / ".git" / "index.lock").exists()
    finally:
        holder.kill()
        holder.wait()
    assert Git(tree, owner).remove_stale_locks() == [".git/index.lock"]
    assert not (tree / ".git" / "index.lock").exists()
