"""The remote answers, asked as the owner: the user git runs as (its ssh key, its rights)."""

from syncd.doctor import result


def check(s):
    if s.cfg is None or not (s.cfg.repo.path / ".git").exists():
        return None
    from syncd.deploy.context import foreign_local_remote, owner_identity
    from syncd.tools.git import Git

    repo = s.cfg.repo
    try:
        owner = owner_identity(s.cfg)
    except (OSError, KeyError, ValueError) as exc:
        return result("remote", False, f"cannot tell who owns {repo.path}: {exc}", "see tree-owner above")
    git = Git(repo.path, owner)
    url = git.remote_url(repo.remote)
    if url is None:
        return result(
            "remote",
            False,
            f"{repo.path} has no remote {repo.remote!r}",
            f"git -C {repo.path} remote add {repo.remote} URL (as the owner)",
        )
    git.trust(foreign_local_remote(s.cfg, git, owner))
    try:
        proc = git.ls_remote(repo.remote, repo.branch, timeout=60)
    except Exception as exc:  # noqa: BLE001 - a timeout or a git that cannot start is the finding
        return result("remote", False, f"{url}: {exc}", "check the network and the URL")
    if proc.returncode == 2:
        return result(
            "remote",
            False,
            f"{url} has no branch {repo.branch}",
            f"push it (git push {url} {repo.branch}) or set repo.branch",
        )
    if proc.returncode != 0:
        error = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return result(
            "remote",
            False,
            f"{url} not reachable as uid {owner.uid}: {error[-1] if error else 'failed'}",
            f"as the owner, `git -C {repo.path} ls-remote {repo.remote}` shows it; check the URL, the "
            f"owner's ssh key ({owner.home}/.ssh) and that the owner may read the repository",
        )
    return result(
        "remote", True, f"{url} answers with {repo.branch} at {proc.stdout.decode()[:7]}, as uid {owner.uid}"
    )
