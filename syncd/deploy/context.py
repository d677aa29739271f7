"""Everything one reconcile knows (Context), passed to each Step; a step returns Next.GO or Next.STOP,
or raises."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from syncd.config import Config
from syncd.journal import Entry, Journal
from syncd.records import dataclass, field
from syncd.result import Result
from syncd.state import State
from syncd.runas import Identity, identity_for
from syncd.tools.git import Git, News, local_path_of
from syncd.tools.systemctl import Systemctl

if TYPE_CHECKING:  # imported where they are used: `syncd status` must not pay for them
    from syncd.environments import Environments
    from syncd.render.environment import Rendered


class Next(Enum):
    """What a step tells the chain: go on with the next step, or end this sync (ctx.result says how)."""

    GO = "go"
    STOP = "stop"


GO, STOP = Next.GO, Next.STOP  # what the steps return
Json = dict[str, Any]  # an object as read from, or written to, a state file (status.json, the journal)
T = TypeVar("T")


@dataclass
class Context:
    # given by make_context, from the config and reconcile()'s options (Options)
    cfg: Config
    state: State
    journal: Journal
    git: Git
    systemctl: Systemctl
    owner: Identity  # who git, hooks and probes run as
    dry_run: bool = False  # `sync --dry-run`: render_plan stops with `planned`
    now: bool = False  # `sync --now`: restart whatever [drain] and schedule.windows say
    trigger: str = "cli"  # what started this sync (history's `trigger`)
    rollback_to: str | None = None  # `syncd rollback REV`: decide picks REV
    on_step: Callable[[Step, str], None] | None = None  # (step, short commit) as each step starts
    should_stop: Callable[[], bool] | None = None  # polled between steps (SIGTERM)
    started: float = field(default_factory=time.monotonic)
    # learned along the way; each comment names the step that sets the field
    head: str | None = None  # fetch (git status): commit running before this sync (recover: journal's)
    upstream: str | None = None  # fetch: upstream tip
    news: News | None = None  # fetch: what upstream brings that HEAD lacks (None: nothing, or a rollback)
    fetched_new: bool = False  # fetch: upstream moved since the last sync (git housekeeping due after)
    target: str | None = None  # decide: commit to run after this reconcile (begin_journal: the merge commit)
    merge_tree: str | None = None  # decide: tree of the merge still to be committed (local_branch)
    merge_commit: str | None = None  # decide (not in a dry run): the commit of that merge, no ref names it
    reasons: list[str] = field(default_factory=list)  # decide: why this is a deploy
    rendered: Rendered | None = None  # render_plan: drop-in and secret files of the target
    installed_dropin: bytes | None = None  # render_plan: syncd's drop-in as it is now
    dropin_changed: bool = False  # render_plan
    secrets_changed: bool = False  # render_plan
    entry: Entry | None = None  # begin_journal: set once the journal is on disk (mutations may begin)
    environments: Environments | None = None  # plan_environment, with [python]
    environment: str | None = None  # plan_environment: name of the environment the target runs in
    requirements: bytes | None = None  # plan_environment: the target's requirements file, from git
    venv_before: str | None = None  # plan_environment: text of the `venv` link before this deploy
    environment_changed: bool = False  # plan_environment
    failed: str | None = None  # roll_back (chain): the commit that was rolled back
    undone: tuple[bool, str] | None = None  # undo: (the previous version is healthy again, a note)
    restarted_at: float | None = None  # restart: wall-clock time of the last restart syncd asked for
    result: Result | None = None  # the chain (run_reconcile, roll_back) or a step that stops it
    reason: str | None = None  # with result
    log_tail: list[str] = field(default_factory=list)  # roll_back: the unit's last lines from a failed start
    fetch_failed: bool = False  # fetch: the remote's trouble (the daemon backs off)

    @property
    def tree_to_run(self) -> str:
        """What decide chose to run: the merge still to be committed, or the target commit."""
        return known(self.merge_tree or self.target, "the commit to run")

    @property
    def dropin_path(self) -> Path:
        return self.systemctl.dropin_dir(self.cfg.service.unit) / self.cfg.service.dropin

    @property
    def branch(self) -> str:
        return self.cfg.repo.local_branch or self.cfg.repo.branch

    @property
    def upstream_ref(self) -> str:
        return f"refs/remotes/{self.cfg.repo.remote}/{self.cfg.repo.branch}"


def known(value: T | None, what: str) -> T:
    """A field an earlier step set: the chain's order guarantees it, and a step relies on it."""
    if value is None:
        raise RuntimeError(f"{what} is not known yet at this step (the chain's order is broken)")
    return value


@dataclass(frozen=True)
class Step:
    """One step of the chain (syncd/deploy/chain.py): what it runs, and what it is doing in words."""

    run: Callable[[Context], Next]
    label: str  # the daemon's STATUS= words while it runs; {c} stands for the short commit

    @property
    def name(self) -> str:
        """The function's name: `syncd sync` prints it (`-> move tree`), the log times it (`step NAME done`)."""
        return self.run.__name__

    def words(self, commit: str) -> str:
        return self.label.format(c=commit or "upstream")


def owner_identity(cfg: Config) -> Identity:
    """The identity git and hooks run as: service.owner, else whoever owns the tree."""
    if cfg.service.owner:
        from syncd.config.values import parse_owner

        uid, gid = parse_owner(cfg.service.owner)
    else:
        st = os.stat(cfg.repo.path)
        uid, gid = st.st_uid, st.st_gid
    return identity_for(uid, gid)


class Options(TypedDict, total=False):
    """What a caller of reconcile() may set in the Context (the rest is learned along the way)."""

    dry_run: bool
    now: bool
    trigger: str
    rollback_to: str | None
    on_step: Callable[[Step, str], None] | None
    should_stop: Callable[[], bool] | None


def make_context(cfg: Config, **options: Unpack[Options]) -> Context:
    owner = owner_identity(cfg)
    git = Git(
        cfg.repo.path,
        owner,
        cfg.repo.committer,
        timeout=cfg.repo.git_timeout,
        fetch_timeout=cfg.repo.fetch_timeout,
    )
    git.trust(foreign_local_remote(cfg, git, owner))
    return Context(
        cfg=cfg,
        state=State(cfg.state_dir).ensure(),
        journal=Journal(cfg.state_dir),
        git=git,
        systemctl=Systemctl(cfg.service.scope),
        owner=owner,
        **options,
    )


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
