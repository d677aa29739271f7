"""`syncd doctor [NAME] [--json]`: what is wrong with a service syncd deploys, and the fix, one line each.

Exit 0 when every check passes, 1 otherwise. The checks are modules of syncd/doctor/.
"""

from __future__ import annotations

import json
import re

from syncd.errors import UsageError
from syncd.terminal import printable


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check a service syncd deploys; one line per check with its fix")
    p.add_argument(
        "name", nargs="?", metavar="NAME", help="the config /etc/syncd/NAME.toml (default: --config)"
    )
    p.add_argument("--json", action="store_true", help="a list of {check, ok, detail, fix}")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from syncd.config import config_path
    from syncd.doctor import gather, run_checks

    if args.name is not None:
        if not re.fullmatch(r"[A-Za-z0-9_.@:-]+", args.name) or args.name.startswith("."):
            raise UsageError(f"NAME {args.name!r}: expected the name of a config in /etc/syncd (NAME.toml)")
        path = Path("/etc/syncd") / f"{args.name}.toml"
    else:
        path = config_path(getattr(args, "config", None))
    results = run_checks(gather(path))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        width = max(len(r["check"]) for r in results)
        for r in results:
            line = f"{'ok  ' if r['ok'] else 'FAIL'} {r['check']:<{width}}  {r['detail']}"
            if not r["ok"] and r["fix"]:
                line += f"  -> fix: {r['fix']}"
            print(printable(line))  # details quote the last result's reason, file names of the tree
        failed = sum(1 for r in results if not r["ok"])
        print(
            f"{len(results) - failed} passed, {failed} failed"
            if failed
            else f"all {len(results)} checks passed"
        )
    return 0 if all(r["ok"] for r in results) else 1
