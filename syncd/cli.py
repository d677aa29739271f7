"""Command line: `syncd [--config PATH] COMMAND ...`, one module per command in syncd/actions/.

Action modules import their heavy dependencies inside run(), so `syncd status` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from syncd import log
from syncd.errors import SyncdError

if TYPE_CHECKING:
    from typing import NoReturn

ACTIONS = (
    "sync",
    "status",
    "history",
    "rollback",
    "pause",
    "resume",
    "render",
    "run",
    "demo",
    "secrets",
    "install",
    "doctor",
)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's own, given the width shutil.get_terminal_size() would find: argparse imports shutil
    (and with it bz2 and lzma, ~4 ms) to learn it at every add_argument, before any help is shown."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ) -> None:
        super().__init__(
            prog, indent_increment, max_help_position, _columns() - 2 if width is None else width
        )


def _columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the width of the terminal on stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return columns


class Parser(argparse.ArgumentParser):
    """The command line's parsers (a sub-command's is made as its parent's type) use HelpFormatter."""

    def __init__(
        self, *args: Any, formatter_class: type[argparse.HelpFormatter] = HelpFormatter, **kwargs: Any
    ):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = Parser(prog="syncd", description="Keep a systemd service in sync with its git repo.")
    parser.add_argument(
        "--config", metavar="PATH", help="config file (default $SYNCD_CONFIG or /etc/syncd/syncd.toml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Import only the command being run (each import costs start-up time); all of them for help.
    chosen = _command_in(sys.argv[1:] if argv is None else argv)
    for name in (chosen,) if chosen else ACTIONS:
        importlib.import_module(f"syncd.actions.{name}").register(sub)
        # `syncd sync --config X` works as well as `syncd --config X sync`.
        sub.choices[name].add_argument(
            "--config", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The first word that names a command, skipping --config's value; None for --help or errors."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--config":
            skip = True
        elif word in ("-h", "--help"):
            return None
        elif word in ACTIONS:
            return word
        elif not word.startswith("-"):
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    log.setup(verbose=args.verbose)
    try:
        return args.func(args)
    except SyncdError as exc:
        log.get("cli").error("%s", exc)
        return exc.exit_code
    except PermissionError as exc:  # e.g. `syncd status` by a user who cannot read the state dir
        log.get("cli").error("%s: %s (run as root, or as the user that owns it)", exc.filename, exc.strerror)
        return 2
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """The `syncd` command: main(), then, when no other thread is left, the process ends at once.
    Tearing the interpreter down first (freeing every object and module, memory the kernel takes
    back anyway) costs a one-shot command such as `syncd sync` 10-60 ms on a busy machine."""
    code = main()
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)  # let Python wait for them, as it always does
    logging = sys.modules.get("logging")  # imported only if something was logged (syncd/log.py)
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`syncd status | head`): nothing to keep
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
