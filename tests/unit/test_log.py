"""syncd/log.py: the lines on stderr, and their sd-daemon priority prefixes in the journal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOG_SOME = """
import sys
from syncd import log
log.setup(verbose=sys.argv[1] == "verbose")
if sys.argv[2] == "quiet":
    log.quiet_steps()
for name in ("debug", "info", "warning", "error"):
    getattr(log.get("deploy"), name)("%s: two\\nlines %s", name, "\\x1b[2J")
log.get("loop").log(40, "by level")  # logging.ERROR
try:
    raise RuntimeError("boom")
except RuntimeError:
    log.get("loop").exception("sync raised")
print("logging imported" if "logging" in sys.modules else "logging not imported")
"""


def stderr_of(*args: str, journal: bool = False) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal:
        env["JOURNAL_STREAM"] = "8:12345"
    proc = subprocess.run(
        [sys.executable, "-c", LOG_SOME, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return proc.stderr, proc.stdout.strip()


def stderr_lines(*args: str, journal: bool = False) -> tuple[list[str], str, str]:
    """The lines before the exception's, the exception's line, and whether logging was imported."""
    err, imported = stderr_of(*args, journal=journal)
    *lines, exception = err.splitlines()
    return lines, exception, imported


def test_terminal_lines_name_warnings_and_errors():
    lines, exception, _ = stderr_lines("plain", "loud")
    assert lines == [
        "info: two lines \\x1b[2J",
        "warning: warning: two lines \\x1b[2J",
        "error: error: two lines \\x1b[2J",
        "error: by level",
    ]
    # exception(): the traceback joined into the one line, as logging formats it
    assert exception.startswith("error: sync raised Traceback (most recent call last): ")
    assert exception.endswith("RuntimeError: boom")


def test_verbose_adds_debug_and_journal_lines_carry_priorities():
    lines, exception, _ = stderr_lines("verbose", "loud", journal=True)
    assert lines == [
        "<7>debug: two lines \\x1b[2J",
        "<6>info: two lines \\x1b[2J",
        "<4>warning: two lines \\x1b[2J",
        "<3>error: two lines \\x1b[2J",
        "<3>by level",
    ]
    assert exception.startswith("<3>sync raised Traceback") and exception.endswith("RuntimeError: boom")


def test_quiet_steps_keeps_warnings_and_logging_is_imported_for_a_line_only():
    lines, exception, imported = stderr_lines("plain", "quiet")
    assert lines == [
        "warning: warning: two lines \\x1b[2J",
        "error: error: two lines \\x1b[2J",
        "error: by level",
    ]
    assert exception.startswith("error: sync raised")
    assert imported == "logging imported"


def test_what_else_a_logger_has_is_loggings():
    from syncd import log

    assert log.get("deploy").isEnabledFor(log.CRITICAL)
