"""CLI output: sd-daemon priority prefixes under the journal (`journalctl -p warning`), option placement."""

from __future__ import annotations

import os
import subprocess

from helpers import PYTHON


def run_syncd(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([PYTHON, "-m", "syncd", *args], capture_output=True, text=True, env=env)


def test_error_has_priority_prefix_under_the_journal(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[repo]\npath = 3\n")
    proc = run_syncd("--config", str(bad), "status", env_extra={"JOURNAL_STREAM": "8:12345"})
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("<3>") and str(bad) in line and "repo.path" in line


def test_plain_terminal_has_no_prefix_but_says_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[repo]\npath = 3\n")
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    proc = subprocess.run(
        [PYTHON, "-m", "syncd", "--config", str(bad), "status"], capture_output=True, text=True, env=env
    )
    assert proc.stderr.startswith("error: ")


def test_levels_map_to_sd_daemon_priorities():
    import logging

    from syncd.log import formatter

    fmt = formatter(prefixes=True)
    for level, prefix in (
        (logging.ERROR, "<3>"),
        (logging.WARNING, "<4>"),
        (logging.INFO, "<6>"),
        (logging.DEBUG, "<7>"),
    ):
        record = logging.LogRecord("syncd.x", level, __file__, 1, "two\nlines", None, None)
        assert fmt.format(record) == f"{prefix}two lines"  # one event, one journal line


def test_config_option_after_the_command(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[repo]\npath = 3\n")
    proc = run_syncd("status", "--config", str(bad))
    assert proc.returncode == 2 and "repo.path" in proc.stderr
