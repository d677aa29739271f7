"""Mutating steps. The journal is written before the first of them; any failure is undone."""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING

from syncd import fsutil, log
from syncd.config import HealthConfig
from syncd.deploy.context import GO, Context, Next, known
from syncd.errors import StepFailed, SyncdError, Unhealthy, VersionFailed
from syncd.journal import Entry, encode
from syncd.render.environment import install_secret_files, secrets_dir
from syncd.state import now_iso
from syncd.text import short

if TYPE_CHECKING:
    from syncd.health import Verdict

_LOG = log.get("deploy")


def begin_journal(ctx: Context) -> Next:
    """Write the journal naming the commit to run (the merge commit, with a local branch)."""
    from syncd.deploy.prepare import check_unit_loads

    check_unit_loads(ctx)  # the last look before anything moves
    if ctx.merge_tree:  # the merge commit decide made: no ref names it yet, nothing has moved
        ctx.target = known(ctx.merge_commit, "the merge commit")
    had_secrets = bool(ctx.state.status().get("dropin_has_secrets"))
    entry = Entry(
        previous=known(ctx.head, "HEAD"),
        target=ctx.target,
        branch=ctx.branch,
        upstream=ctx.upstream,
        trigger=ctx.trigger,
        started=now_iso(),
        dropin_path=str(ctx.dropin_path),
        dropin_previous_b64=None if had_secrets else encode(ctx.installed_dropin),
        dropin_previous_had_secrets=had_secrets,
        env_previous=ctx.state.status().get("env_rendered_with"),
        venv_link=str(ctx.environments.link) if ctx.environments else None,
        venv_previous=ctx.venv_before,
        health_previous=ctx.state.status().get("health_deployed_with"),
    )
    ctx.journal.write(entry)
    ctx.entry = entry  # only once it is on disk: a journal that cannot be written moved nothing
    return GO


def move_tree(ctx: Context) -> Next:
    """Move the branch and the working tree to the target: the merge commit, or upstream's tip."""
    head, target = known(ctx.head, "HEAD"), known(ctx.target, "the target")
    if target != head:
        ctx.git.move_branch(target)
        # (the journal says what to undo whatever the phase: no write here, the restart is waiting)
    return GO


def keep_repository_tidy(ctx: Context) -> None:
    """Once the outcome is recorded, off the restart's path: keep the commit that ran before a
    deploy reachable as refs/syncd/previous (a rollback target survives a force push and gc), and
    run git's automatic housekeeping when the fetch brought objects. A failure is only a warning."""
    try:
        if ctx.entry is not None and ctx.head:
            ctx.git.update_ref("refs/syncd/previous", ctx.head)
        if ctx.entry is not None or ctx.fetched_new:
            ctx.git.maintain()
    except SyncdError as exc:
        _LOG.warning("git housekeeping in %s: %s", ctx.cfg.repo.path, exc)


def write_environment(ctx: Context) -> Next:
    """Install drop-in and secret files (only when their bytes change), then daemon-reload."""
    rendered = known(ctx.rendered, "the rendered environment")
    install_secret_files(secrets_dir(ctx.cfg, ctx.systemctl.unit_dir()), rendered.secret_files)
    if ctx.dropin_changed:
        fsutil.ensure_dir(ctx.dropin_path.parent, 0o755)
        fsutil.atomic_write(ctx.dropin_path, rendered.dropin, rendered.dropin_mode)
        reload_units(ctx)
    return GO


def switch_environment(ctx: Context) -> Next:
    """Point the tree's `venv` at the target's environment (built before anything moved)."""
    if ctx.environment_changed:
        envs = known(ctx.environments, "[python]")
        envs.switch(str(envs.path(known(ctx.environment, "the environment"))))
        _LOG.info("venv -> environment %s", ctx.environment)
    return GO


def reload_units(ctx: Context) -> None:
    """A restart without daemon-reload silently keeps the old environment."""
    ctx.systemctl.daemon_reload()
    need = ctx.systemctl.show(ctx.cfg.service.unit, "NeedDaemonReload").get("NeedDaemonReload")
    if need == "yes":
        raise StepFailed(f"{ctx.cfg.service.unit} still needs daemon-reload after daemon-reload")


def chown_changed(ctx: Context) -> Next:
    if not ctx.cfg.service.owner or ctx.target == ctx.head:
        return GO
    from syncd.chown import chown_changed as chown

    paths = ctx.git.changed_paths(known(ctx.head, "HEAD"), known(ctx.target, "the target"))
    report = chown(ctx.cfg.repo.path, paths, ctx.owner.uid, ctx.owner.gid)  # owner resolved once, in context
    _LOG.info("chown: %d changed path(s) to %s (%s)", len(paths), ctx.cfg.service.owner, report.summary())
    return GO


def pre_restart_hooks(ctx: Context) -> Next:
    if not ctx.cfg.hooks.pre_restart:
        return GO
    from syncd.hooks import run_hooks

    # Tree, drop-in and environment are in place; the hooks may take long (a crash now is undone
    # like any other: the phase only tells an operator reading the journal where it stopped).
    ctx.journal.phase(known(ctx.entry, "the journal"), "applied")

    try:
        run_hooks(
            ctx.cfg.hooks.pre_restart,
            who=ctx.owner,
            cwd=ctx.cfg.repo.path,
            timeout=ctx.cfg.hooks.timeout,
            extra_env=hook_env(ctx),
            should_stop=ctx.should_stop,
        )
    except StepFailed as exc:  # the new version's own step: undone, tried again at the next trigger
        raise VersionFailed(f"pre_restart {exc}") from None
    return GO


def hook_env(ctx: Context, result: str = "") -> dict[str, str]:
    env = {
        "SYNCD_UNIT": ctx.cfg.service.unit,
        "SYNCD_FROM": ctx.head or "",
        "SYNCD_TO": ctx.target or "",
        "SYNCD_TRIGGER": ctx.trigger,
    }
    if result:
        env["SYNCD_RESULT"] = result
    return env


def restart(ctx: Context) -> Next:
    ctx.journal.phase(known(ctx.entry, "the journal"), "restarting")
    restart_unit(ctx)
    return GO


def restart_unit(ctx: Context, health: HealthConfig | None = None) -> None:
    """Restart the unit for a deploy or an undo. Its failed state and start-rate limit are cleared
    first: a crash loop of the running version, or many deploys in an hour, must not make systemd
    refuse a restart syncd asks for. A restart that fails in a new invocation is the version's fault
    (Unhealthy); one systemd refused without starting anything is syncd's (StepFailed)."""
    unit, timeout = ctx.cfg.service.unit, (health or ctx.cfg.health).timeout
    before = ctx.systemctl.show(unit, "ActiveState", "Result", "InvocationID")
    if before.get("ActiveState") == "failed":
        _LOG.warning(
            "%s is failed (Result=%s): reset-failed clears it and its start limit before the restart",
            unit,
            before.get("Result"),
        )
    else:
        _LOG.info(
            "%s: reset-failed before the restart (clears the start limit, so systemd does not refuse it)",
            unit,
        )
    ctx.systemctl.reset_failed(unit)
    ctx.restarted_at = time.time()
    try:
        ctx.systemctl.restart(unit, timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        raise Unhealthy(f"restart of {unit} did not finish within health.timeout ({timeout:g}s)") from None
    except Exception as exc:  # systemctl says the start job failed, or refused it
        why = f"restart of {unit} failed: {getattr(exc, 'stderr', exc)}".strip()
        started = ctx.systemctl.show(unit, "InvocationID").get("InvocationID")
        raise (Unhealthy if started and started != before.get("InvocationID") else StepFailed)(why) from None


def judge(ctx: Context) -> Next:
    verdict = judge_unit(ctx)
    if not verdict.healthy:
        raise Unhealthy(f"unhealthy: {verdict.reason}")
    _LOG.info("healthy at %s (%.1fs)", short(ctx.target), verdict.elapsed_s)
    return GO


def judge_unit(ctx: Context, health: HealthConfig | None = None) -> Verdict:
    from syncd.health import judge as judge_health, take_snapshot

    after = take_snapshot(ctx.systemctl, ctx.cfg.service.unit)
    return judge_health(
        ctx.systemctl,
        ctx.cfg.service.unit,
        health or ctx.cfg.health,
        after=after,
        run_as=ctx.owner,
        cwd=ctx.cfg.repo.path,
    )


def failed_start_tail(ctx: Context, limit: int = 10) -> list[str]:
    """The last lines the unit logged since syncd's restart (its failed start), secret values masked:
    what the operator would look for first with journalctl, put into the reason."""
    from syncd.notify.event import mask
    from syncd.tools.journalctl import Journalctl

    unit = ctx.cfg.service.unit
    try:
        invocation = ctx.systemctl.show(unit, "InvocationID").get("InvocationID") or None
    except SyncdError:
        invocation = None
    lines = Journalctl(ctx.cfg.service.scope).unit_lines(
        unit, invocation_id=invocation, since=ctx.restarted_at, until=time.time(), limit=limit
    )
    secrets = ctx.rendered.secret_values if ctx.rendered is not None else ()
    return [mask(line, secrets) for line in lines]
