"""Logging to stderr with sd-daemon priority prefixes, so `journalctl -p warning` works.

Secret values never reach here: callers log names, short commit ids and durations only.
"""

from __future__ import annotations

import logging
import os
import sys

from syncd.terminal import printable

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _Formatter(logging.Formatter):
    def __init__(self, prefixes: bool):
        super().__init__("%(message)s")
        self.prefixes = prefixes

    def format(self, record: logging.LogRecord) -> str:
        # One event, one journal line; nothing from the repository reaches a terminal raw.
        text = printable(super().format(record).replace("\n", " "))
        if self.prefixes:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def setup(verbose: bool = False) -> None:
    """Prefix with <N> when stderr goes to the journal (systemd sets JOURNAL_STREAM)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(prefixes=bool(os.environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger("syncd")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def get(name: str) -> logging.Logger:
    return logging.getLogger(f"syncd.{name}")


def quiet_steps() -> None:
    """For an interactive `sync`: stdout already shows each step, so keep stderr to warnings."""
    logging.getLogger("syncd").setLevel(logging.WARNING)
