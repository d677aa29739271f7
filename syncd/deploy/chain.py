"""One reconcile, as a chain of steps (Flux-style): each Step runs on the context and returns
Next.GO or Next.STOP, or raises. Read-only steps come first; the journal is written before the
first mutation, and any failure after it is undone.

    lock → recover → preflight → fetch → decide → verify → plan env → render → build env
         → wait for quiet ([drain], windows)
         → journal → merge → write drop-in → switch venv → chown → hooks → restart → judge → record   (or undo)
"""

from __future__ import annotations

import time
from typing import Unpack

from syncd import log, trust
from syncd.config import Config
from syncd.deploy import Outcome
from syncd.deploy.apply import (
    begin_journal,
    chown_changed,
    failed_start_tail,
    judge,
    keep_repository_tidy,
    move_tree,
    pre_restart_hooks,
    restart,
    switch_environment,
    write_environment,
)
from syncd.deploy.context import GO, Context, Next, Options, Step, make_context
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
from syncd.deploy.record import Ending, record_outcome, run_hooks_after, status_fields
from syncd.deploy.undo import put_back, undo
from syncd.errors import Blocked, ConfigError, StepFailed, StorageError, SyncdError, Unhealthy, VersionFailed
from syncd.lock import SyncLock
from syncd.metrics import write_textfile
from syncd.result import Result
from syncd.text import short

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


class Stopped(Exception):
    """SIGTERM arrived: stop at this safe point."""


def run_reconcile(
    cfg: Config,
    *,
    lock_wait: bool = True,
    recover_only: bool = False,
    unless_paused: bool = False,
    **options: Unpack[Options],
) -> Outcome:
    trust.require(cfg)  # checked at each sync: a daemon runs for months
    ctx = make_context(cfg, **options)
    with SyncLock(cfg.state_dir, wait=lock_wait, should_stop=ctx.should_stop):
        if ctx.dry_run and ctx.journal.load() is not None:
            why = "an interrupted deploy would be undone first (run syncd sync)"
            return _ended(Result.PLANNED, why, ctx.state.deployed)
        recover(ctx)
        if recover_only:
            return _ended(Result.RECOVERED, None, ctx.state.deployed, ctx.state.status().get("upstream"))
        if unless_paused and ctx.state.paused:  # looked at under the lock: a rollback that just ended pauses
            return _ended(Result.PAUSED, "automatic syncs are paused", ctx.state.deployed)
        try:
            if run_steps(ctx, PREPARE) and run_steps(ctx, APPLY):
                ctx.result, ctx.reason = Result.DEPLOYED, "; ".join(ctx.reasons)
        except Stopped:
            ctx.result, ctx.reason = Result.STOPPED, "stopped before deploying"
        except ConfigError:  # the unit does not load: refused before anything moved (exit 2)
            raise
        except Blocked as exc:
            if ctx.entry is None:
                ctx.result, ctx.reason = Result.BLOCKED, str(exc)
            else:  # too late to be "untouched": undo like any other failure
                roll_back(ctx, exc)
        except Exception as exc:  # noqa: BLE001 - any failure after the journal must be undone
            if ctx.entry is None:
                ctx.result, ctx.reason = Result.ERROR, _describe(exc)
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
    _LOG.info("step %s done (%.3fs) %s", step.name, time.monotonic() - t0, _commit_of(ctx))
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
    rolled_back = healthy and (isinstance(exc, VersionFailed) or stopping)
    ctx.result = Result.ROLLED_BACK if rolled_back else Result.ERROR
    ctx.reason = why + (f"; {note}" if note else "")
    if ctx.cfg.hooks.pre_restart:
        _LOG.warning(
            "rollback: changes hooks made outside the tree are not undone ([python] rolls a venv back)"
        )
    run_hooks_after(ctx, "on_failure", ctx.cfg.hooks.on_failure)


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
    healthy, note = put_back(ctx, entry, after_crash=True)
    ctx.journal.clear()
    result = Result.ROLLED_BACK if healthy else Result.ERROR
    reason = "interrupted deploy undone" + (f"; {note}" if note else "")
    end = Ending(
        result,
        reason,
        frm=entry.target,
        to=entry.previous,
        running=entry.previous,
        duration_s=0.0,
        trigger="recovery",
        moved=True,
        restarted=False,
    )
    record_outcome(ctx, end, lambda previous: {"deployed": entry.previous})
    ctx.head = None


def finish(ctx: Context) -> Outcome:
    """Record how the sync ended (record_outcome), unless it is a result that records nothing."""
    result = ctx.result
    assert result is not None, "every way out of the chain sets a result"
    if ctx.dry_run or not result.recorded:  # a dry run records nothing
        if result.held_back and not ctx.dry_run:  # the last result stands; status shows `waiting`
            write_textfile(ctx.cfg)
        if not ctx.dry_run:
            keep_repository_tidy(ctx)
        return _ended(result, ctx.reason, ctx.state.deployed, ctx.upstream)
    duration = round(time.monotonic() - ctx.started, 3)
    deployed = ctx.target if result.ok else ctx.head
    moved = ctx.entry is not None
    end = Ending(
        result,
        ctx.reason,
        frm=ctx.failed or ctx.head,  # a rollback goes from the version that failed back to the old one
        to=ctx.target,
        running=deployed,
        duration_s=duration,
        trigger=ctx.trigger,
        moved=moved,
        restarted=moved,
    )
    record_outcome(ctx, end, lambda previous: status_fields(ctx, result, deployed, previous))
    keep_repository_tidy(ctx)
    return _ended(result, ctx.reason, deployed, ctx.upstream, retry_later=ctx.fetch_failed)


def _ended(
    result: Result,
    reason: str | None,
    deployed: str | None,
    upstream: str | None = None,
    retry_later: bool = False,
) -> Outcome:
    return Outcome(result, reason, result.exit_code, deployed, upstream, retry_later)


def _commit_of(ctx: Context) -> str:
    sha = ctx.target or ctx.upstream
    return short(sha) if sha else ""


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, SyncdError) else f"{type(exc).__name__}: {exc}"
