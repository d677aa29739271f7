"""`syncd sync [--dry-run]`: one reconcile now, printing each step."""

from __future__ import annotations

import sys

from syncd import log
from syncd.actions.common import load


def register(sub) -> None:
    p = sub.add_parser("sync", help="reconcile once now")
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument("--no-wait", action="store_true", help="report busy instead of waiting for a running sync")
    p.set_defaults(func=run)


def print_step(name: str, detail: str) -> None:
    print(f"-> {name.replace('_', ' ')} {detail}", flush=True)


def run(args) -> int:
    cfg = load(args)
    from syncd.deploy import reconcile

    if not args.verbose:
        log.quiet_steps()  # steps go to stdout; -v adds the timed log lines on stderr

    outcome = reconcile(cfg, dry_run=args.dry_run, trigger="cli", lock_wait=not args.no_wait, on_step=print_step)
    report(outcome, sys.stdout)
    return outcome.exit_code


def report(outcome, out) -> None:
    sha = (outcome.deployed or "")[:7] or "none"
    line = f"{outcome.result}: {sha}" + (f" ({outcome.reason})" if outcome.reason else "")
    print(line, file=out, flush=True)
