"""The core deploy against a real systemd user manager, real git and a real service user."""

from __future__ import annotations

import os
import time

from helpers import git, wait_version


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
    assert not d.dropin.exists()  # no env configured: no drop-in needed


def test_up_to_date_does_not_restart(deployment):
    d = deployment()
    d.sync()
    pid = d.show("MainPID")["MainPID"]
    out = d.sync()
    assert "up-to-date" in out.stdout
    assert d.show("MainPID")["MainPID"] == pid
    assert d.status()["result"] == "up-to-date"


def test_local_branch_merge_keeps_local_commits(deployment):
    d = deployment(local_branch="local")
    d.sync()
    (d.tree / "config.py").write_text("PASSWORD = 'local-only'\n")
    git(d.tree, "add", "config.py", user=d.user)
    git(d.tree, "commit", "--quiet", "-m", "production config", user=d.user)
    local_commit = d.head()
    sha = d.commit({"VERSION": "v2\n"})
    out = d.sync()
    assert "deployed" in out.stdout, out.stdout
    head = d.head()
    assert git(d.tree, "rev-parse", "HEAD^1") == local_commit
    assert git(d.tree, "rev-parse", "HEAD^2") == sha
    assert (d.tree / "config.py").read_text() == "PASSWORD = 'local-only'\n"
    assert git(d.tree, "log", "-1", "--format=%cn <%ce>", head).startswith("syncd <syncd@")
    assert wait_version(d, "v2")


def test_merge_conflict_is_blocked_and_clean(deployment):
    d = deployment(local_branch="local")
    d.sync()
    (d.tree / "VERSION").write_text("v1-local\n")
    git(d.tree, "commit", "--quiet", "-am", "local edit", user=d.user)
    before = d.head()
    pid = d.show("MainPID")["MainPID"]
    dropin = d.dropin_bytes()
    d.commit({"VERSION": "v2\n"})
    out = d.sync(check=3)
    assert "conflict" in out.stdout and "VERSION" in out.stdout
    assert d.head() == before
    assert git(d.tree, "status", "--porcelain") == ""
    assert not (d.tree / ".git" / "MERGE_HEAD").exists()
    assert d.dropin_bytes() == dropin
    assert d.show("MainPID")["MainPID"] == pid
    st = d.status()
    assert st["result"] == "blocked" and "VERSION" in st["reason"]


def test_dirty_tree_is_blocked_and_kept(deployment):
    d = deployment()
    d.sync()
    (d.tree / "app.py").write_text((d.tree / "app.py").read_text() + "# hotfix on the server\n")
    d.commit({"VERSION": "v2\n"})
    out = d.sync(check=3)
    assert "uncommitted" in out.stdout and "app.py" in out.stdout
    assert (d.tree / "app.py").read_text().endswith("# hotfix on the server\n")
    assert (d.tree / "VERSION").read_text() == "v1\n"


def test_force_push_refused_then_allowed(deployment):
    d = deployment()
    d.sync()
    d.commit({"VERSION": "v2\n"})
    d.sync()
    git(d.dev, "reset", "--quiet", "--hard", "HEAD~1")
    forced = d.commit({"VERSION": "v3\n"}, push=False)
    git(d.dev, "push", "--quiet", "--force", "origin", "HEAD:master")
    before = d.head()
    out = d.sync(check=3)
    assert "force-pushed" in out.stdout
    assert d.head() == before
    d.write_config("\n[repo_placeholder]\n".replace("\n[repo_placeholder]\n", ""))
    text = d.config.read_text().replace("[repo]\n", "[repo]\nallow_force_push = true\n")
    d.config.write_text(text)
    out = d.sync()
    assert d.head() == forced
    assert wait_version(d, "v3")


def test_broken_commit_rolled_back_and_quarantined(deployment):
    d = deployment()
    d.sync()
    good = d.head()
    good_pid = d.running()["pid"]
    dropin = d.dropin_bytes()
    bad = d.commit({"VERSION": "broken-1\n"})
    d.write_config('\n[env.vars]\nNEW_SETTING = "with the broken version"\n')
    out = d.sync(check=1)
    assert "rolled-back" in out.stdout
    assert d.head() == good
    assert d.dropin_bytes() == dropin
    assert "NEW_SETTING" not in d.show("Environment")["Environment"]
    assert git(d.tree, "status", "--porcelain") == ""
    report = wait_version(d, "v1")
    assert report["pid"] != good_pid  # restarted on the old version
    st = d.status()
    assert st["result"] == "rolled-back" and st["deployed"] == good
    assert bad in st["quarantined"]
    # Not tried again while upstream stays there.
    d.write_config()
    out = d.sync(check=3)
    assert "quarantined" in out.stdout
    assert d.head() == good
    # Upstream moves past it: deployed.
    fixed = d.commit({"VERSION": "v3\n"})
    d.sync()
    assert d.head() == fixed
    assert wait_version(d, "v3")
    history = d.syncd("history", "--json", check=0).stdout
    assert '"rolled-back"' in history


def test_changed_env_var_is_deployed_and_undone_like_a_commit(deployment):
    d = deployment()
    d.write_config('\n[env.vars]\nGREETING = "hello"\n')
    d.sync()
    assert wait_version(d, "v1")["env"]["GREETING"] == "hello"
    assert "GREETING=hello" in d.show("Environment")["Environment"]
    pid = d.running()["pid"]
    d.write_config('\n[env.vars]\nGREETING = "bonjour"\n')
    d.sync()
    deadline = time.monotonic() + 10
    while d.running()["pid"] == pid and time.monotonic() < deadline:
        time.sleep(0.1)
    assert d.running()["env"]["GREETING"] == "bonjour"
    assert d.status()["result"] == "deployed"


def test_untracked_file_in_the_way_is_blocked_and_kept(deployment):
    d = deployment()
    d.sync()
    (d.tree / "settings.local").write_text("operator's own file\n")
    d.commit({"settings.local": "from upstream\n", "VERSION": "v2\n"})
    out = d.sync(check=3)
    assert "settings.local" in out.stdout
    assert (d.tree / "settings.local").read_text() == "operator's own file\n"
    assert (d.tree / "VERSION").read_text() == "v1\n"
    assert d.status()["quarantined"] == []


def test_first_sync_with_nothing_new_adopts_head_without_restart(deployment):
    d = deployment()
    wait_version(d, "v1")
    pid = d.show("MainPID")["MainPID"]
    out = d.sync()
    assert "up-to-date" in out.stdout
    st = d.status()
    assert (st["deployed"], st["result"]) == (d.head(), "up-to-date")
    assert d.show("MainPID")["MainPID"] == pid
    # With env to install, the first sync is a deploy: the running process must get it.
    d.write_config('\n[env.vars]\nGREETING = "hi"\n')
    d.sync()
    assert d.status()["result"] == "deployed"
    assert wait_version(d, "v1")["env"]["GREETING"] == "hi"


def test_post_deploy_and_on_failure_hooks_get_the_result_and_their_failure_is_a_warning(deployment):
    d = deployment()
    out_dir = d.base / "hook-out"
    out_dir.mkdir()
    os.chown(out_dir, d.user.pw_uid, d.user.pw_gid)
    record = '["/bin/sh", "-c", "echo $SYNCD_RESULT $SYNCD_TO >> {}/{}"]'
    d.write_config(
        "\n[hooks]\n"
        f'post_deploy = [{record.format(out_dir, "post")}, ["/bin/false"]]\n'
        f"on_failure = [{record.format(out_dir, 'failure')}]\n"
    )
    d.sync()
    good = d.commit({"VERSION": "v2\n"})
    out = d.sync()
    assert "post_deploy hook" in out.stderr  # /bin/false: a warning, the deploy stands
    assert d.status()["result"] == "deployed"
    assert (out_dir / "post").read_text().splitlines()[-1] == f"deployed {d.head()}"
    assert wait_version(d, "v2")
    d.commit({"VERSION": "broken-2\n"})
    d.sync(check=1)
    assert (out_dir / "failure").read_text().split() == ["rolled-back", d.head()]
    assert "rolled-back" not in (out_dir / "post").read_text()
    assert d.head() == good


def test_git_maintenance_runs_after_a_deploy_as_the_owner(deployment):
    """The fetch no longer runs git's automatic maintenance (it would delay the restart); the deploy
    runs it once the outcome is recorded, as the owner. Made visible with the loose-objects task
    due at one loose object: it packs them into objects/pack/loose-*.pack."""
    d = deployment(local_branch="local")
    d.sync()
    for key, value in (
        ("maintenance.loose-objects.enabled", "true"),
        ("maintenance.loose-objects.auto", "1"),
        ("maintenance.gc.enabled", "false"),
    ):
        git(d.tree, "config", key, value, user=d.user)
    assert not list((d.tree / ".git" / "objects" / "pack").glob("loose-*.pack"))
    d.commit({"VERSION": "v2\n"})
    d.sync()
    packs = list((d.tree / ".git" / "objects" / "pack").glob("loose-*.pack"))
    assert packs, "git maintenance did not run after the deploy"
    assert all(p.stat().st_uid == d.user.pw_uid for p in packs)
    assert wait_version(d, "v2")
