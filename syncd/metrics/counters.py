"""Counts that must survive restarts (Prometheus counters only go up): <state dir>/metrics.json.

Written under the per-config sync lock (by the sync that counts), atomically like all state.
"""

from __future__ import annotations

import time
from pathlib import Path

from syncd import fsutil

FILE = "metrics.json"


class Counters:
    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / FILE

    def load(self) -> dict:
        data = fsutil.read_json(self.path, {}) or {}
        for key in ("syncs", "last", "notify_failures"):
            data.setdefault(key, {})
        data.setdefault("fetch_errors", 0)
        return data

    def _save(self, data: dict) -> None:
        fsutil.write_json(self.path, data, 0o600)

    def record_sync(self, result: str, duration_s: float, restarted: bool) -> None:
        data = self.load()
        data["syncs"][result] = data["syncs"].get(result, 0) + 1
        data["last"][result] = time.time()
        data["last_sync"] = time.time()
        if restarted:
            data["last_deploy_duration_s"] = duration_s
        self._save(data)

    def record_fetch_error(self) -> None:
        data = self.load()
        data["fetch_errors"] += 1
        self._save(data)

    def record_notify_failures(self, transports) -> None:
        if not transports:
            return
        data = self.load()
        for transport in transports:
            data["notify_failures"][transport] = data["notify_failures"].get(transport, 0) + 1
        self._save(data)
