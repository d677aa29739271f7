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


def test_terminal_lines_name_warnings_and_errors():
    err, _ = stderr_of("plain", "loud")
    assert err == (
        "info: two lines \\x1b[2J\n"
        "warning: warning: two lines \\x1b[2J\n"
        "error: error: two lines \\x1b[2J\n"
        "error: by level\n"
    )


def test_verbose_adds_debug_and_journal_lines_carry_priorities():
    err, _ = stderr_of("verbose", "loud", journal=True)
    assert err == (
        "<7>debug: two lines \\x1b[2J\n"
        "<6>info: two lines \\x1b[2J\n"
        "<4>warning: two lines \\x1b[2J\n"
        "<3>error: two lines \\x1b[2J\n"
        "<3>by level\n"
    )


def test_quiet_steps_keeps_warnings_and_logging_is_imported_for_a_line_only():
    err, imported = stderr_of("plain", "quiet")
    assert err == "warning: warning: two lines \\x1b[2J\nerror: error: two lines \\x1b[2J\nerror: by level\n"
    assert imported == "logging imported"
