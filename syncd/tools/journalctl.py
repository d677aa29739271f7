"""journalctl: the last lines a unit logged in one start. Nothing here decides; it only reads.

Which lines belong to a start: where the journal records it, those carrying the invocation's
`_SYSTEMD_INVOCATION_ID`. A user unit's lines do not carry it on systemd 252 (its manager puts the
id where journald does not look), so there, and whenever the id finds nothing, the unit's own lines
between the restart and now are taken (`_SYSTEMD_USER_UNIT` / `_SYSTEMD_UNIT`, --since/--until).
Bounded: at most `limit` lines of at most MAX_LINE characters, within `timeout` seconds.
"""

from __future__ import annotations

import os
import subprocess

MAX_LINE = 240


class Journalctl:
    def __init__(self, scope: str = "system"):
        self.scope = scope

    def unit_lines(
        self,
        unit: str,
        *,
        invocation_id: str | None,
        since: float | None,
        until: float | None,
        limit: int = 10,
        timeout: float = 5.0,
    ) -> list[str]:
        self._sync(timeout)
        lines: list[str] = []
        if invocation_id:
            lines = self._read([f"_SYSTEMD_INVOCATION_ID={invocation_id}"], limit, timeout)
        if not lines and since is not None:
            field = "_SYSTEMD_USER_UNIT" if self.scope == "user" else "_SYSTEMD_UNIT"
            window = [f"--since=@{since:.6f}"] + ([f"--until=@{until:.6f}"] if until is not None else [])
            lines = self._read([f"{field}={unit}", *window], limit, timeout)
        return [_bounded(line) for line in lines]

    def _read(self, matches: list[str], limit: int, timeout: float) -> list[str]:
        # Newest first: with --since, --lines would count from the oldest line of the window.
        argv = [
            "journalctl",
            "--no-pager",
            "--quiet",
            "--output=cat",
            "--reverse",
            f"--lines={limit}",
            *matches,
        ]
        if self.scope == "user" and os.geteuid() != 0:
            argv.insert(1, "--user")  # a user can only read its own journal files
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return []
        if proc.returncode != 0:
            return []
        text = proc.stdout.decode("utf-8", errors="replace")
        return [line for line in text.splitlines() if line.strip()][:limit][::-1]

    def _sync(self, timeout: float) -> None:
        """Lines the unit wrote just before it died may still be queued in journald: flush them (root only)."""
        if os.geteuid() != 0:
            return
        try:
            subprocess.run(
                ["journalctl", "--sync"], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired):
            pass


def _bounded(line: str) -> str:
    line = "".join(ch if ch.isprintable() else " " for ch in line)  # no terminal control characters
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"
