"""One module per [section] of syncd.toml: `parse(table) -> <Section>Config`, where the section's
keys are checked and turned into its dataclass (syncd/config/model.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncd.config.sections import (
    drain,
    env,
    health,
    hooks,
    metrics,
    notify,
    python,
    repo,
    schedule,
    service,
    state,
)
from syncd.config.table import Table

# [section] name -> its parser; the same names as Config's fields (tests/unit/test_config_values.py).
PARSERS: dict[str, Callable[[Table], Any]] = {
    "repo": repo.parse,
    "service": service.parse,
    "env": env.parse,
    "health": health.parse,
    "hooks": hooks.parse,
    "schedule": schedule.parse,
    "state": state.parse,
    "notify": notify.parse,
    "metrics": metrics.parse,
    "drain": drain.parse,
    "python": python.parse,
}
