"""The pipeline user is not trusted (issue 10, docs/security.md).

Each test acts as the attacker would: as the service user (`syncd-test`, who owns the tree), with
nothing but its own rights, through the tree and whatever else it can write. Each was seen failing
on the code before the guard it tests.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import PYTHON, git

ROOT_ONLY_SECRET = "SYNCD-SECRET-KEY-1:s3cr3t-k3y-m4t3ri4l-that-must-never-leak"


def as_pipeline(user, *argv: str, input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command as the (compromised) service user, with its uid, gid and groups only."""
    proc = subprocess.run(list(argv), user=user.pw_uid, group=user.pw_gid, extra_groups=[user.pw_gid],
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}, capture_output=True, text=True,
                          input=input, timeout=60)
    return proc


def everything_published(d) -> str:
    """What syncd shows other users: status, history (and so the daemon's STATUS= line)."""
    status = d.syncd("status", "--json")
    history = d.syncd("history", "--json")
    state = "".join(p.read_text(errors="replace") for p in (d.state / "syncd").glob("*.json"))
    return status.stdout + status.stderr + history.stdout + history.stderr + state


def root_only_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


# -- finding 1: root follows a symlink the pipeline user planted in the tree -------------------------

def test_f1_symlinked_env_file_does_not_leak_the_private_key(deployment, service_user):
    d = deployment()
    key = root_only_file(d.base / "keys" / "production.key", f"# key\n{ROOT_ONLY_SECRET}\n")
    os.chmod(key.parent, 0o700)
    d.write_config('\n[env]\nfiles = ["local.env"]\n')
    as_pipeline(service_user, "sh", "-c", f"echo LOG_LEVEL=info > {d.tree}/local.env")
    d.sync()
    # The attacker swaps its untracked env file for a link to the key.
    assert as_pipeline(service_user, "ln", "-sf", str(key), str(d.tree / "local.env")).returncode == 0
    out = d.sync(check=3)
    seen = out.stdout + out.stderr + everything_published(d)
    assert "s3cr3t" not in seen
    assert "symbolic link" in out.stdout


def test_f1_symlinked_parent_dir_does_not_leak_a_root_only_dotenv(deployment, service_user):
    d = deployment()
    root_only_file(d.base / "root-only" / "app.env", "DB_PASSWORD=hunter2-root-only\n")
    os.chmod(d.base / "root-only", 0o700)
    d.write_config('\n[env]\nfiles = ["conf/app.env"]\n')
    as_pipeline(service_user, "sh", "-c", f"mkdir {d.tree}/conf && echo A=1 > {d.tree}/conf/app.env")
    d.sync()
    as_pipeline(service_user, "sh", "-c", f"rm -r {d.tree}/conf && ln -s {d.base}/root-only {d.tree}/conf")
    out = d.sync(check=3)
    assert "symbolic link" in out.stdout
    dropin = d.dropin_bytes() or b""
    assert b"hunter2" not in dropin
    assert "hunter2" not in out.stdout + out.stderr + everything_published(d)


# -- finding 2: a state directory the pipeline user can write ----------------------------------------

EVIL_DROPIN = "[Service]\nExecStartPre=+/bin/sh -c 'id -u > {proof}'\n"


def forge_journal(d, user, script: str, proof: Path) -> None:
    """As the pipeline user: replace the per-config state with one whose 'interrupted deploy' undo
    installs a drop-in of the attacker's choice (ExecStartPre=+ runs with full privileges).
    `script` makes the new per-config directory and leaves the shell in it."""
    entry = {"previous": d.head(), "target": None, "branch": "master", "upstream": None, "trigger": "cli",
             "started": "2026-01-01T00:00:00+00:00", "dropin_path": str(d.dropin),
             "dropin_previous_b64": base64.b64encode(EVIL_DROPIN.format(proof=proof).encode()).decode(),
             "dropin_previous_existed": True, "dropin_previous_had_secrets": False, "phase": "restarting"}
    proc = as_pipeline(user, "sh", "-c", f"set -e; {script}; cat > journal.json", input=json.dumps(entry))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("writable", ["state.dir", "parent of state.dir"])
def test_f2_forged_journal_in_a_writable_state_dir_is_refused(deployment, service_user, writable):
    d = deployment()
    if writable == "parent of state.dir":
        parent = d.base / "var"
        parent.mkdir()
        d.state = parent / "state"
    d.write_config('\n[env.vars]\nA = "1"\n')
    d.sync()
    proof = d.base / "proof"
    if writable == "parent of state.dir":
        os.chown(parent, service_user.pw_uid, service_user.pw_gid)  # the operator's mistake
    if writable == "state.dir":
        os.chown(d.state, service_user.pw_uid, service_user.pw_gid)  # the operator's mistake
        forge_journal(d, service_user, f"cd {d.state}; mv syncd syncd.old; mkdir syncd; cd syncd", proof)
    else:  # owning the parent, the attacker moves the state aside and makes its own
        forge_journal(d, service_user, f"cd {parent}; mv state state.old; mkdir -p state/syncd; cd state/syncd",
                      proof)
    out = d.sync(check=None)
    assert not proof.exists(), f"the forged drop-in ran as uid {proof.read_text().strip()}"
    assert "ExecStartPre" not in (d.dropin_bytes() or b"").decode()
    assert out.returncode == 2, out.stdout + out.stderr
    assert str(d.state) in out.stderr and "chown root" in out.stderr, out.stderr


# -- finding 4: files root trusts that the pipeline user can change ----------------------------------

def _attackers_config(d, user, proof: Path) -> str:
    """The attacker's config: state.dir pointed at a directory it made, holding a forged journal."""
    evil_state = d.base / "attackers-own-dir"  # say, its home directory
    evil_state.mkdir()
    os.chown(evil_state, user.pw_uid, user.pw_gid)
    forge_journal(d, user, f"mkdir {evil_state}/syncd; cd {evil_state}/syncd", proof)
    return d.config.read_text().replace(f'dir = "{d.state}"', f'dir = "{evil_state}"')


@pytest.mark.parametrize("mistake", ["owned by the pipeline user", "group-writable by its group",
                                     "in a directory it owns"])
def test_f4_config_the_pipeline_user_can_change_is_refused(deployment, service_user, mistake):
    d = deployment()
    d.write_config('\n[env.vars]\nA = "1"\n')
    d.sync()
    proof = d.base / "proof"
    evil = _attackers_config(d, service_user, proof)
    if mistake == "in a directory it owns":
        confdir = d.base / "conf"
        confdir.mkdir()
        d.config.rename(confdir / "syncd.toml")
        d.config = confdir / "syncd.toml"
        os.chown(confdir, service_user.pw_uid, service_user.pw_gid)
        proc = as_pipeline(service_user, "sh", "-c", f"cat > {confdir}/new && mv -f {confdir}/new {d.config}",
                           input=evil)
    else:
        if mistake == "owned by the pipeline user":
            os.chown(d.config, service_user.pw_uid, 0)
        else:
            os.chown(d.config, 0, service_user.pw_gid)
            os.chmod(d.config, 0o664)
        proc = as_pipeline(service_user, "sh", "-c", f"cat > {d.config}", input=evil)
    assert proc.returncode == 0, proc.stderr
    out = d.sync(check=None)
    assert not proof.exists(), f"code ran as uid {proof.read_text().strip()} from a config the pipeline user wrote"
    assert out.returncode == 2, out.stdout + out.stderr
    assert str(d.config.parent if mistake == "in a directory it owns" else d.config) in out.stderr
    assert "chown root" in out.stderr or "chmod go-w" in out.stderr, out.stderr


def test_f4_key_the_pipeline_user_can_read_is_refused(deployment, service_user):
    d = deployment()
    key = d.base / "production.key"
    subprocess.run([PYTHON, "-m", "syncd", "secrets", "keygen", "--out", str(key)], check=True,
                   capture_output=True)
    os.chmod(key, 0o644)  # the operator's mistake
    assert "SYNCD-SECRET-KEY-1" in as_pipeline(service_user, "cat", str(key)).stdout  # what the attacker gets
    d.write_config(f'\n[env]\nkey = "{key}"\nvars = {{ A = "1" }}\n')
    out = d.sync(check=2)
    assert str(key) in out.stderr and "chmod 600" in out.stderr, out.stderr
    assert d.dropin_bytes() is None


def test_f4_key_owned_by_the_pipeline_user_is_refused(deployment, service_user):
    d = deployment()
    key = d.base / "production.key"
    subprocess.run([PYTHON, "-m", "syncd", "secrets", "keygen", "--out", str(key)], check=True,
                   capture_output=True)
    os.chown(key, service_user.pw_uid, service_user.pw_gid)
    d.write_config(f'\n[env]\nkey = "{key}"\n')
    out = d.sync(check=2)
    assert str(key) in out.stderr and "chown root" in out.stderr, out.stderr


def test_f4_allowed_signers_the_pipeline_user_owns_is_refused(deployment, service_user):
    d = deployment()
    allowed = d.base / "allowed_signers"
    allowed.write_text("")
    os.chown(allowed, service_user.pw_uid, service_user.pw_gid)
    # The attacker adds a key of its own: whatever it signs would pass `verify`.
    as_pipeline(service_user, "sh", "-c", f"echo 'evil@example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFake' >> {allowed}")
    d.config.write_text(d.config.read_text().replace(
        "[repo]\n", f'[repo]\nverify = "ssh"\nallowed_signers = "{allowed}"\n'))
    out = d.sync(check=2)
    assert str(allowed) in out.stderr and "chown root" in out.stderr, out.stderr
