"""Recording a reconcile's result: status.json, history.json, the pause a rollback leaves."""

from __future__ import annotations

from syncd.deploy.context import Context
from syncd.deploy.undo import env_settings, health_settings, keep_environments
from syncd.state import State, now_iso


def record(ctx: Context, deployed: str | None, duration: float) -> bool:
    """Write status and history; True when this sync made a history entry (and is worth telling)."""
    previous = ctx.state.status()
    fields = {
        "result": ctx.result,
        "reason": ctx.reason,
        "last_sync": now_iso(),
        "upstream": ctx.upstream,
        "waiting": None,
    }
    if ctx.result in ("deployed", "up-to-date", "rolled-back"):
        fields["deployed"] = deployed
        if ctx.upstream and not ctx.rollback_to:
            fields["upstream_seen"] = ctx.upstream
    if ctx.result == "deployed":
        fields["dropin_has_secrets"] = bool(ctx.rendered and ctx.rendered.has_inline_secrets)
    if ctx.result in ("deployed", "up-to-date"):
        # An undo must re-render the previous version with the [env] it ran with, not today's,
        # and judge it with the [health] it was deployed with (adopted: today's, once).
        fields["env_rendered_with"] = env_settings(ctx.cfg.env)
        if ctx.result == "deployed" or not previous.get("health_deployed_with"):
            fields["health_deployed_with"] = health_settings(ctx.cfg.health)
    if ctx.result in ("deployed", "up-to-date") and ctx.environments:
        fields.update(keep_environments(ctx))
    ctx.state.update_status(**fields)
    if ctx.entry is not None:
        ctx.journal.clear()
    # Every deploy that moved something is history; a repeated identical blocked/error state is folded.
    noteworthy = (
        ctx.entry is not None
        or ctx.result in ("deployed", "rolled-back")
        or (
            ctx.result in ("blocked", "error")
            and (previous.get("result"), previous.get("reason")) != (ctx.result, ctx.reason)
        )
    )
    if noteworthy:
        frm = ctx.failed or ctx.head  # a rollback goes from the version that failed back to the old one
        append_history(ctx.state, frm, ctx.target, ctx.result, ctx.reason, duration, ctx.trigger)
    if ctx.rollback_to and ctx.result in (
        "deployed",
        "up-to-date",
    ):  # paused under the lock: no trigger slips in
        ctx.state.set_paused(True, f"paused by syncd rollback to {ctx.rollback_to}")
    return noteworthy


def append_history(
    state: State,
    frm: str | None,
    to: str | None,
    result: str | None,
    reason: str | None,
    duration: float,
    trigger: str,
) -> None:
    """One history.json entry (docs/interface.md); a recovered deploy's as well as a finished one's."""
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
