"""`syncd pause`: stop automatic syncs (a running daemon checks the flag before each one)."""

from __future__ import annotations

from syncd.actions.common import load
from syncd.state import State


def register(sub) -> None:
    p = sub.add_parser("pause", help="stop automatic syncs until `syncd resume`")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = load(args)
    State(cfg.state_dir).ensure().set_paused(True, "paused by syncd pause")
    from syncd.metrics import write_textfile

    write_textfile(cfg)  # syncd_paused
    print("paused: automatic syncs stopped (syncd sync still works; `syncd resume` restarts them)")
    return 0
