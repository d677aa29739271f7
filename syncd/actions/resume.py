"""`syncd resume`: restart automatic syncs."""

from __future__ import annotations

from syncd.actions.common import load
from syncd.state import State


def register(sub) -> None:
    p = sub.add_parser("resume", help="restart automatic syncs")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = load(args)
    State(cfg.state_dir).ensure().set_paused(False)
    from syncd.metrics import write_textfile

    write_textfile(cfg)  # syncd_paused
    print("resumed: automatic syncs restart with the next trigger")
    return 0
