"""[repo]: the git working tree, where its commits come from, and who may sign them."""

from __future__ import annotations

import re
from typing import Any

from syncd.config.model import RepoConfig
from syncd.config.table import Table

COMMITTER = r"[^<>\n]*[^<>\s][^<>\n]* <[^<>\s]+>\Z"  # compiled (by re) when repo.committer is set


def parse(s: Table) -> RepoConfig:
    kw: dict[str, Any] = {"path": s.abs_path("path")}
    if str(kw["path"]) == "/":
        raise s.error("path", "must be the service's working tree, not /")
    for key in ("remote", "branch"):
        if s.has(key):
            kw[key] = s.ref_name(key)
    if s.has("local_branch"):
        kw["local_branch"] = s.ref_name("local_branch")
        if kw["local_branch"] == kw.get("branch", "master"):
            raise s.error(
                "local_branch",
                "must differ from repo.branch (leave local_branch out to deploy the tracked branch itself)",
            )
    if s.has("allow_force_push"):
        kw["allow_force_push"] = s.get("allow_force_push", bool)
    if s.has("verify"):
        kw["verify"] = s.choice("verify", ("none", "ssh", "gpg"))
    if s.has("allowed_signers"):
        kw["allowed_signers"] = s.abs_path("allowed_signers")
    if kw.get("verify") == "ssh" and "allowed_signers" not in kw:
        raise s.error(
            "allowed_signers",
            'required when repo.verify = "ssh": an absolute path to a file in git\'s allowed-signers format',
            at_line=False,
        )
    if kw.get("verify") == "gpg" and "allowed_signers" not in kw:
        raise s.error(
            "allowed_signers",
            'required when repo.verify = "gpg": an absolute path to the public '
            "keys of the allowed signers (gpg --export KEYID... > FILE); only they are trusted",
            at_line=False,
        )
    if s.has("trust_local_commits"):
        kw["trust_local_commits"] = s.get("trust_local_commits", bool)
        if kw["trust_local_commits"] and "local_branch" not in kw:
            raise s.error(
                "trust_local_commits",
                "applies to commits made on repo.local_branch on the server: "
                "set local_branch too, or leave trust_local_commits out",
            )
    for key in ("git_timeout", "fetch_timeout"):
        if s.has(key):
            kw[key] = s.duration(key, positive=True)
    if s.has("committer"):
        committer = s.get("committer", str)
        if not re.match(COMMITTER, committer):
            raise s.error(
                "committer", f'expected "Name <email>", e.g. "syncd <syncd@host>", got {committer!r}'
            )
        kw["committer"] = committer
    return RepoConfig(**kw)
