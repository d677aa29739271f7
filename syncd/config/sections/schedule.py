"""[schedule]: when syncd looks for new commits, and when it may restart."""

from __future__ import annotations

from typing import Any

from syncd.config.model import ScheduleConfig
from syncd.config.table import Table
from syncd.config.values import type_name


def parse(s: Table) -> ScheduleConfig:
    kw: dict[str, Any] = {}
    if s.has("interval"):
        kw["interval"] = s.duration("interval")
    if s.has("cron"):
        cron = s.get("cron", str).strip()
        if cron:
            from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

            try:
                CronTrigger.from_crontab(cron)
            except ValueError as e:
                raise s.error("cron", f'expected a 5-field crontab such as "*/5 * * * *": {e}') from None
            if kw.get("interval", 0):
                raise s.error(
                    "cron",
                    "schedule.interval and schedule.cron are alternatives: set interval = 0 "
                    "or leave it out when cron is used",
                )
            kw["interval"] = 0.0  # cron replaces polling by interval
        kw["cron"] = cron
    if s.has("watch"):
        kw["watch"] = s.get("watch", bool)
    if s.has("windows"):
        from syncd.gate.windows import parse_window

        windows = s.get("windows", list)
        for i, text in enumerate(windows):
            if not isinstance(text, str):
                raise s.error(
                    f"windows[{i}]", f"expected a string, found {type_name(text)}", line_key="windows"
                )
            try:
                parse_window(text)
            except ValueError as e:
                raise s.error(f"windows[{i}]", str(e), line_key="windows") from None
        kw["windows"] = tuple(windows)
    return ScheduleConfig(**kw)
