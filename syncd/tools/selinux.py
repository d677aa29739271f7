"""SELinux, asked (never changed): is it enforcing, and which AVC denials were logged recently."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ENFORCE = Path("/sys/fs/selinux/enforce")
AUDIT_LOG = Path("/var/log/audit/audit.log")


def mode() -> str:
    """ "enforcing", "permissive" or "disabled" (no selinuxfs: not present)."""
    try:
        return "enforcing" if ENFORCE.read_text().strip() == "1" else "permissive"
    except OSError:
        return "disabled"


def recent_denials(tail_bytes: int = 4 << 20) -> list[str]:
    """AVC lines of the last 10 minutes (ausearch), else the end of audit.log."""
    if shutil.which("ausearch"):
        try:
            proc = subprocess.run(
                ["ausearch", "-m", "AVC,USER_AVC", "-ts", "recent"],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=30,
            )
            return [line for line in proc.stdout.splitlines() if "avc:" in line]
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        with open(AUDIT_LOG, "rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - tail_bytes))
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if "avc:" in line and "denied" in line]
