"""Command line: `syncd [--config PATH] COMMAND ...`, one module per command in syncd/actions/.

Action modules import their heavy dependencies inside run(), so `syncd status` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from syncd import log
from syncd.errors import SyncdError

ACTIONS = ("sync", "status", "history", "rollback", "pause", "resume", "render", "run", "demo", "secrets")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncd", description="Keep a systemd service in sync with its git repo.")
    parser.add_argument("--config", metavar="PATH", help="config file (default $SYNCD_CONFIG or /etc/syncd/syncd.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in ACTIONS:
        try:
            module = importlib.import_module(f"syncd.actions.{name}")
        except ModuleNotFoundError as exc:  # an action still being built; never hide other errors
            if exc.name != f"syncd.actions.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log.setup(verbose=args.verbose)
    try:
        return args.func(args)
    except SyncdError as exc:
        log.get("cli").error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
