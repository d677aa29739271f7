"""Recording how a sync ended, once: status.json, history.json, the pause a rollback leaves, the log
line, post_deploy hooks, then telling it (notify, metrics). A finished sync and the undo of an
interrupted one are both recorded here."""

from __future__ import annotations

from collections.abc import Callable

from syncd import log
from syncd.deploy.context import Context, Json
from syncd.deploy.report import after_sync
from syncd.deploy.undo import env_settings, health_settings, keep_environments
from syncd.errors import StorageError, SyncdError
from syncd.records import dataclass
from syncd.result import Result
from syncd.state import State, now_iso
from syncd.text import short

_LOG = log.get("deploy")

# The status.json fields a result sets besides result, reason and last_sync, given the status before.
StatusFields = Callable[[Json], Json]


@dataclass(frozen=True)
class Ending:
    """How one sync (or the undo of an interrupted deploy) ended."""

    result: Result
    reason: str | None
    frm: str | None  # the commit that ran before (for a rollback: the one that failed)
    to: str | None  # the commit this sync went to (for a rollback: the one that runs again)
    running: str | None  # the commit that runs now, when this sync knows it
    duration_s: float
    trigger: str
    moved: bool  # a deploy moved something (there was a journal): always a history entry
    restarted: bool  # counted as a deploy's duration (syncd_deploy_duration_seconds)


def record_outcome(ctx: Context, end: Ending, fields: StatusFields) -> None:
    """The one place a sync's end is recorded and told; telling never changes the result."""
    noteworthy = True
    try:
        noteworthy = record(ctx, end, fields)
    except StorageError as exc:  # a full or read-only state dir: say it once, keep what is there
        _LOG.error("cannot record the result: %s", exc)
    _LOG.log(
        end.result.level,
        "%s %s%s (%.1fs)",
        end.result,
        short(end.running),
        f": {end.reason}" if end.reason else "",
        end.duration_s,
    )
    if end.result is Result.DEPLOYED:
        run_hooks_after(ctx, "post_deploy", ctx.cfg.hooks.post_deploy)
    after_sync(
        ctx,
        result=end.result,
        reason=end.reason,
        frm=end.frm,
        to=end.to,
        running=end.running or ctx.state.deployed,
        duration_s=end.duration_s,
        noteworthy=noteworthy,
        restarted=end.restarted,
    )


def record(ctx: Context, end: Ending, fields: StatusFields) -> bool:
    """Write status and history; True when this made a history entry (and is worth telling)."""
    previous = ctx.state.status()
    if end.result is Result.DEPLOYED and ctx.merge_tree and ctx.target:
        # Root-only proof that this unsigned merge is syncd's (repo.verify trusts it later). Written
        # once it runs, before status says so: a deploy undone never runs its merge.
        ctx.state.remember_own_merge(ctx.target)
    ctx.state.update_status(result=end.result, reason=end.reason, last_sync=now_iso(), **fields(previous))
    if ctx.entry is not None:
        ctx.journal.clear()
    # Every deploy that moved something is history; a repeated identical blocked/error state is folded.
    noteworthy = (
        end.moved
        or end.result.always_history
        or (
            end.result.folded and (previous.get("result"), previous.get("reason")) != (end.result, end.reason)
        )
    )
    if noteworthy:
        append_history(ctx.state, end.frm, end.to, end.result, end.reason, end.duration_s, end.trigger)
    if ctx.rollback_to and end.result.ok:  # paused under the lock: no trigger slips in
        ctx.state.set_paused(True, f"paused by syncd rollback to {ctx.rollback_to}")
    return noteworthy


def status_fields(ctx: Context, result: Result, deployed: str | None, previous: Json) -> Json:
    """What a finished sync writes to status.json besides its result."""
    fields: Json = {"upstream": ctx.upstream, "waiting": None}
    if result.known_running:
        fields["deployed"] = deployed
        if ctx.upstream and not ctx.rollback_to:
            fields["upstream_seen"] = ctx.upstream
    if result is Result.DEPLOYED:
        fields["dropin_has_secrets"] = bool(ctx.rendered and ctx.rendered.has_inline_secrets)
    if result.ok:
        # An undo must re-render the previous version with the [env] it ran with, not today's,
        # and judge it with the [health] it was deployed with (adopted: today's, once).
        fields["env_rendered_with"] = env_settings(ctx.cfg.env)
        if result is Result.DEPLOYED or not previous.get("health_deployed_with"):
            fields["health_deployed_with"] = health_settings(ctx.cfg.health)
        if ctx.environments:
            fields.update(keep_environments(ctx, ctx.environments))
    return fields


def append_history(
    state: State,
    frm: str | None,
    to: str | None,
    result: Result,
    reason: str | None,
    duration: float,
    trigger: str,
) -> None:
    """One history.json entry (docs/interface.md)."""
    state.append_history(
        {
            "time": now_iso(),
            "from": frm,
            "to": to,
            "result": result,
            "reason": reason,
            "duration_s": duration,
            "trigger": trigger,
        }
    )


def run_hooks_after(ctx: Context, which: str, hooks: tuple[tuple[str, ...], ...]) -> None:
    """post_deploy and on_failure run once the result is known; their failure is only a warning."""
    if not hooks:
        return
    from syncd.deploy.apply import hook_env
    from syncd.hooks import run_hooks

    try:
        run_hooks(
            hooks,
            who=ctx.owner,
            cwd=ctx.cfg.repo.path,
            timeout=ctx.cfg.hooks.timeout,
            extra_env=hook_env(ctx, ctx.result or ""),
        )
    except SyncdError as exc:
        _LOG.warning("%s hook: %s", which, exc)
