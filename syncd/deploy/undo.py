"""Undo a deploy: tree, drop-in and secrets back to what ran before, restart, judge again.

Used for a failed deploy and, from the journal alone, for one interrupted by a crash. Secrets are
re-rendered from the previous commit's encrypted file, never restored from a plaintext backup.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from syncd import fsutil, log
from syncd.config import EnvConfig, HealthConfig
from syncd.deploy.context import STOP, Context, Json, Next
from syncd.errors import SyncdError
from syncd.journal import Entry
from syncd.records import asdict, fields, replace
from syncd.render.environment import Rendered, install_secret_files, render, secrets_dir
from syncd.text import short

if TYPE_CHECKING:  # imported where used: only [python] needs it, and it costs every sync start-up
    from syncd.environments import Environments

_LOG = log.get("undo")


def undo(ctx: Context) -> Next:
    """The chain's undo of a failed deploy (the one in ctx.entry): a step, announced and timed like
    the others; what it found goes in ctx.undone, the chain decides the result."""
    if ctx.entry is not None:
        ctx.undone = put_back(ctx, ctx.entry)
    return STOP


def put_back(ctx: Context, entry: Entry, *, after_crash: bool = False) -> tuple[bool, str]:
    """Put back what ran before `entry`'s deploy; return (healthy_again, note)."""
    notes = []
    if after_crash:  # syncd died mid-deploy, and the gits it ran with it: their locks are stale
        for lock in ctx.git.remove_stale_locks():
            _LOG.warning("removed %s, left by a git killed with syncd", lock)
    head_now = ctx.git.rev("HEAD")
    if head_now != entry.previous:
        if head_now in (entry.target, entry.previous) or entry.target is None:
            ctx.git.move_branch(entry.previous)
        else:  # someone committed meanwhile: never discard their commit
            notes.append(f"{entry.branch} moved to {short(head_now)} meanwhile; tree left there")
    previous = _rerender(ctx, entry.previous, entry.env_previous)
    dropin = previous.dropin if (previous and entry.dropin_previous_had_secrets) else entry.dropin_previous
    path = ctx.dropin_path
    if fsutil.read_bytes(path) != dropin:
        if dropin is None:
            fsutil.remove(path)
        else:
            fsutil.atomic_write(path, dropin, 0o600 if entry.dropin_previous_had_secrets else 0o644)
        ctx.systemctl.daemon_reload()
    install_secret_files(
        secrets_dir(ctx.cfg, ctx.systemctl.unit_dir()), previous.secret_files if previous else {}
    )
    if entry.venv_link:  # [python] only: importing environments costs every sync start-up time
        from syncd.environments import restore_link

        if restore_link(ctx.owner, Path(entry.venv_link), entry.venv_previous):
            _LOG.info("venv switched back to %s", entry.venv_previous)
    healthy = True
    if entry.phase in ("restarting", "judged"):
        from syncd.deploy.apply import judge_unit, restart_unit

        # Judged as it was when it was deployed: today's [health] may probe what only the new version has.
        health = health_config(entry.health_previous, ctx.cfg.health)
        try:
            restart_unit(ctx, health)  # clears the start limit a crash-looping bad version may have hit
            verdict = judge_unit(ctx, health)
            healthy = verdict.healthy
            if not healthy:
                notes.append(f"previous version unhealthy too: {verdict.reason}")
        except SyncdError as exc:
            healthy = False
            notes.append(f"restart of previous version failed: {exc}")
    return healthy, "; ".join(notes)


def keep_environments(ctx: Context, envs: Environments) -> Json:
    """Remove environments beyond python.keep; return the status fields naming the running one
    (`environment`) and those that ran, newest first. Never fails a deploy judged healthy."""
    started = time.monotonic()
    try:
        running = envs.name_of(envs.current_target())
        if running is None:
            return {}
        used = [running] + [n for n in ctx.state.status().get("environments_used", []) if n != running]
        removed = envs.collect(running, envs.name_of(ctx.venv_before), used)
        if removed:
            _LOG.info(
                "removed python environment(s) %s (python.keep = %d)", ", ".join(removed), envs.python.keep
            )
        _LOG.debug("kept python environments (%.3fs)", time.monotonic() - started)
        return {"environment": running, "environments_used": used[:50]}
    except (OSError, SyncdError) as exc:
        _LOG.warning("keeping python environments: %s", exc)
        return {}


def env_settings(env: EnvConfig) -> Json:
    """The [env] config as plain JSON (names, paths, delivery; never a secret value)."""
    return {
        "vars": dict(env.vars),
        "files": list(env.files),
        "secrets": list(env.secrets),
        "key": str(env.key) if env.key else None,
        "secrets_delivery": env.secrets_delivery,
        "required": list(env.required),
    }


def health_settings(health: HealthConfig) -> Json:
    """The [health] config as plain JSON, recorded with each deploy for its undo."""
    return asdict(health)


def health_config(recorded: Json | None, current: HealthConfig) -> HealthConfig:
    if not recorded:
        return current  # recorded by an older syncd that did not keep it
    known = {f.name for f in fields(HealthConfig)}
    values = {k: v for k, v in recorded.items() if k in known}
    if isinstance(values.get("command"), list):
        values["command"] = tuple(values["command"])
    return HealthConfig(**values)


def _rerender(ctx: Context, commit: str, env_previous: Json | None) -> Rendered | None:
    cfg = ctx.cfg
    if env_previous is not None:
        key = env_previous.get("key")
        cfg = replace(
            cfg,
            env=EnvConfig(
                vars=dict(env_previous.get("vars", {})),
                files=tuple(env_previous.get("files", ())),
                secrets=tuple(env_previous.get("secrets", ())),
                key=Path(key) if key else None,
                secrets_delivery=env_previous.get("secrets_delivery", "environment-file"),
                required=tuple(env_previous.get("required", ())),
            ),
        )
    try:
        return render(
            cfg, lambda rel: ctx.git.read_blob(commit, rel), secrets_dir(cfg, ctx.systemctl.unit_dir())
        )
    except SyncdError as exc:
        _LOG.warning("cannot re-render environment of %s for the undo: %s", short(commit), exc)
        return None
