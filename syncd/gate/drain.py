"""Is the pipeline busy? A TCP connection established to drain.port on this host (read from the
kernel's socket tables: a study in transfer is an open association), or drain.command exiting 0.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from syncd import log, runas

if TYPE_CHECKING:
    from syncd.config import Config
    from syncd.runas import Identity

COMMAND_TIMEOUT = 30.0  # seconds: a drain.command that says nothing by then counts as "busy"
TCP_ESTABLISHED = "01"
_LOG = log.get("drain")


def established_on_port(port: int, tables: tuple[str, ...] = ("/proc/net/tcp", "/proc/net/tcp6")) -> int:
    """Connections in state ESTABLISHED whose local port is `port` (IPv4 and IPv6)."""
    count = 0
    for table in tables:
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:  # no IPv6 in this kernel
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 3
                and fields[3] == TCP_ESTABLISHED
                and int(fields[1].rpartition(":")[2], 16) == port
            ):
                count += 1
    return count


def command_says_busy(argv: tuple[str, ...], owner: Identity, cwd: Path) -> tuple[bool, str]:
    """Run drain.command as the owner in repo.path: exit 0 means busy. Returns (busy, how it answered)."""
    try:
        proc = runas.spawn(owner, argv, cwd=cwd)  # the owner's ids and groups, minimal environment
    except OSError as exc:
        return True, f"drain.command could not start: {exc.strerror} (counted as busy)"
    try:
        proc.wait(COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        runas.kill(proc)  # and whatever it started
        return True, f"drain.command did not answer within {COMMAND_TIMEOUT:g}s (counted as busy)"
    if proc.returncode == 0:
        return True, "drain.command says the pipeline is busy (it exited 0)"
    return False, f"drain.command exited {proc.returncode}: idle"


def busy_cause(cfg: Config, owner: Identity) -> str | None:
    """Why the pipeline is busy now, or None when it is idle (or no [drain] is configured)."""
    drain = cfg.drain
    if drain.port is not None:
        n = established_on_port(drain.port)
        if n:
            return f"{n} connection{'s' if n > 1 else ''} established to port {drain.port} (a transfer in progress)"
    if drain.command:
        busy, how = command_says_busy(drain.command, owner, cfg.repo.path)
        if busy:
            return how
        _LOG.debug("%s", how)
    return None
