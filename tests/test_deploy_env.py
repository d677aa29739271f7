"""Environment and ownership through a whole deploy: values byte for byte, bad input blocked, chown."""

from __future__ import annotations

import json
import os

from helpers import git
from helpers import wait_version

VALUES = {
    "SPACES": "  two  spaces  ",
    "QUOTES": 'it\'s "quoted"',
    "BACKSLASH": "C:\\path\\to\\ trailing\\",
    "PERCENT": "100% %n %i %%",
    "DOLLAR": "$HOME ${USER} $$",
    "NEWLINES": "line one\nline two\n",
    "UTF8": "Ærø – 東京 🩻",
    "EMPTY": "",
    "HASH": "a # not a comment",
}


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # such a JSON string is a valid TOML basic string


def test_values_reach_the_process_exactly(deployment):
    d = deployment()
    lines = "".join(f"{name} = {toml_string(value)}\n" for name, value in VALUES.items())
    dotenv = 'FROM_FILE="file value"\nOVERRIDDEN=from-file\nMULTI="a\nb"\n'
    d.commit({"deploy/production.env": dotenv}, "env file")
    d.write_config(
        '\n[env]\nfiles = ["deploy/production.env"]\n\n[env.vars]\nOVERRIDDEN = "from-vars"\n' + lines
    )
    d.sync()
    env = wait_version(d, "v1")["env"]
    for name, value in VALUES.items():
        assert env[name] == value, name
    assert env["FROM_FILE"] == "file value"
    assert env["MULTI"] == "a\nb"
    assert env["OVERRIDDEN"] == "from-vars"  # later wins: env.vars after env.files
    assert "UTF8=" in d.show("Environment")["Environment"]


def test_invalid_name_in_env_file_is_blocked_naming_file_and_line(deployment):
    d = deployment()
    d.sync()
    dropin = d.dropin_bytes()
    pid = d.show("MainPID")["MainPID"]
    d.commit({"deploy/production.env": "GOOD=1\nBAD-NAME=secret-ish-value\n", "VERSION": "v2\n"})
    d.write_config('\n[env]\nfiles = ["deploy/production.env"]\n')
    out = d.sync(check=3)
    assert "deploy/production.env:2" in out.stdout + out.stderr
    assert "secret-ish-value" not in out.stdout + out.stderr
    assert (d.tree / "VERSION").read_text() == "v1\n"
    assert d.dropin_bytes() == dropin
    assert d.show("MainPID")["MainPID"] == pid


def test_nul_like_noncharacter_in_vars_is_rejected(deployment):
    d = deployment()
    d.write_config('\n[env.vars]\nBAD = "x\ufdd0y"\n')  # a raw noncharacter: systemd would drop the file
    out = d.sync(check=3)
    assert "BAD" in out.stdout + out.stderr
    assert not d.dropin.exists()


def test_chown_changed_files_only_and_never_through_symlinks(deployment, workdir):
    d = deployment()
    d.sync()
    outside = workdir / "outside-secret"
    outside.write_text("root only\n")
    untouched = d.tree / "untouched.txt"
    d.commit({"untouched.txt": "x\n"}, "add untouched")
    d.sync()
    os.chown(untouched, 0, 0)  # an operator's chown we must not undo: file is not in the next diff
    os.symlink(outside, d.dev / "link-out")
    d.commit({"VERSION": "v2\n", "new/dir/file.txt": "hello\n"}, "v2 with a symlink")
    d.sync()
    uid = d.user.pw_uid
    assert os.stat(d.tree / "new" / "dir" / "file.txt").st_uid == uid
    assert os.stat(d.tree / "VERSION").st_uid == uid
    assert os.stat(untouched).st_uid == 0
    assert os.stat(outside).st_uid == 0
    assert os.lstat(d.tree / "link-out").st_uid == uid  # created by git running as the owner
    assert git(d.tree, "log", "-1", "--format=%s") == "v2 with a symlink"


def test_git_runs_as_the_owner_not_root(deployment):
    d = deployment()
    d.commit({"VERSION": "v2\n"})
    d.sync()
    fetched = d.tree / ".git" / "FETCH_HEAD"
    assert os.stat(fetched).st_uid == d.user.pw_uid


def test_dry_run_changes_nothing(deployment):
    d = deployment()
    d.sync()
    d.commit({"VERSION": "v2\n"})
    before = d.head()
    out = d.syncd("sync", "--dry-run", check=0)
    assert "upstream moved" in out.stdout
    assert d.head() == before
    assert wait_version(d, "v1")


def test_rollback_command_redeploys_previous_and_pauses(deployment):
    d = deployment()
    d.sync()
    first = d.head()
    d.commit({"VERSION": "v2\n"})
    d.sync()
    out = d.syncd("rollback", check=0)
    assert d.head() == first, out.stdout + out.stderr
    assert wait_version(d, "v1")
    st = d.status()
    assert st["paused"] is True and st["deployed"] == first


def test_invalid_config_touches_nothing(deployment):
    d = deployment()
    d.sync()
    dropin = d.dropin_bytes()
    d.config.write_text(d.config.read_text().replace("[health]", "[health]\ntmeout = 3"))
    d.commit({"VERSION": "v2\n"})
    out = d.sync(check=2)
    assert str(d.config) in out.stderr and "health.tmeout" in out.stderr
    assert (d.tree / "VERSION").read_text() == "v1\n"
    assert d.dropin_bytes() == dropin


def test_dry_run_of_a_blocked_sync_records_nothing(deployment):
    d = deployment(local_branch="local")
    d.sync()
    (d.tree / "VERSION").write_text("v1-local\n")
    git(d.tree, "commit", "--quiet", "-am", "local edit", user=d.user)
    d.commit({"VERSION": "v2\n"})
    status_before = (d.state / "syncd" / "status.json").read_bytes()
    out = d.syncd("sync", "--dry-run", check=3)
    assert "conflict" in out.stdout
    assert (d.state / "syncd" / "status.json").read_bytes() == status_before
