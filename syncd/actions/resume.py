"""`syncd resume`: restart automatic syncs."""

from __future__ import annotations

from syncd.actions.common import load
from syncd.state import State


def register(sub) -> None:
    p = sub.add_parser("resume", help="restart automatic syncs")
    p.set_defaults(func=run)


def run(args) -> int:
    State(load(args).state_dir).ensure().set_paused(False)
    print("resumed: automatic syncs restart with the next trigger")
    return 0
