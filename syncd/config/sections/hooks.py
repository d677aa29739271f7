"""[hooks]: commands run as the owner around a deploy, each with a timeout."""

from __future__ import annotations

from typing import Any

from syncd.config.model import HooksConfig
from syncd.config.table import Table
from syncd.config.values import type_name


def parse(s: Table) -> HooksConfig:
    kw: dict[str, Any] = {}
    for key in ("pre_restart", "post_deploy", "on_failure"):
        if s.has(key):
            commands = s.get(key, list)
            for i, argv in enumerate(commands):
                if not isinstance(argv, list):
                    raise s.error(
                        f"{key}[{i}]",
                        "expected a command as a list of strings, e.g. "
                        f'[["venv/bin/pip", "install", "-r", "requirements.txt"]], found {type_name(argv)}',
                        line_key=key,
                    )
            kw[key] = tuple(s.argv(f"{key}[{i}]", argv, line_key=key) for i, argv in enumerate(commands))
    if s.has("timeout"):
        kw["timeout"] = s.duration("timeout", positive=True)
    return HooksConfig(**kw)
