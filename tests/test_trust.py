"""The pipeline user is not trusted (issue 10, docs/security.md).

Each test acts as the attacker would: as the service user (`syncd-test`, who owns the tree), with
nothing but its own rights, through the tree and whatever else it can write. Each was seen failing
on the code before the guard it tests.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

from helpers import PYTHON, git

ROOT_ONLY_SECRET = "SYNCD-SECRET-KEY-1:s3cr3t-k3y-m4t3ri4l-that-must-never-leak"


def as_pipeline(user, *argv: str, input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command as the (compromised) service user, with its uid, gid and groups only."""
    proc = subprocess.run(
        list(argv),
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[user.pw_gid],
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
    )
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
    entry = {
        "previous": d.head(),
        "target": None,
        "branch": "master",
        "upstream": None,
        "trigger": "cli",
        "started": "2026-01-01T00:00:00+00:00",
        "dropin_path": str(d.dropin),
        "dropin_previous_b64": base64.b64encode(EVIL_DROPIN.format(proof=proof).encode()).decode(),
        "dropin_previous_existed": True,
        "dropin_previous_had_secrets": False,
        "phase": "restarting",
    }
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
        forge_journal(
            d, service_user, f"cd {parent}; mv state state.old; mkdir -p state/syncd; cd state/syncd", proof
        )
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


@pytest.mark.parametrize(
    "mistake", ["owned by the pipeline user", "group-writable by its group", "in a directory it owns"]
)
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
        proc = as_pipeline(
            service_user, "sh", "-c", f"cat > {confdir}/new && mv -f {confdir}/new {d.config}", input=evil
        )
    else:
        if mistake == "owned by the pipeline user":
            os.chown(d.config, service_user.pw_uid, 0)
        else:
            os.chown(d.config, 0, service_user.pw_gid)
            os.chmod(d.config, 0o664)
        proc = as_pipeline(service_user, "sh", "-c", f"cat > {d.config}", input=evil)
    assert proc.returncode == 0, proc.stderr
    out = d.sync(check=None)
    assert not proof.exists(), (
        f"code ran as uid {proof.read_text().strip()} from a config the pipeline user wrote"
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert str(d.config.parent if mistake == "in a directory it owns" else d.config) in out.stderr
    assert "chown root" in out.stderr or "chmod go-w" in out.stderr, out.stderr


def test_f4_key_the_pipeline_user_can_read_is_refused(deployment, service_user):
    d = deployment()
    key = d.base / "production.key"
    subprocess.run(
        [PYTHON, "-m", "syncd", "secrets", "keygen", "--out", str(key)], check=True, capture_output=True
    )
    os.chmod(key, 0o644)  # the operator's mistake
    assert "SYNCD-SECRET-KEY-1" in as_pipeline(service_user, "cat", str(key)).stdout  # what the attacker gets
    d.write_config(f'\n[env]\nkey = "{key}"\nvars = {{ A = "1" }}\n')
    out = d.sync(check=2)
    assert str(key) in out.stderr and "chmod 600" in out.stderr, out.stderr
    assert d.dropin_bytes() is None


def test_f4_key_owned_by_the_pipeline_user_is_refused(deployment, service_user):
    d = deployment()
    key = d.base / "production.key"
    subprocess.run(
        [PYTHON, "-m", "syncd", "secrets", "keygen", "--out", str(key)], check=True, capture_output=True
    )
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
    as_pipeline(
        service_user,
        "sh",
        "-c",
        f"echo 'evil@example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFake' >> {allowed}",
    )
    d.config.write_text(
        d.config.read_text().replace("[repo]\n", f'[repo]\nverify = "ssh"\nallowed_signers = "{allowed}"\n')
    )
    out = d.sync(check=2)
    assert str(allowed) in out.stderr and "chown root" in out.stderr, out.stderr


# -- finding 3: `verify` bypassed through the tree -------------------------------------------------


def signed_deployment(deployment, **kw):
    """verify = "ssh": the developer signs with a key in allowed_signers (root's, 0644)."""
    d = deployment(**kw)
    key = d.base / "dev_signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dev", "-f", str(key)], check=True)
    allowed = d.base / "allowed_signers"
    allowed.write_text(f"dev@example.org {(d.base / 'dev_signing_key.pub').read_text()}")
    d.config.write_text(
        d.config.read_text().replace("[repo]\n", f'[repo]\nverify = "ssh"\nallowed_signers = "{allowed}"\n')
    )
    git(d.dev, "config", "gpg.format", "ssh")
    git(d.dev, "config", "user.signingkey", str(key))
    git(d.dev, "config", "commit.gpgsign", "true")
    d.sync()
    return d


def attacker_git(d, *args: str, check: bool = True) -> str:
    """git as the pipeline user in the tree (its own identity; it owns the tree and, here, origin)."""
    if args[:1] == ("push",):  # the developer's (root's) pushes left root-owned object directories
        subprocess.run(["chown", "-R", f"{d.user.pw_name}:{d.user.pw_name}", str(d.origin)], check=True)
    return git(
        d.tree,
        "-c",
        "user.name=Mallory",
        "-c",
        "user.email=mallory@example.org",
        *args,
        user=d.user,
        check=check,
    )


def test_f3_unsigned_merge_of_two_signed_parents_is_refused(deployment):
    d = signed_deployment(deployment)
    signed_a = d.commit({"VERSION": "v2\n"}, "signed a")
    git(d.dev, "checkout", "--quiet", "-b", "side", "HEAD~1")
    d.commit({"side.txt": "x\n"}, "signed b", push=False)
    git(d.dev, "push", "--quiet", "origin", "side")
    signed_b = git(d.dev, "rev-parse", "HEAD")
    # The attacker: any tree, under an unsigned merge of the two signed commits, pushed upstream.
    attacker_git(
        d, "fetch", "--quiet", "origin", "side:refs/remotes/origin/side", "master:refs/remotes/origin/master"
    )
    evil_version = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=d.tree,
        input="evil\n",
        text=True,
        capture_output=True,
        user=d.user.pw_uid,
        group=d.user.pw_gid,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    ).stdout.strip()
    listing = attacker_git(d, "ls-tree", signed_a).replace(
        attacker_git(d, "rev-parse", f"{signed_a}:VERSION"), evil_version
    )
    tree = subprocess.run(
        ["git", "mktree"],
        cwd=d.tree,
        input=listing + "\n",
        text=True,
        capture_output=True,
        user=d.user.pw_uid,
        group=d.user.pw_gid,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    ).stdout.strip()
    merge = attacker_git(d, "commit-tree", tree, "-p", signed_a, "-p", signed_b, "-m", "Merge branch 'side'")
    attacker_git(d, "push", "--quiet", "origin", f"{merge}:refs/heads/master")
    out = d.sync(check=None)
    assert (d.tree / "VERSION").read_text() != "evil\n", "the attacker's tree was deployed"
    assert out.returncode == 3 and "signature" in out.stdout, out.stdout + out.stderr


def test_f3_commit_made_in_the_tree_on_the_tracked_branch_is_refused(deployment):
    d = signed_deployment(deployment)
    as_pipeline(d.user, "sh", "-c", f"echo evil > {d.tree}/VERSION")
    attacker_git(d, "commit", "--quiet", "-am", "harmless")
    out = d.sync(check=None)
    assert out.returncode == 3 and "signature" in out.stdout, out.stdout + out.stderr
    assert d.status()["deployed"] != d.head()


def test_f3_commit_on_the_local_branch_is_verified_unless_trusted(deployment):
    d = signed_deployment(deployment, local_branch="local")
    as_pipeline(d.user, "sh", "-c", f"echo evil > {d.tree}/VERSION")
    attacker_git(d, "commit", "--quiet", "-am", "harmless")
    out = d.sync(check=None)
    assert out.returncode == 3 and "signature" in out.stdout, out.stdout + out.stderr
    assert d.status()["deployed"] != d.head()
    # An operator who accepts server-side commits says so (docs/security.md: what that gives away).
    d.config.write_text(d.config.read_text().replace("[repo]\n", "[repo]\ntrust_local_commits = true\n"))
    d.sync()
    assert d.status()["deployed"] == d.head()
    # ... and syncd's own merge of a signed upstream commit on top of it deploys as well.
    d.commit({"other.txt": "x\n"}, "signed upstream")
    d.sync()
    assert (d.tree / "other.txt").exists() and d.status()["deployed"] == d.head()


def test_f3_the_trees_git_config_does_not_decide_what_verified_means(deployment):
    d = signed_deployment(deployment)
    # The attacker signs with a key of its own and makes "verification" always succeed.
    fake = d.base / "attacker-home"
    fake.mkdir()
    os.chown(fake, d.user.pw_uid, d.user.pw_gid)
    program = fake / "always-good"
    script = (
        '#!/bin/sh\ncase "$2" in find-principals) echo dev@example.org;; '
        '*) echo "Good \\"git\\" signature for dev@example.org with ED25519 key SHA256:x";; esac\n'
    )
    as_pipeline(d.user, "sh", "-c", f"cat > {program}; chmod 755 {program}", input=script)
    as_pipeline(d.user, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake / "key"))
    attacker_git(d, "config", "gpg.ssh.program", str(program))
    attacker_git(d, "config", "gpg.ssh.allowedSignersFile", str(fake / "allowed"))
    as_pipeline(d.user, "sh", "-c", f"echo evil > {d.tree}/VERSION")
    attacker_git(
        d,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={fake / 'key'}",
        "-c",
        "gpg.ssh.program=ssh-keygen",
        "commit",
        "--quiet",
        "-S",
        "-am",
        "signed by someone else",
    )
    attacker_git(d, "push", "--quiet", "origin", "HEAD:master")
    out = d.sync(check=None)
    assert out.returncode == 3 and "signature" in out.stdout, out.stdout + out.stderr
    assert d.status()["deployed"] != d.head()


def _gpg_key(home: Path, email: str) -> str:
    home.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(home))
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            email,
            "ed25519",
            "sign",
            "never",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return env["GNUPGHOME"]


def test_f3_gpg_trusts_only_the_keys_in_allowed_signers(deployment):
    d = deployment()
    dev_home = _gpg_key(d.base / "gnupg-dev", "dev@example.org")
    other_home = _gpg_key(d.base / "gnupg-other", "other@example.org")
    keyring = d.base / "allowed_signers.gpg"
    keyring.write_bytes(
        subprocess.run(
            ["gpg", "--export"], env=dict(os.environ, GNUPGHOME=dev_home), capture_output=True, check=True
        ).stdout
    )
    d.config.write_text(
        d.config.read_text().replace("[repo]\n", f'[repo]\nverify = "gpg"\nallowed_signers = "{keyring}"\n')
    )
    d.sync()
    os.environ["GNUPGHOME"] = other_home  # the developer's git signs with whichever gpg home is set
    try:
        git(d.dev, "config", "user.signingkey", "other@example.org")
        (d.dev / "VERSION").write_text("v2\n")
        git(d.dev, "commit", "--quiet", "-S", "-am", "signed by a key nobody allowed")
        git(d.dev, "push", "--quiet", "origin", "HEAD:master")
        out = d.sync(check=3)
        assert "no good gpg signature" in out.stdout
        os.environ["GNUPGHOME"] = dev_home
        git(d.dev, "config", "user.signingkey", "dev@example.org")
        git(d.dev, "commit", "--quiet", "--amend", "-S", "--no-edit")
        git(d.dev, "push", "--quiet", "--force", "origin", "HEAD:master")
        d.config.write_text(d.config.read_text().replace("[repo]\n", "[repo]\nallow_force_push = true\n"))
        d.sync()
        assert (d.tree / "VERSION").read_text() == "v2\n"
    finally:
        os.environ.pop("GNUPGHOME", None)


# -- finding 5: FIFOs and slow programs planted in the tree ------------------------------------------


def test_f5_fifo_for_a_ref_does_not_stop_the_daemon_before_ready(deployment, service_user):
    from test_daemon import DaemonUnit

    d = deployment()
    d.write_config("\n[schedule]\ninterval = 0\nwatch = true\n")
    d.sync()
    # The attacker packs the branch (so git still knows it) and puts a FIFO where the loose ref was.
    attacker_git(d, "pack-refs", "--all")
    assert (
        as_pipeline(service_user, "mkfifo", str(d.tree / ".git" / "refs" / "heads" / "master")).returncode
        == 0
    )
    unit = DaemonUnit(d)
    try:
        started = unit.start(check=False)  # returns once READY=1 arrived (or start failed)
        assert started.returncode == 0 and unit.show("ActiveState")["ActiveState"] == "active", (
            unit.log_text()
        )
        stopped = unit.stop()
        assert stopped.returncode == 0
        assert unit.show("ActiveState")["ActiveState"] in ("inactive", "failed")
        assert unit.show("Result")["Result"] == "success", unit.log_text()
    finally:
        unit.close()
        systemctl_reload()


def systemctl_reload():
    from helpers import systemctl

    systemctl("daemon-reload", check=False)


def test_f5_fifo_for_an_untracked_env_file_blocks_instead_of_hanging(deployment, service_user):
    d = deployment()
    d.write_config('\n[env]\nfiles = ["local.env"]\n')
    assert as_pipeline(service_user, "mkfifo", str(d.tree / "local.env")).returncode == 0
    out = d.sync(check=3)
    assert "local.env: is a FIFO" in out.stdout
    d.syncd("sync", "--no-wait", check=3)  # and the lock was released


def test_f5_fifo_for_a_secrets_file_does_not_hang_status(deployment, service_user):
    d = deployment()
    key = d.base / "production.key"
    subprocess.run(
        [PYTHON, "-m", "syncd", "secrets", "keygen", "--out", str(key)], check=True, capture_output=True
    )
    d.write_config(f'\n[env]\nsecrets = ["prod.env.enc"]\nkey = "{key}"\n')
    assert as_pipeline(service_user, "mkfifo", str(d.tree / "prod.env.enc")).returncode == 0
    st = d.status()
    assert any("prod.env.enc: is a FIFO" in w for w in st["warnings"]), st


def test_f5_fsmonitor_in_the_trees_git_config_never_runs(deployment, service_user):
    d = deployment()
    d.sync()
    (d.base / "marks").mkdir()
    os.chown(d.base / "marks", service_user.pw_uid, service_user.pw_gid)
    marker = d.base / "marks" / "fsmonitor-ran"
    program = d.tree / ".git" / "slow-fsmonitor"
    as_pipeline(
        service_user,
        "sh",
        "-c",
        f"cat > {program}; chmod 755 {program}",
        input=f"#!/bin/sh\ntouch {marker}\nsleep 1000\n",
    )
    attacker_git(d, "config", "core.fsmonitor", str(program))
    d.commit({"VERSION": "v2\n"})
    d.sync()
    assert not marker.exists()


def test_f5_a_git_command_that_hangs_is_killed_after_repo_git_timeout(deployment, service_user):
    d = deployment()
    d.sync()
    d.config.write_text(d.config.read_text().replace("[repo]\n", '[repo]\ngit_timeout = "3s"\n'))
    # git reads .git/index to see whether the tree is clean; a FIFO there blocks it forever.
    index = d.tree / ".git" / "index"
    assert as_pipeline(service_user, "sh", "-c", f"rm {index} && mkfifo {index}").returncode == 0
    out = d.sync(check=1)
    assert "did not finish within 3s" in out.stdout and "repo.git_timeout" in out.stdout, (
        out.stdout + out.stderr
    )
    assert d.status()["result"] == "error"


# -- finding 6: a health peer (the service, which the attacker runs) that never finishes ------------

from test_dicom_echo import _associate_ac, _pdu, _read_pdu, fake_peer  # noqa: E402,F401


def _in_thread(function, *args):
    """Run `function` in a thread; a hang fails the test instead of stopping the suite."""
    import threading

    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", function(*args)), daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), f"{function.__name__} never returned"
    return result["value"]


def test_f6_http_peer_dribbling_bytes_cannot_stretch_the_probe(fake_peer):
    import threading

    from syncd.health.probes import check_http

    done = threading.Event()

    def dribble(conn):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 ")
        while not done.wait(0.2):  # one byte at a time, never the end of the line
            conn.sendall(b"0")

    port = fake_peer(dribble)
    try:
        assert _in_thread(check_http, f"http://127.0.0.1:{port}/healthz", 1.0) == "http probe: timed out"
    finally:
        done.set()


def test_f6_dicom_peer_sending_endless_fragments_is_cut_off(fake_peer):
    from syncd.health.probes import check_dicom_echo

    def endless(conn):
        _read_pdu(conn)
        conn.sendall(_associate_ac())
        _read_pdu(conn)
        chunk = bytes(60000)
        while True:  # command fragments, never the last one
            conn.sendall(_pdu(0x04, struct.pack(">IBB", len(chunk) + 2, 1, 0x01) + chunk))

    port = fake_peer(endless)
    reason = _in_thread(check_dicom_echo, f"PIPELINE@127.0.0.1:{port}", 3.0)
    assert reason == "dicom echo: peer sent a command set larger than 65536 bytes"


# -- finding 7: sizes ------------------------------------------------------------------------------


def test_f7_an_env_file_with_too_many_entries_is_refused_before_daemon_reload(deployment, service_user):
    d = deployment(local_branch="local")
    d.sync()
    dropin = d.dropin_bytes()
    # The attacker commits in the tree (no verify here): 5 000 variables, 400 KB, well under 1 MiB.
    as_pipeline(
        service_user,
        "sh",
        "-c",
        f"cd {d.tree} && seq 1 5000 | sed 's/.*/VAR_&=some-value-&-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/' > bulk.env",
    )
    attacker_git(d, "add", "bulk.env")
    attacker_git(d, "commit", "--quiet", "-m", "config")
    d.config.write_text(d.config.read_text() + '\n[env]\nfiles = ["bulk.env"]\n')
    out = d.sync(check=3)
    assert "more than the limit" in out.stdout, out.stdout
    assert d.dropin_bytes() == dropin


def test_f7_a_huge_untracked_env_file_is_not_even_read(deployment, service_user):
    d = deployment()
    as_pipeline(service_user, "sh", "-c", f"head -c 3000000 /dev/zero | tr '\\0' 'A' > {d.tree}/local.env")
    d.write_config('\n[env]\nfiles = ["local.env"]\n')
    out = d.sync(check=3)
    assert "local.env: env file is 3000000 bytes, more than the limit of 1048576" in out.stdout, out.stdout


# -- finding 8: secrets edit fidelity, plaintext on disk, terminal escapes ------------------------

from test_secrets_cli import cli, keygen, ok  # noqa: E402

REWRITE_OTHER = """\
import sys
path = sys.argv[-1]
with open(path, encoding="utf-8", newline="") as f:
    text = f.read()
with open(path + ".where", "w") as f:
    f.write(path)
with open(path, "w", encoding="utf-8", newline="") as f:
    f.write(text.replace('OTHER="x"', 'OTHER="y"'))
"""


def _secrets_world(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "k.key"
    recipient = keygen(key)
    file = tmp_path / "prod.env.enc"
    ok(cli("set", file, "OTHER", "x", "--recipient", recipient))
    ok(cli("set", file, "VALUE", stdin=b"a\r\nb\rc"))
    return file, key


def test_f8_secrets_edit_keeps_cr_and_crlf_inside_values(tmp_path):
    file, key = _secrets_world(tmp_path)
    editor = tmp_path / "editor.py"
    editor.write_text(REWRITE_OTHER)
    ok(cli("edit", file, "--key", key, env={"EDITOR": f"{PYTHON} {editor}", "XDG_RUNTIME_DIR": "/dev/shm"}))
    assert ok(cli("show", file, "OTHER", "--key", key)).stdout == b"y"
    assert ok(cli("show", file, "VALUE", "--key", key)).stdout == b"a\r\nb\rc"


RECORD_FILESYSTEM = """\
import subprocess, sys
path = sys.argv[-1]
kind = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True).stdout.strip()
with open(sys.argv[1], "w") as f:
    f.write(path + " " + kind)
"""


def test_f8_secrets_edit_never_puts_the_plaintext_on_a_disk(tmp_path):
    file, key = _secrets_world(tmp_path)
    on_disk = tmp_path / "runtime-on-disk"  # /tmp here is ext4, like XDG_RUNTIME_DIR in some sudo setups
    on_disk.mkdir(mode=0o700)
    editor, record = tmp_path / "editor.py", tmp_path / "where"
    editor.write_text(RECORD_FILESYSTEM)
    proc = cli(
        "edit",
        file,
        "--key",
        key,
        env={"EDITOR": f"{PYTHON} {editor} {record}", "XDG_RUNTIME_DIR": str(on_disk)},
    )
    if proc.returncode == 0:  # a tmpfs was found elsewhere (/dev/shm here): the copy must have been there
        where, kind = record.read_text().rsplit(" ", 1)
        assert kind in ("tmpfs", "ramfs"), f"the plaintext went to {where}, on {kind}"
    else:  # no tmpfs at all: refused, naming why
        assert proc.returncode == 2 and b"tmpfs" in proc.stderr and not record.exists()


ESCAPES = "\x1b[2J\x1b]52;c;cHduZWQ=\x07"


def test_f8_terminal_escapes_from_the_tree_are_printed_escaped(deployment, service_user):
    d = deployment(local_branch="local")
    d.sync()
    evil = f"notes{ESCAPES}.txt"
    as_pipeline(service_user, "sh", "-c", f"cd {d.tree} && printf x > '{evil}'")
    attacker_git(d, "add", "-A")
    attacker_git(d, "commit", "--quiet", "-m", f"innocent{ESCAPES}")
    as_pipeline(
        service_user, "sh", "-c", f"cd {d.tree} && printf y > '{evil}'"
    )  # dirty: its name is in the reason
    out = d.sync(check=3)
    shown = out.stdout + out.stderr + d.syncd("status").stdout + d.syncd("history").stdout
    assert "\\x1b[2J" in shown  # the name is still there, visibly escaped
    assert "\x1b" not in shown and "\x07" not in shown
