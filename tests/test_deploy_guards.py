"""Guards around a deploy: signatures, the per-config lock, the status contract."""

from __future__ import annotations

import fcntl
import os
import subprocess

from helpers import git


def make_signing_key(base):
    key = base / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dev", "-f", str(key)], check=True)
    allowed = base / "allowed_signers"
    allowed.write_text(f"dev@example.org {(base / 'signing_key.pub').read_text()}")
    os.chmod(allowed, 0o644)
    return key, allowed


def test_ssh_signatures_required(deployment):
    d = deployment()
    key, allowed = make_signing_key(d.base)
    text = d.config.read_text().replace(
        "[repo]\n", f'[repo]\nverify = "ssh"\nallowed_signers = "{allowed}"\n'
    )
    d.config.write_text(text)
    d.sync()
    before = d.head()
    d.commit({"VERSION": "v2\n"}, "unsigned")
    out = d.sync(check=3)
    assert "signature" in out.stdout
    assert d.head() == before
    git(d.dev, "config", "gpg.format", "ssh")
    git(d.dev, "config", "user.signingkey", str(key))
    (d.dev / "VERSION").write_text("v3\n")
    git(d.dev, "commit", "--quiet", "-S", "-am", "signed but on top of an unsigned one")
    git(d.dev, "push", "--quiet", "origin", "HEAD:master")
    out = d.sync(check=3)  # the unsigned commit below is still in the new range
    assert "signature" in out.stdout
    git(d.dev, "reset", "--quiet", "--hard", before)
    (d.dev / "VERSION").write_text("v4\n")
    git(d.dev, "commit", "--quiet", "-S", "-am", "signed")
    git(d.dev, "push", "--quiet", "--force", "origin", "HEAD:master")
    text = d.config.read_text().replace("[repo]\n", "[repo]\nallow_force_push = true\n")
    d.config.write_text(text)
    d.sync()
    assert (d.tree / "VERSION").read_text() == "v4\n"


def test_second_sync_reports_busy_with_no_wait(deployment):
    d = deployment()
    d.sync()
    lock = d.state / "syncd" / "lock"
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        out = d.syncd("sync", "--no-wait", check=3)
        assert "another sync" in out.stdout + out.stderr
    finally:
        os.close(fd)
    d.sync()


def test_status_and_history_json_contract(deployment):
    d = deployment()
    st = d.status()
    for key in ("deployed", "upstream", "result", "reason", "last_sync", "paused", "quarantined"):
        assert key in st
    assert st["deployed"] is None and st["result"] is None and st["paused"] is False
    d.sync()
    d.commit({"VERSION": "v2\n"})
    d.sync()
    st = d.status()
    assert st["result"] == "deployed" and st["deployed"] == d.head() and isinstance(st["quarantined"], list)
    import json

    history = json.loads(d.syncd("history", "--json", "-n", "1", check=0).stdout)
    assert len(history) == 1
    assert {"time", "from", "to", "result", "reason", "duration_s"} <= set(history[0])
    assert history[0]["to"] == d.head()
    d.syncd("pause", check=0)
    assert d.status()["paused"] is True
    d.syncd("resume", check=0)
    assert d.status()["paused"] is False


def test_fetch_from_a_local_origin_owned_by_root(deployment):
    """git refuses a repository owned by someone else; syncd trusts the configured local origin."""
    d = deployment()
    subprocess.run(["chown", "-R", "root:root", str(d.origin)], check=True)
    d.sync()
    sha = d.commit({"VERSION": "v2\n"})
    d.sync()
    assert d.head() == sha
    assert os.stat(d.tree / ".git" / "FETCH_HEAD").st_uid == d.user.pw_uid  # still fetched as the owner


def test_tree_owned_by_someone_else_is_blocked_with_the_fix(deployment):
    d = deployment()
    subprocess.run(["chown", "-R", "root:root", str(d.tree)], check=True)
    d.commit({"VERSION": "v2\n"})
    out = d.sync(check=3)
    assert "owned by root" in out.stdout and "chown -R" in out.stdout
    assert (d.tree / "VERSION").read_text() == "v1\n"
