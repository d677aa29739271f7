"""Everything one reconcile knows, passed to each step; steps return GO or STOP, or raise."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from syncd.config import Config
from syncd.journal import Entry, Journal
from syncd.state import State
from syncd.text import short  # noqa: F401 - the steps import it from here
from syncd.tools.git import Git, Identity, identity_for, local_path_of
from syncd.tools.systemctl import Systemctl

GO, STOP = True, False


@dataclass
class Context:
    cfg: Config
    state: State
    journal: Journal
    git: Git
    systemctl: Systemctl
    owner: Identity
    dry_run: bool = False
    now: bool = False  # `sync --now`: restart whatever [drain] and schedule.windows say
    trigger: str = "cli"
    rollback_to: str | None = None
    on_step: object = None
    should_stop: object = None
    started: float = field(default_factory=time.monotonic)
    # learned along the way
    head: str | None = None  # commit running before this reconcile
    upstream: str | None = None  # upstream tip after fetch
    target: str | None = None  # commit to run after this reconcile
    merge_tree: str | None = None  # tree of the merge still to be committed
    reasons: list[str] = field(default_factory=list)  # why this is a deploy
    rendered: object = None
    installed_dropin: bytes | None = None
    dropin_changed: bool = False
    secrets_changed: bool = False
    entry: Entry | None = None  # journal entry once mutations began
    environments: object = None  # syncd.environments.Environments, with [python]
    environment: str | None = None  # name of the environment the target runs in
    requirements: bytes | None = None  # the target's requirements file, from git
    venv_before: str | None = None  # text of the `venv` link before this deploy
    environment_changed: bool = False
    failed: str | None = None  # the commit that was rolled back
    restarted_at: float | None = None  # wall-clock time of the last restart syncd asked for
    result: str | None = None
    reason: str | None = None
    log_tail: list[str] = field(default_factory=list)  # the unit's last lines from a failed start
    fetch_failed: bool = False

    @property
    def dropin_path(self) -> Path:
        return self.systemctl.dropin_dir(self.cfg.service.unit) / self.cfg.service.dropin

    @property
    def branch(self) -> str:
        return self.cfg.repo.local_branch or self.cfg.repo.branch

    @property
    def upstream_ref(self) -> str:
        return f"refs/remotes/{self.cfg.repo.remote}/{self.cfg.repo.branch}"


def owner_identity(cfg: Config) -> Identity:
    """The identity git and hooks run as: service.owner, else whoever owns the tree."""
    if cfg.service.owner:
        from syncd.chown import parse_owner

        uid, gid = parse_owner(cfg.service.owner)
    else:
        st = os.stat(cfg.repo.path)
        uid, gid = st.st_uid, st.st_gid
    return identity_for(uid, gid)


def make_context(cfg: Config, **options) -> Context:
    owner = owner_identity(cfg)
    git = Git(cfg.repo.path, owner, cfg.repo.committer)
    git.trust(foreign_local_remote(cfg, git, owner))
    return Context(cfg=cfg, state=State(cfg.state_dir).ensure(), journal=Journal(cfg.state_dir), git=git,
                   systemctl=Systemctl(cfg.service.scope), owner=owner, **options)


def foreign_local_remote(cfg: Config, git: Git, owner: Identity) -> list[str]:
    """The remote, when it is a repository on this host that someone other than the owner owns."""
    if os.geteuid() != 0 or owner.uid == 0:
        return []  # git runs as whoever runs syncd: nothing to trust on their behalf
    path = local_path_of(git.remote_url(cfg.repo.remote) or "", cfg.repo.path)
    try:
        if path is not None and os.stat(path).st_uid != owner.uid:
            real = os.path.realpath(path)
            return [real, os.path.join(real, ".git")]
    except OSError:
        pass
    return []
