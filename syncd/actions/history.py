"""`syncd history [--json] [-n N]`: past deploys and rollbacks, newest first."""

from __future__ import annotations

import json

from syncd.actions.common import load
from syncd.state import State
from syncd.terminal import printable


def register(sub) -> None:
    p = sub.add_parser("history", help="past deploys and rollbacks, newest first")
    p.add_argument("--json", action="store_true", help="a JSON list")
    p.add_argument("-n", type=int, default=20, metavar="N", help="at most N entries (default 20)")
    p.set_defaults(func=run)


def run(args) -> int:
    entries = list(reversed(State(load(args).state_dir).history()))[: max(args.n, 0)]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        frm, to = (e.get("from") or "")[:7] or "-", (e.get("to") or "")[:7] or "-"
        reason = f"  {e['reason']}" if e.get("reason") else ""
        print(
            printable(f"{e['time']}  {e['result']:<11} {frm} -> {to}  {e.get('duration_s', 0):.1f}s{reason}")
        )
    if not entries:
        print("no deploys yet")
    return 0
