"""One reconcile, as a chain of steps (Flux-style): each Step runs on the context and returns
Next.GO or Next.STOP, or raises. Read-only steps come first; the journal is written before the
first mutation, and any failure after it is undone.

    lock → recover → preflight → fetch → decide → verify → plan env → render → build env
         → wait for quiet ([drain], windows)
         → journal → merge → write drop-in → switch venv → chown → hooks → restart → judge → record   (or undo)
"""

from __future__ import annotations

import time

from syncd import log, trust
from syncd.deploy import Outcome
from syncd.deploy.apply import (
    begin_journal,
    chown_changed,
    failed_start_tail,
    hook_env,
    judge,
    move_tree,
    pre_restart_hooks,
    restart,
    switch_environment,
    write_environment,
)
from syncd.deploy.context import GO, Context, Next, Step, make_context, short
from syncd.deploy.prepare import (
    build_environment,
    decide,
    fetch,
    plan_environment,
    preflight,
    render_plan,
    verify_signatures,
    wait_for_quiet,
)
from syncd.deploy.report import after_sync
from syncd.metrics import write_textfile
from syncd.deploy.record import append_history, record
from syncd.deploy.undo import put_back, undo
from syncd.errors import (
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_OK,
    Blocked,
    ConfigError,
    StepFailed,
    StorageError,
    SyncdError,
    Unhealthy,
    VersionFailed,
)
from syncd.lock import SyncLock
from syncd.state import now_iso

PREPARE = (  # read-only: a Blocked leaves everything untouched
    Step(preflight, "checking the tree"),
    Step(fetch, "fetching"),
    Step(decide, "deciding"),
    Step(verify_signatures, "verifying signatures of {c}"),
    Step(plan_environment, "deciding"),  # this one and build_environment act only with [python]
    Step(render_plan, "rendering {c}"),
    Step(build_environment, "preparing {c}"),
    Step(wait_for_quiet, "checking [drain] and schedule.windows for {c}"),
)
APPLY = (  # after the journal: any exception is undone
    Step(begin_journal, "deploying {c}"),
    Step(move_tree, "deploying {c}: updating the tree"),
    Step(write_environment, "deploying {c}: writing the drop-in"),
    Step(switch_environment, "deploying {c}"),
    Step(chown_changed, "deploying {c}: chown"),
    Step(pre_restart_hooks, "deploying {c}: pre_restart hooks"),
    Step(restart, "deploying {c}: restarting the unit"),
    Step(judge, "judging the health of {c}"),
)
UNDO = Step(undo, "rolling back to {c}")  # after a failure in APPLY (roll_back)

_LOG = log.get("deploy")
_EXIT = {
    "deployed": EXIT_OK,
    "up-to-date": EXIT_OK,
    "planned": EXIT_OK,
    "stopped": EXIT_OK,
    "rolled-back": EXIT_FAILED,
    "error": EXIT_FAILED,
    "blocked": EXIT_BLOCKED,
    "paused": EXIT_OK,
    "waiting": EXIT_BLOCKED,
    "skipped": EXIT_BLOCKED,
}  # waiting/skipped: nothing moved, see status


class Stopped(Exception):
    """SIGTERM arrived: stop at this safe point."""


def run_reconcile(cfg, *, lock_wait=True, recover_only=False, unless_paused=False, **options) -> Outcome:
    trust.require(cfg)  # checked at each sync: a daemon runs for months
    ctx = make_context(cfg, **options)
    with SyncLock(cfg.state_dir, wait=lock_wait, should_stop=ctx.should_stop):
        if ctx.dry_run and ctx.journal.load() is not None:
            return Outcome(
                "planned",
                "an interrupted deploy would be undone first (run syncd sync)",
                EXIT_OK,
                ctx.state.deployed,
                None,
            )
        recover(ctx)
        if recover_only:
            return Outcome("recovered", None, EXIT_OK, ctx.state.deployed, ctx.state.status().get("upstream"))
        if unless_paused and ctx.state.paused:  # looked at under the lock: a rollback that just ended pauses
            return Outcome("paused", "automatic syncs are paused", EXIT_OK, ctx.state.deployed, None)
        try:
            if run_steps(ctx, PREPARE) and run_steps(ctx, APPLY):
                ctx.result, ctx.reason = "deployed", "; ".join(ctx.reasons)
        except Stopped:
            ctx.result, ctx.reason = "stopped", "stopped before deploying"
        except ConfigError:  # the unit does not load: refused before anything moved (exit 2)
            raise
        except Blocked as exc:
            if ctx.entry is None:
                ctx.result, ctx.reason = "blocked", str(exc)
            else:  # too late to be "untouched": undo like any other failure
                roll_back(ctx, exc)
        except Exception as exc:  # noqa: BLE001 - any failure after the journal must be undone
            if ctx.entry is None:
                ctx.result, ctx.reason = "error", _describe(exc)
            else:
                roll_back(ctx, exc)
        return finish(ctx)


def run_steps(ctx: Context, steps: tuple[Step, ...]) -> bool:
    """True when every step said GO; a step that says STOP has set ctx.result."""
    for step in steps:
        if ctx.should_stop and ctx.should_stop():
            if ctx.entry is None:
                raise Stopped()
            raise StepFailed("syncd is stopping (SIGTERM); deploy undone")
        if run_step(ctx, step, _commit_of(ctx)) is not GO:
            return False
    return True


def run_step(ctx: Context, step: Step, commit: str) -> Next:
    if ctx.on_step:
        ctx.on_step(step, commit)
    t0 = time.monotonic()
    next_ = step.run(ctx)
    # One journal line per step, with the commit and the time it took.
    _LOG.info("step %s done (%.2fs) %s", step.name, time.monotonic() - t0, _commit_of(ctx))
    return next_


def roll_back(ctx: Context, exc: Exception) -> None:
    """Undo. Only a restarted version judged unhealthy is quarantined; when syncd could not do its
    part (state dir, git, systemctl refusing) the result is `error` and the commit may come again."""
    why = _describe(exc)
    stopping = bool(ctx.should_stop and ctx.should_stop())  # interrupted, not judged: no quarantine
    if isinstance(exc, Unhealthy) and ctx.restarted_at:  # read before the undo starts the old version
        ctx.log_tail = failed_start_tail(ctx)
        if ctx.log_tail:
            why += f"; last lines of {ctx.cfg.service.unit}: " + " | ".join(ctx.log_tail)
    _LOG.error(
        "deploy of %s failed: %s; rolling back to %s", short(ctx.target or ctx.upstream), why, short(ctx.head)
    )
    run_step(ctx, UNDO, short(ctx.head))
    healthy, note = ctx.undone or (False, "nothing to undo")
    if (
        isinstance(exc, Unhealthy)
        and ctx.upstream
        and not ctx.rollback_to
        and not stopping
        and ctx.upstream != ctx.head
    ):
        try:
            ctx.state.quarantine(ctx.upstream)
        except StorageError as write_exc:
            note = "; ".join(filter(None, [note, f"not quarantined: {write_exc}"]))
    ctx.failed, ctx.target = ctx.target or ctx.upstream, ctx.head
    ctx.result = "rolled-back" if healthy and (isinstance(exc, VersionFailed) or stopping) else "error"
    ctx.reason = why + (f"; {note}" if note else "")
    if ctx.cfg.hooks.pre_restart:
        _LOG.warning(
            "rollback: changes hooks made outside the tree are not undone ([python] rolls a venv back)"
        )
    _run_hooks_after(ctx, "on_failure", ctx.cfg.hooks.on_failure)


def recover(ctx: Context) -> None:
    """A journal left behind means a syncd died mid-deploy: undo it before anything else."""
    entry = ctx.journal.load()
    if entry is None:
        return
    _LOG.warning(
        "found an interrupted deploy of %s (phase %s); undoing it",
        short(entry.target or entry.upstream),
        entry.phase,
    )
    ctx.head = entry.previous
    healthy, note = put_back(ctx, entry)
    ctx.journal.clear()
    reason = "interrupted deploy undone" + (f"; {note}" if note else "")
    ctx.state.update_status(
        deployed=entry.previous,
        result="rolled-back" if healthy else "error",
        reason=reason,
        last_sync=now_iso(),
    )
    append_history(
        ctx.state,
        entry.target,
        entry.previous,
        "rolled-back" if healthy else "error",
        reason,
        0.0,
        "recovery",
    )
    after_sync(
        ctx,
        result="rolled-back" if healthy else "error",
        reason=reason,
        frm=entry.target,
        to=entry.previous,
        running=entry.previous,
        duration_s=0.0,
        noteworthy=True,
        restarted=False,
    )
    ctx.head = None


def finish(ctx: Context) -> Outcome:
    """Record the result (status, history), clear the journal, run post_deploy hooks."""
    duration = round(time.monotonic() - ctx.started, 3)
    deployed = ctx.target if ctx.result in ("deployed", "up-to-date") else ctx.head
    if ctx.result in ("planned", "stopped") or ctx.dry_run:  # a dry run records nothing
        return Outcome(ctx.result, ctx.reason, _EXIT[ctx.result], ctx.state.deployed, ctx.upstream)
    if ctx.result in ("waiting", "skipped"):  # the last result stands; status shows `waiting`
        write_textfile(ctx.cfg)
        return Outcome(ctx.result, ctx.reason, _EXIT[ctx.result], ctx.state.deployed, ctx.upstream)
    noteworthy = True
    try:
        noteworthy = record(ctx, deployed, duration)
    except StorageError as exc:  # a full or read-only state dir: say it once, keep what is there
        _LOG.error("cannot record the result: %s", exc)
    level = {"deployed": 20, "up-to-date": 20, "blocked": 30}.get(ctx.result, 40)
    _LOG.log(
        level,
        "%s %s%s (%.1fs)",
        ctx.result,
        short(deployed),
        f": {ctx.reason}" if ctx.reason else "",
        duration,
    )
    if ctx.result == "deployed":
        _run_hooks_after(ctx, "post_deploy", ctx.cfg.hooks.post_deploy)
    after_sync(
        ctx,
        result=ctx.result,
        reason=ctx.reason,
        frm=ctx.failed or ctx.head,
        to=ctx.target,
        running=deployed or ctx.state.deployed,
        duration_s=duration,
        noteworthy=noteworthy,
        restarted=ctx.entry is not None,
    )
    return Outcome(
        ctx.result, ctx.reason, _EXIT[ctx.result], deployed, ctx.upstream, retry_later=ctx.fetch_failed
    )


def _run_hooks_after(ctx: Context, which: str, hooks: tuple[tuple[str, ...], ...]) -> None:
    """post_deploy and on_failure run once the result is known; their failure is only a warning."""
    if not hooks:
        return
    from syncd.hooks import run_hooks

    try:
        run_hooks(
            hooks,
            who=ctx.owner,
            cwd=ctx.cfg.repo.path,
            timeout=ctx.cfg.hooks.timeout,
            extra_env=hook_env(ctx, ctx.result),
        )
    except SyncdError as exc:
        _LOG.warning("%s hook: %s", which, exc)


def _commit_of(ctx: Context) -> str:
    sha = ctx.target or ctx.upstream
    return short(sha) if sha else ""


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, SyncdError) else f"{type(exc).__name__}: {exc}"
