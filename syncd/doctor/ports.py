"""The TCP ports the service listens on, as its config tells them (health probes, drain)."""

from __future__ import annotations

from pathlib import Path

from syncd.config.values import parse_dicom_target, parse_host_port

UNPRIVILEGED_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")


def ports_of(cfg) -> list[int]:
    found = set()
    health = cfg.health
    for parse, value in ((parse_host_port, health.tcp), (parse_dicom_target, health.dicom_echo)):
        try:
            if value:
                found.add(parse(value)[-1])
        except ValueError:  # a config that loaded has none; a hand-made one in a test may
            pass
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
