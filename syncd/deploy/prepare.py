"""Read-only steps: they look, fetch and plan. A Blocked raised here leaves everything untouched."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from syncd import fsutil, log
from syncd.config import RepoConfig
from syncd.deploy.context import GO, STOP, Context, Next, known
from syncd.errors import Blocked, ConfigError, ToolError
from syncd.render.environment import installed_secret_files, render, secrets_dir
from syncd.result import Result
from syncd.state import now_iso
from syncd.text import short
from syncd.tools.git import TreeStatus

_LOG = log.get("deploy")
T = TypeVar("T")
U = TypeVar("U")


def _meanwhile(background: Callable[[], T], foreground: Callable[[], U]) -> tuple[T, U]:
    """background() in a thread while foreground() runs here (two git commands that neither touch
    what the other reads): both results. An exception of the foreground wins, then the
    background's; the thread has always ended when this returns or raises."""
    outcome: list[tuple[bool, Any]] = []

    def work() -> None:
        try:
            outcome.append((True, background()))
        except BaseException as exc:  # noqa: BLE001 - raised below, in the step
            outcome.append((False, exc))

    thread = threading.Thread(target=work, name="git beside", daemon=True)
    thread.start()
    try:
        here = foreground()
    finally:
        thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value, here


def preflight(ctx: Context) -> Next:
    """A git working tree of the expected owner, with no merge or rebase in progress (no git
    process: the fetch step looks at the branch and uncommitted changes while it fetches)."""
    if not (ctx.cfg.repo.path / ".git").exists():
        raise Blocked(f"{ctx.cfg.repo.path} is not a git working tree")
    _check_tree_owner(ctx)
    busy = ctx.git.operation_in_progress()
    if busy:
        raise Blocked(f"a {busy} is in progress in {ctx.cfg.repo.path}; finish or abort it first")
    return GO


def _check_tree(ctx: Context, tree: TreeStatus) -> None:
    """The tree must be clean and on the expected branch; sets ctx.head."""
    if tree.branch != ctx.branch:
        raise Blocked(
            f"{ctx.cfg.repo.path} has {tree.branch or 'a detached HEAD'} checked out, expected {ctx.branch}"
        )
    if tree.dirty:
        more = f" (+{len(tree.dirty) - 5} more)" if len(tree.dirty) > 5 else ""
        raise Blocked(f"uncommitted changes in {ctx.cfg.repo.path}: {', '.join(tree.dirty[:5])}{more}")
    ctx.head = tree.head


def check_unit_loads(ctx: Context) -> None:
    """A unit systemd does not know (a typo) or cannot load is a config error: a deploy is refused
    before anything moves, not found out by a restart that fails after the tree moved. (Checked
    when there is something to deploy: a sync with nothing new restarts nothing, so it says so.)"""
    unit = ctx.cfg.service.unit
    props = ctx.systemctl.show(unit, "LoadState", "LoadError")
    state = props.get("LoadState", "")
    if state != "loaded":
        detail = props.get("LoadError", "").partition(" ")[2].strip().strip('"')
        scope = " --user" if ctx.cfg.service.scope == "user" else ""
        raise ConfigError(
            ctx.cfg.source,
            "service.unit",
            f"{unit} is {state or 'unknown'} to systemd"
            + (f" ({detail})" if detail else "")
            + f"; expected a unit that `systemctl{scope} cat {unit}` shows and that loads",
        )


def _check_tree_owner(ctx: Context) -> None:
    """git runs as the owner; a tree someone else owns would fail in git with a cryptic message."""
    if os.geteuid() != 0 or ctx.owner.uid == 0:
        return
    st = os.stat(ctx.cfg.repo.path / ".git")
    if st.st_uid != ctx.owner.uid:
        import pwd

        try:
            who = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            who = str(st.st_uid)
        raise Blocked(
            f"{ctx.cfg.repo.path}/.git is owned by {who}, but syncd runs git as the service owner "
            f"(uid {ctx.owner.uid}); give the tree to it: chown -R {ctx.cfg.service.owner or ctx.owner.uid} "
            f"{ctx.cfg.repo.path}"
        )


def fetch(ctx: Context) -> Next:
    """Fetch upstream while `git status` looks at the tree in a thread: both are read-only and
    independent (a fetch writes objects and refs/remotes only). A tree that is not clean or not on
    its branch blocks the deploy first, whatever the fetch said."""
    if ctx.rollback_to:
        _check_tree(ctx, ctx.git.tree_status())
        ctx.upstream = ctx.git.rev(ctx.upstream_ref)
        return GO
    tree, failed = _meanwhile(ctx.git.tree_status, lambda: _fetch_or_why(ctx))
    _check_tree(ctx, tree)
    if failed is not None:
        ctx.fetch_failed = True  # the remote's trouble, not the deploy's: the daemon backs off
        if not ctx.dry_run:
            ctx.state.update_status(fetch_error=failed.stderr.strip()[-300:] or str(failed))
        raise failed
    if not ctx.dry_run and ctx.state.status().get("fetch_error"):
        ctx.state.update_status(fetch_error=None)
    ctx.news = ctx.git.news(ctx.upstream_ref, ctx.head) if ctx.head else None
    ctx.upstream = ctx.news.tip if ctx.news else ctx.git.rev(ctx.upstream_ref)
    if ctx.upstream is None:
        raise Blocked(f"remote {ctx.cfg.repo.remote} has no branch {ctx.cfg.repo.branch}")
    ctx.fetched_new = ctx.upstream != ctx.state.last_upstream
    return GO


def _fetch_or_why(ctx: Context) -> ToolError | None:
    """The fetch; its failure is returned, so that a tree that is not clean is reported first."""
    try:
        ctx.git.fetch(ctx.cfg.repo.remote, ctx.cfg.repo.branch)
    except ToolError as exc:
        return exc
    return None


def verify_signatures(ctx: Context) -> Next:
    """With repo.verify set, every commit that would start running must carry a good signature.

    That is every commit reachable from what is about to run and not from what ran last: upstream
    commits, merges (an unsigned merge of two signed parents can carry any tree) and commits made
    in the tree on the server. Exceptions: merges syncd made itself (recorded in its root-only
    state), and with repo.trust_local_commits the commits of the local branch that upstream lacks.
    """
    repo = ctx.cfg.repo
    if repo.verify == "none":
        return GO
    head = known(ctx.head, "HEAD")
    tips = [ctx.target] if ctx.target else [head, known(ctx.upstream, "the upstream tip")]
    base = ctx.state.deployed or head  # the first sync adopts what the operator checked out
    if ctx.git.rev(base) is None:
        raise Blocked(
            f"repo.verify: the last deployed commit {short(base)} is gone from {repo.path}, so syncd "
            "cannot tell which commits are new; fetch it back, or delete status.json in the state "
            "directory to adopt the tree as it is"
        )
    new = ctx.git.rev_list(tips, [base])
    if not new:
        return GO
    trusted = set(ctx.state.own_merges())
    if repo.trust_local_commits and ctx.upstream:
        trusted |= set(ctx.git.rev_list([head], [ctx.upstream, base]))
    to_check = [sha for sha in new if sha not in trusted]
    local = set(ctx.git.rev_list([head], [ctx.upstream])) if ctx.upstream else set()
    raw = ctx.git.raw_commits(to_check)
    allowed = _allowed_signers(repo)
    for sha in to_check:
        why = _verify_one(repo.verify, raw[sha], allowed, repo.allowed_signers)
        if why is not None:
            where = f"made in {repo.path} on {ctx.branch}" if sha in local else "upstream"
            hint = (
                "; sign it, or set repo.trust_local_commits = true to accept commits made on the server"
                if sha in local and repo.local_branch
                else ""
            )
            raise Blocked(f"commit {short(sha)} ({where}) has no good {repo.verify} signature: {why}{hint}")
    return GO


def _allowed_signers(repo: RepoConfig) -> bytes:
    """Read once, as root, from the file root trusts (syncd/trust.py checked who can change it)."""
    try:
        return known(repo.allowed_signers, "repo.allowed_signers").read_bytes()
    except OSError as exc:
        raise Blocked(f"repo.allowed_signers {repo.allowed_signers}: cannot read: {exc.strerror}") from None


def _verify_one(kind: str, raw: bytes, allowed: bytes, allowed_path: Path | None) -> str | None:
    from syncd.tools import signatures

    if kind == "ssh":
        return signatures.verify_ssh(raw, allowed)
    return signatures.verify_gpg(raw, known(allowed_path, "repo.allowed_signers"))


def decide(ctx: Context) -> Next:
    """Pick the commit to run and say why; raise Blocked for force pushes and quarantine."""
    git, cfg, state = ctx.git, ctx.cfg, ctx.state
    if ctx.rollback_to:
        target = git.rev(ctx.rollback_to)
        if target is None:
            raise Blocked(f"rollback: {ctx.rollback_to} is not a commit in {cfg.repo.path}")
        ctx.target = target
        ctx.reasons.append(f"rollback to {short(target)}")
        return GO
    head, upstream = known(ctx.head, "HEAD"), known(ctx.upstream, "the upstream tip")
    news = ctx.news  # None: upstream brings nothing HEAD lacks
    last = state.last_upstream
    # (an old upstream gone from the repo is no force push: its existence asked only when it counts)
    forced = bool(
        last
        and last != upstream
        and not (news and news.has(last))
        and not git.is_ancestor(last, upstream)
        and git.rev(last) is not None
    )
    if forced and not cfg.repo.allow_force_push:
        raise Blocked(
            f"upstream {cfg.repo.branch} was force-pushed: {short(upstream)} does not descend "
            f"from {short(last)} (set repo.allow_force_push = true to accept)"
        )
    if news is None:
        ctx.target = head  # nothing new upstream
    elif upstream in state.quarantined():
        raise Blocked(
            f"upstream {short(upstream)} is quarantined (it failed its health check); "
            "push a new commit, or `syncd rollback`"
        )
    elif cfg.repo.local_branch:
        tree, conflicts = git.merge_tree(head, upstream)
        if conflicts:
            raise Blocked(
                f"merge conflict in {', '.join(conflicts)} merging {short(upstream)} "
                f"into {cfg.repo.local_branch}"
            )
        ctx.merge_tree = tree
        ctx.reasons.append(f"upstream moved to {short(upstream)}")
    elif head in news.boundary:  # HEAD is an ancestor of upstream: a fast-forward
        ctx.target = upstream
        ctx.reasons.append(f"upstream moved to {short(upstream)}")
    elif forced and last and (head == last or git.is_ancestor(head, last)):
        ctx.target = upstream  # accepted force push; HEAD holds no commit of its own
        ctx.reasons.append(f"upstream force-pushed to {short(upstream)}")
    else:
        raise Blocked(
            f"{cfg.repo.branch} in {cfg.repo.path} has commits that are not upstream; "
            "use repo.local_branch for server-only commits"
        )
    if ctx.merge_tree and not ctx.dry_run:  # the merge commit is made while the tree is checked
        ctx.merge_commit, _ = _meanwhile(
            lambda: _make_merge_commit(ctx), lambda: _refuse_to_overwrite_untracked(ctx, ctx.tree_to_run)
        )
    else:
        _refuse_to_overwrite_untracked(ctx, ctx.tree_to_run)
    if ctx.target and ctx.target != state.deployed:
        ctx.reasons.append(
            f"{short(ctx.target)} not deployed yet"
            if state.deployed
            else f"first sync: adopt {short(ctx.target)}"
        )
    return GO


def _make_merge_commit(ctx: Context) -> str:
    """The merge of upstream into the local branch, as a commit object no ref names yet (nothing
    moves: begin_journal makes it the target, move_tree moves the branch to it)."""
    head, upstream = known(ctx.head, "HEAD"), known(ctx.upstream, "the upstream tip")
    repo = ctx.cfg.repo
    message = f"Merge {repo.remote}/{repo.branch} ({short(upstream)}) into {ctx.branch}\n\nMade by syncd."
    return ctx.git.commit_tree(known(ctx.merge_tree, "the merged tree"), [head, upstream], message)


def _refuse_to_overwrite_untracked(ctx: Context, tree_ish: str) -> None:
    """A file the deploy adds must not already sit in the tree untracked (or git-ignored): git would
    refuse, or overwrite an ignored one. Checked per added path, so the cost follows the change."""
    head = known(ctx.head, "HEAD")
    if tree_ish == head:
        return
    in_the_way = [p for p in ctx.git.added_paths(head, tree_ish) if os.path.lexists(ctx.cfg.repo.path / p)]
    if in_the_way:
        raise Blocked(
            f"the new version adds {', '.join(in_the_way[:5])}, which already exist(s) untracked in "
            f"{ctx.cfg.repo.path}; move them away or commit them on {ctx.branch}"
        )


def plan_environment(ctx: Context) -> Next:
    """[python]: which environment the target runs in (named by its requirements, from git objects)."""
    if ctx.cfg.python is None:
        return GO
    from syncd.environments import MAX_REQUIREMENTS, Environments, env_name

    envs = ctx.environments = Environments(ctx.cfg.python, ctx.cfg.repo.path, ctx.owner, ctx.should_stop)
    rel = ctx.cfg.python.requirements
    requirements = ctx.git.read_blob(ctx.tree_to_run, rel)
    if requirements is None:
        raise Blocked(f"python.requirements: {rel} is not in {short(ctx.target or ctx.upstream)}")
    if len(requirements) > MAX_REQUIREMENTS:
        raise Blocked(f"python.requirements: {rel} is larger than {MAX_REQUIREMENTS} bytes")
    ctx.requirements, ctx.environment = requirements, env_name(requirements, ctx.cfg.python.python)
    ctx.venv_before = envs.current_target()
    running = envs.name_of(ctx.venv_before)
    ctx.environment_changed = running != ctx.environment or not envs.is_built(ctx.environment)
    if ctx.environment_changed:
        ctx.reasons.append(
            f"python environment {ctx.environment}" + (f" replaces {running}" if running else "")
        )
    return GO


def build_environment(ctx: Context) -> Next:
    """Build the target's environment as the owner, before anything moves; reuse it when it exists."""
    if ctx.environment_changed:
        envs, name = known(ctx.environments, "[python]"), known(ctx.environment, "the environment")
        if envs.ensure_built(name, known(ctx.requirements, "the requirements")):
            _LOG.info("built python environment %s", ctx.environment)
        else:
            _LOG.info("reusing python environment %s", ctx.environment)
    return GO


def render_plan(ctx: Context) -> Next:
    """Render the environment of the commit to run and compare it with what is installed."""
    tree_ish = ctx.tree_to_run
    secrets_path = secrets_dir(ctx.cfg, ctx.systemctl.unit_dir())
    ctx.rendered = render(ctx.cfg, lambda rel: ctx.git.read_blob(tree_ish, rel), secrets_path)
    ctx.installed_dropin = fsutil.read_bytes(ctx.dropin_path)
    ctx.dropin_changed = ctx.rendered.dropin != ctx.installed_dropin and not (
        ctx.installed_dropin is None and ctx.rendered.empty
    )  # no env configured, none installed: the same
    ctx.secrets_changed = ctx.rendered.secret_files != installed_secret_files(secrets_path)
    if ctx.dropin_changed or ctx.secrets_changed:
        ctx.reasons.append(
            "environment changed" if ctx.installed_dropin is not None else "drop-in not installed yet"
        )
    adopt_only = (
        ctx.state.deployed is None
        and ctx.target == ctx.head
        and not (ctx.dropin_changed or ctx.secrets_changed or ctx.environment_changed)
    )
    if adopt_only:
        ctx.reasons.clear()
    if not ctx.reasons:
        ctx.result, ctx.reason = Result.UP_TO_DATE, (f"adopted {short(ctx.head)}" if adopt_only else None)
        return STOP
    if ctx.dry_run:
        ctx.result, ctx.reason = Result.PLANNED, "; ".join(ctx.reasons)
        return STOP
    return GO


def wait_for_quiet(ctx: Context) -> Next:
    """[drain] and schedule.windows: a ready deploy waits, with nothing moved, until the pipeline is
    idle inside a restart window. Waiting ends this sync ("waiting"); the caller looks again later."""
    from syncd import gate

    if ctx.now or ctx.dry_run or not gate.configured(ctx.cfg):
        return GO
    waiting = ctx.state.status().get("waiting") or {}
    verdict = gate.check(ctx.cfg, ctx.owner, waiting.get("busy_since"))
    if verdict.note:
        _LOG.warning("%s", verdict.note)
        ctx.reasons.append("pipeline still busy after drain.max_wait")
    if verdict.cause is None:
        return GO
    commit = ctx.target or ctx.upstream
    ctx.result, ctx.reason = (Result.SKIPPED if verdict.skip else Result.WAITING), verdict.cause
    ctx.state.update_status(
        waiting={
            "cause": verdict.cause,
            "commit": commit,
            "busy_since": verdict.busy_since,
            "since": waiting.get("since") or now_iso(),
            "skipped": verdict.skip,
        }
    )
    return STOP
