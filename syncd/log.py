"""Logging to stderr with sd-daemon priority prefixes, so `journalctl -p warning` works.

Secret values never reach here: callers log names, short commit ids and durations only.

The lines are written by the standard `logging`, but it is imported only when a line is to be
written: a `syncd sync` with nothing to warn about never needs it, nor the modules it brings
(traceback, string, textwrap...): start-up time, docs/benchmarks.md. get() returns a Logger that
decides by level first, with the level setup() and quiet_steps() set, as logging would.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from syncd.terminal import printable

if TYPE_CHECKING:
    import logging

# logging's levels (the same numbers): a line below the level is dropped without importing logging.
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
_PRIORITY = {DEBUG: 7, INFO: 6, WARNING: 4, ERROR: 3, CRITICAL: 2}


class _Setup:
    """What setup() and quiet_steps() asked for; applied to logging's "syncd" logger when it is used."""

    level: int | None = None  # None: setup() not called, logging decides (its default: WARNING)
    stream: TextIO | None = None  # stderr when setup() ran
    prefixes = False
    applied = False  # the handler is on logging's "syncd" logger


def setup(verbose: bool = False) -> None:
    """Prefix with <N> when stderr goes to the journal (systemd sets JOURNAL_STREAM)."""
    _Setup.level = DEBUG if verbose else INFO
    _Setup.stream = sys.stderr
    _Setup.prefixes = bool(os.environ.get("JOURNAL_STREAM"))
    _Setup.applied = False
    if "logging" in sys.modules:  # already imported (the daemon, a library): set it up now
        _syncd_logger()


def quiet_steps() -> None:
    """For an interactive `sync`: stdout already shows each step, so keep stderr to warnings."""
    _Setup.level = WARNING
    if _Setup.applied:
        _syncd_logger().setLevel(WARNING)


def get(name: str) -> Logger:
    return Logger(f"syncd.{name}")


class Logger:
    """logging.getLogger(name)'s debug/info/warning/error/exception/critical/log, importing logging
    for a line only."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if _Setup.level is not None and level < _Setup.level:
            return
        _syncd_logger()  # set up (handler, level) before the first line
        import logging

        logging.getLogger(self.name).log(level, msg, *args, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(DEBUG, msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(INFO, msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(WARNING, msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(ERROR, msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        """An error with the exception being handled (its traceback joined into the one line)."""
        self.log(ERROR, msg, *args, exc_info=exc_info, **kwargs)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(CRITICAL, msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Anything else a logging.Logger has (isEnabledFor, ...): logging's own."""
        _syncd_logger()
        import logging

        return getattr(logging.getLogger(self.name), name)


def _syncd_logger() -> logging.Logger:
    """logging's "syncd" logger, with the handler and level setup() asked for (once)."""
    import logging

    root = logging.getLogger("syncd")
    if _Setup.level is not None and not _Setup.applied:
        if _Setup.stream is not None:
            handler = logging.StreamHandler(_Setup.stream)
            handler.setFormatter(formatter(prefixes=_Setup.prefixes))
            root.handlers[:] = [handler]
            root.propagate = False
        root.setLevel(_Setup.level)
        _Setup.applied = True
    return root


def formatter(prefixes: bool) -> logging.Formatter:
    """One event, one journal line; nothing from the repository reaches a terminal raw. With
    `prefixes`, each line starts with its sd-daemon priority (<3> error ... <7> debug)."""
    import logging

    class Formatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            text = printable(super().format(record).replace("\n", " "))
            if prefixes:
                return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
            return text if record.levelno < WARNING else f"{record.levelname.lower()}: {text}"

    return Formatter("%(message)s")
