"""[state]: where syncd keeps status, history, quarantine and the in-flight journal."""

from __future__ import annotations

from syncd.config.model import StateConfig
from syncd.config.table import Table


def parse(s: Table) -> StateConfig:
    if s.has("dir"):
        return StateConfig(dir=s.abs_path("dir"))
    return StateConfig()
