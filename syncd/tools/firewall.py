"""Firewalls, asked (never changed): firewalld, ufw and plain nftables. None: that one is not active."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any


def _run(argv: list[str], timeout: float = 20) -> subprocess.CompletedProcess[str] | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def firewalld_running() -> bool:
    proc = _run(["firewall-cmd", "--state"])
    return proc is not None and proc.returncode == 0 and proc.stdout.strip() == "running"


def firewalld_allows(port: int) -> bool:
    """Open in the default zone, by port or by a service that lists it."""
    proc = _run(["firewall-cmd", f"--query-port={port}/tcp"])
    if proc is not None and proc.returncode == 0:
        return True
    services = _run(["firewall-cmd", "--list-services"])
    for service in services.stdout.split() if services and services.returncode == 0 else []:
        info = _run(["firewall-cmd", f"--info-service={service}"])
        if (
            info
            and info.returncode == 0
            and any(
                line.strip().startswith("ports:") and f"{port}/tcp" in line.split()
                for line in info.stdout.splitlines()
            )
        ):
            return True
    return False


def ufw_status() -> str | None:
    """`ufw status` text, or None without ufw."""
    proc = _run(["ufw", "status"])
    return proc.stdout if proc is not None and proc.returncode == 0 else None


def nft_ruleset() -> dict[str, Any] | None:
    """`nft -j list ruleset` parsed, or None without nft (or without the right to ask)."""
    proc = _run(["nft", "-j", "list", "ruleset"])
    if proc is None or proc.returncode != 0:
        return None
    try:
        ruleset: dict[str, Any] = json.loads(proc.stdout or "{}")
        return ruleset
    except ValueError:
        return None


def add_port_commands(kind: str, port: int) -> str:
    return {
        "firewalld": f"firewall-cmd --permanent --add-port={port}/tcp && firewall-cmd --reload",
        "ufw": f"ufw allow {port}/tcp",
        "nftables": f"nft add rule inet filter input tcp dport {port} accept (and the same in /etc/nftables.conf)",
    }[kind]
