"""May the unit be restarted now? [drain] (the pipeline is idle) and schedule.windows (inside a
restart window). Outside a window a deploy waits for it; a busy pipeline is waited for up to
drain.max_wait, then drain.on_timeout decides ("deploy", or "skip" until the next trigger).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from syncd.records import dataclass

if TYPE_CHECKING:
    from syncd.config import Config
    from syncd.runas import Identity


@dataclass
class Verdict:
    cause: str | None  # why the deploy waits; None: go ahead
    busy_since: float | None  # Unix time the pipeline was first seen busy in this wait
    skip: bool = False  # max_wait passed and on_timeout = "skip"
    note: str | None = None  # said once when max_wait passed and the deploy goes ahead


def configured(cfg: Config) -> bool:
    return bool(cfg.schedule.windows or cfg.drain.port is not None or cfg.drain.command)


def check(cfg: Config, owner: Identity, busy_since: float | None, now: float | None = None) -> Verdict:
    """The gate as it stands now; `busy_since` carries the wait across syncs (a newer push included)."""
    from syncd.gate import drain, windows  # here: every deploy asks configured(), few configure a gate

    now = time.time() if now is None else now
    if not windows.inside(cfg.schedule.windows):
        nxt = windows.next_opening(cfg.schedule.windows)
        when = f"; the next opens {nxt:%a %H:%M}" if nxt else ""
        return Verdict(f"outside the restart windows ({', '.join(cfg.schedule.windows)}){when}", None)
    cause = drain.busy_cause(cfg, owner)
    if cause is None:
        return Verdict(None, None)
    busy_since = busy_since or now
    waited = now - busy_since
    if waited < cfg.drain.max_wait:
        return Verdict(f"{cause}; waiting up to drain.max_wait ({human(cfg.drain.max_wait)})", busy_since)
    still = f"the pipeline is still busy after drain.max_wait ({human(cfg.drain.max_wait)}): {cause}"
    if cfg.drain.on_timeout == "skip":
        return Verdict(
            f'{still}; skipped (drain.on_timeout = "skip"), the next trigger tries again', None, skip=True
        )
    return Verdict(None, None, note=f'{still}; deploying anyway (drain.on_timeout = "deploy")')


def human(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s" if seconds % 60 else f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
