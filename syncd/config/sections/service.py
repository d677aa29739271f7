"""[service]: the systemd unit syncd restarts, and as whom the tree is owned and git runs."""

from __future__ import annotations

import re
from typing import Any

from syncd.config.model import ServiceConfig
from syncd.config.table import Table
from syncd.config.values import parse_owner

UNIT_TYPES = (
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
)
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]+)?\.service\Z")


def parse(s: Table) -> ServiceConfig:
    kw: dict[str, Any] = {"unit": _unit_name(s, s.get("unit", str))}
    if s.has("scope"):
        kw["scope"] = s.choice("scope", ("system", "user"))
    if s.has("owner"):
        owner = s.get("owner", str)
        try:
            parse_owner(owner)  # the user and group must exist now, not at the first deploy
        except ValueError as e:
            raise s.error("owner", str(e)) from None
        kw["owner"] = owner
    if s.has("dropin"):
        dropin = s.get("dropin", str)
        if (
            not dropin.endswith(".conf")
            or dropin == ".conf"
            or "/" in dropin
            or "\0" in dropin
            or dropin.startswith(".")
        ):
            raise s.error(
                "dropin",
                f'expected a plain file name ending in ".conf" (no "/", not hidden), '
                f'e.g. "50-syncd.conf", got {dropin!r}',
            )
        kw["dropin"] = dropin
    return ServiceConfig(**kw)


def _unit_name(s: Table, unit: str) -> str:
    suffix = unit.rsplit(".", 1)[-1] if "." in unit else ""
    if suffix in UNIT_TYPES and suffix != "service":
        raise s.error("unit", f"syncd manages services: expected a .service unit, got a .{suffix} unit")
    if suffix != "service":
        unit += ".service"
    if len(unit) > 255 or not UNIT_NAME.match(unit) or unit.startswith("@"):
        raise s.error(
            "unit",
            'expected a systemd service name such as "pipeline.service" or '
            '"worker@1.service" (letters, digits, ":-_.\\", one "@" with an instance, '
            f"at most 255 characters), got {unit!r}",
        )
    return unit
