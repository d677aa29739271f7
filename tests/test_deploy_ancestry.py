"""What a deploy decides from the history it fetched (one `rev-list --boundary` answers the usual
cases; `merge-base` the rare ones): several commits at once, a merge on master, a merge the
operator made by hand on the server, fast-forwards, rewinds; and what it leaves behind
(refs/syncd/previous)."""

from __future__ import annotations

from helpers import git, wait_version


def _push_branch_merge(d) -> str:
    """master gets a merge of a side branch whose first commit is older than master's tip."""
    base = git(d.dev, "rev-parse", "HEAD")
    git(d.dev, "checkout", "--quiet", "-b", "side")
    d.commit({"side.txt": "side\n"}, "side work", push=False)
    git(d.dev, "checkout", "--quiet", "master")
    d.commit({"VERSION": "v3\n"}, "v3", push=False)
    git(d.dev, "merge", "--quiet", "--no-edit", "side")
    git(d.dev, "push", "--quiet", "origin", "HEAD:master")
    assert git(d.dev, "rev-parse", "HEAD^1^") == base
    return git(d.dev, "rev-parse", "HEAD")


def test_several_commits_and_a_merge_on_master_deploy(deployment):
    d = deployment(local_branch="local")
    d.sync()
    d.commit({"a.txt": "a\n"}, "a", push=False)
    d.commit({"b.txt": "b\n"}, "b", push=False)
    sha = d.commit({"VERSION": "v2\n"}, "v2")
    d.sync()
    assert git(d.tree, "rev-parse", "HEAD^2") == sha
    assert wait_version(d, "v2")
    merged = _push_branch_merge(d)
    out = d.sync()
    assert "deployed" in out.stdout, out.stdout + out.stderr
    assert git(d.tree, "rev-parse", "HEAD^2") == merged
    assert (d.tree / "side.txt").read_text() == "side\n"
    assert wait_version(d, "v3")


def test_a_merge_made_by_hand_on_the_server_is_no_force_push(deployment):
    """The operator merged a newer master into `local` without syncd: the upstream syncd saw last
    is then neither a new commit nor a boundary one, and is asked of git."""
    d = deployment(local_branch="local")
    d.sync()
    d.commit({"VERSION": "v2\n"})
    git(d.tree, "fetch", "--quiet", "origin", user=d.user)
    git(d.tree, "merge", "--quiet", "--no-edit", "origin/master", user=d.user)
    sha = d.commit({"VERSION": "v3\n"})
    out = d.sync()
    assert "deployed" in out.stdout and "force" not in out.stdout, out.stdout
    assert git(d.tree, "rev-parse", "HEAD^2") == sha
    assert wait_version(d, "v3")


def test_rewound_master_is_a_force_push_even_when_head_has_it(deployment):
    d = deployment(local_branch="local")
    d.sync()
    first = d.head()
    d.commit({"VERSION": "v2\n"})
    d.sync()
    git(d.dev, "push", "--quiet", "--force", "origin", f"{git(d.dev, 'rev-parse', 'HEAD~1')}:master")
    before = d.head()
    out = d.sync(check=3)
    assert "force-pushed" in out.stdout, out.stdout
    assert d.head() == before and first != before


def test_fast_forward_and_commits_on_the_server_without_local_branch(deployment):
    d = deployment()
    d.sync()
    d.commit({"x.txt": "x\n"}, "x", push=False)
    sha = d.commit({"VERSION": "v2\n"})
    d.sync()
    assert d.head() == sha  # a fast-forward: no merge commit
    (d.tree / "server.txt").write_text("made on the server\n")
    git(d.tree, "add", "server.txt", user=d.user)
    git(d.tree, "commit", "--quiet", "-m", "on the server", user=d.user)
    d.commit({"VERSION": "v3\n"})
    out = d.sync(check=3)
    assert "not upstream" in out.stdout, out.stdout


def test_the_commit_that_ran_before_stays_reachable_as_refs_syncd_previous(deployment):
    d = deployment(local_branch="local")
    d.sync()
    before = d.head()
    d.commit({"VERSION": "v2\n"})
    d.sync()
    assert git(d.tree, "rev-parse", "refs/syncd/previous") == before
    deployed = d.head()
    d.commit({"VERSION": "broken\n"})
    d.sync(check=1)  # rolled back: what runs now is what ran before
    assert d.head() == deployed
    assert git(d.tree, "rev-parse", "refs/syncd/previous") == deployed
