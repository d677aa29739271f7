"""`syncd rollback [REV]`: redeploy the previous good deploy (or REV), health-checked, then pause."""

from __future__ import annotations

import sys

from syncd import log
from syncd.actions.common import load
from syncd.actions.sync import reconcile_until_ready, report
from syncd.errors import EXIT_OK, UsageError
from syncd.result import Result
from syncd.state import State


def register(sub) -> None:
    p = sub.add_parser(
        "rollback", help="redeploy the previous good deploy (or REV), then pause automatic syncs"
    )
    p.add_argument("rev", nargs="?", help="commit to go back to (default: the deploy before the current one)")
    p.add_argument(
        "--now",
        action="store_true",
        help="restart at once, whatever [drain] (a transfer in progress) and schedule.windows say",
    )
    p.set_defaults(func=run)


def previous_good(state: State) -> str | None:
    current = state.deployed
    for entry in reversed(state.history()):
        if entry.get("result") == Result.DEPLOYED and entry.get("to") and entry["to"] != current:
            return entry["to"]
        if entry.get("result") == Result.DEPLOYED and entry.get("from") and entry["from"] != current:
            return entry["from"]
    return None


def run(args) -> int:
    cfg = load(args)
    if not args.verbose:
        log.quiet_steps()  # steps go to stdout; -v adds the timed log lines on stderr

    state = State(cfg.state_dir).ensure()
    rev = args.rev or previous_good(state)
    if not rev:
        raise UsageError("rollback: no earlier good deploy in the history; name a commit: syncd rollback REV")
    outcome = reconcile_until_ready(cfg, args, trigger="rollback", rollback_to=rev)
    report(outcome, sys.stdout)
    if outcome.exit_code == EXIT_OK:  # the reconcile paused them before it let go of the lock
        from syncd.metrics import write_textfile

        write_textfile(cfg)  # syncd_paused
        print("automatic syncs paused; `syncd resume` when upstream is fixed")
    return outcome.exit_code
