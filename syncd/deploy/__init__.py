"""The deploy transaction: one reconcile of a service from its git repo (see chain.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from syncd.records import dataclass
from syncd.result import Result

if TYPE_CHECKING:  # `syncd status` imports this package: the chain is imported by reconcile()
    from syncd.config import Config
    from syncd.deploy.context import Step


@dataclass
class Outcome:
    result: Result
    reason: str | None
    exit_code: int
    deployed: str | None = None  # sha running after this reconcile
    upstream: str | None = None  # upstream tip seen
    retry_later: bool = False  # failed outside syncd's reach (the fetch): the daemon backs off


def reconcile(
    cfg: Config,
    *,
    dry_run: bool = False,
    trigger: str = "cli",
    rollback_to: str | None = None,
    lock_wait: bool = True,
    on_step: Callable[[Step, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    recover_only: bool = False,
    now: bool = False,
    unless_paused: bool = False,
) -> Outcome:
    """Run one reconcile under the per-config lock.

    on_step(step, short_commit) is called as each Step starts (the daemon shows its label in STATUS=,
    `syncd sync` prints its name);
    should_stop() is polled between steps (SIGTERM): before the first mutation the reconcile just
    stops, after it the deploy is undone, so nothing is left half-done. recover_only=True only
    undoes a deploy an earlier syncd left interrupted (a paused daemon does that at start).
    now=True restarts at once whatever [drain] and schedule.windows say; otherwise a ready deploy
    they hold back ends as "waiting" (nothing moved; status shows why) and the caller looks again.
    unless_paused=True (the daemon) looks at the pause flag under the lock and does nothing when set.
    """
    from syncd.deploy.chain import run_reconcile

    return run_reconcile(
        cfg,
        dry_run=dry_run,
        trigger=trigger,
        rollback_to=rollback_to,
        lock_wait=lock_wait,
        on_step=on_step,
        should_stop=should_stop,
        recover_only=recover_only,
        now=now,
        unless_paused=unless_paused,
    )
