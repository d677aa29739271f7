"""[drain]: what "the service is busy" means, so a deploy waits for it to finish."""

from __future__ import annotations

from typing import Any

from syncd.config.model import DrainConfig
from syncd.config.table import Table


def parse(s: Table) -> DrainConfig:
    kw: dict[str, Any] = {}
    if s.has("port"):
        port = s.get("port", int)
        if not 1 <= port <= 65535:
            raise s.error("port", f"expected a TCP port 1-65535, got {port}")
        kw["port"] = port
    if s.has("command"):
        kw["command"] = s.argv("command", s.get("command", list))
    if s.has("max_wait"):
        kw["max_wait"] = s.duration("max_wait")
    if s.has("on_timeout"):
        kw["on_timeout"] = s.choice("on_timeout", ("deploy", "skip"))
    return DrainConfig(**kw)
