"""`syncd sync [--dry-run]`: one reconcile now, printing each step."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from syncd import log
from syncd.actions.common import load
from syncd.result import Result
from syncd.terminal import printable
from syncd.text import short

if TYPE_CHECKING:  # `syncd status` must start fast: the chain is imported by run()
    from syncd.deploy.context import Step


def register(sub) -> None:
    p = sub.add_parser("sync", help="reconcile once now")
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="report busy instead of waiting for a running sync, or for [drain] / schedule.windows",
    )
    p.add_argument(
        "--now",
        action="store_true",
        help="deploy at once, whatever [drain] (a transfer in progress) and schedule.windows say",
    )
    p.set_defaults(func=run)


def print_step(step: Step, commit: str) -> None:
    print(printable(f"-> {step.name.replace('_', ' ')} {commit}"), flush=True)


def run(args) -> int:
    cfg = load(args)
    if not args.verbose:
        log.quiet_steps()  # steps go to stdout; -v adds the timed log lines on stderr

    outcome = reconcile_until_ready(
        cfg, args, dry_run=args.dry_run, trigger="cli", lock_wait=not args.no_wait
    )
    report(outcome, sys.stdout)
    return outcome.exit_code


RECHECK = 3.0  # seconds between looks at [drain] and schedule.windows while a deploy waits
REFETCH = 60.0  # ... and between full syncs meanwhile (a newer push replaces the waiting one)


def reconcile_until_ready(cfg, args, **options):
    """One reconcile; while [drain] or schedule.windows hold it back, wait here (nothing moves) and
    look again, without holding the lock, so a `syncd sync --now` elsewhere goes ahead at once."""
    import time

    from syncd import gate
    from syncd.deploy import reconcile
    from syncd.deploy.context import owner_identity
    from syncd.state import State

    outcome = reconcile(cfg, now=args.now, on_step=print_step, **options)
    said = None
    try:
        while outcome.result is Result.WAITING and not getattr(args, "no_wait", False):
            if outcome.reason != said:
                print(
                    f"-> waiting: {printable(outcome.reason)} (`syncd sync --now` deploys at once; Ctrl-C stops waiting)",
                    flush=True,
                )
                said = outcome.reason
            last_full = time.monotonic()
            while time.monotonic() - last_full < REFETCH:
                time.sleep(RECHECK)
                waiting = State(cfg.state_dir).status().get("waiting")
                if (
                    not waiting
                    or gate.check(cfg, owner_identity(cfg), waiting.get("busy_since")).cause is None
                ):
                    break
            outcome = reconcile(cfg, now=args.now, on_step=print_step, **options)
    except KeyboardInterrupt:
        state = State(cfg.state_dir)
        if not state.daemon():  # nobody else waits for this deploy now
            state.update_status(waiting=None)
        raise
    return outcome


def report(outcome, out) -> None:
    line = f"{outcome.result}: {short(outcome.deployed)}" + (f" ({outcome.reason})" if outcome.reason else "")
    print(printable(line), file=out, flush=True)  # a reason may quote file names from the repository
