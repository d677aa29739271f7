"""The TCP ports the service listens on, as its config tells them (health probes, drain)."""

from __future__ import annotations

import re
from pathlib import Path

UNPRIVILEGED_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")


def ports_of(cfg) -> list[int]:
    found = set()
    health = cfg.health
    for address in (health.tcp, health.dicom_echo.rpartition("@")[2] if health.dicom_echo else None):
        m = re.search(r":(\d+)\Z", address or "")
        if m:
            found.add(int(m.group(1)))
    drain = getattr(cfg, "drain", None)
    if drain is not None and getattr(drain, "port", None):
        found.add(int(drain.port))
    return sorted(found)


def unprivileged_start() -> int:
    """Ports below this need CAP_NET_BIND_SERVICE (1024 unless the sysctl lowered it)."""
    try:
        return int(UNPRIVILEGED_START.read_text().strip())
    except (OSError, ValueError):
        return 1024
