"""One sync at a time in the daemon; triggers that arrive during a sync coalesce into one more.

A timer tick, ten pushes and an operator's commit landing while a deploy runs all mean the same
thing — "look again when you are done" — so they set one pending flag. The worker runs `job`
with the reasons gathered since the last run. Across processes (a CLI `syncd sync`) the
per-config flock taken by reconcile() does the same job.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from syncd import log


class SingleFlight:
    def __init__(self, job: Callable[[list[str]], None], name: str = "syncd-sync"):
        self._job = job
        self._cond = threading.Condition()
        self._reasons: list[str] = []
        self._pending = False
        self._closed = False
        self._running_since: float | None = None
        self.runs = 0
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._log = log.get("daemon")

    def start(self) -> "SingleFlight":
        self._thread.start()
        return self

    def trigger(self, reason: str) -> None:
        """Ask for a run; returns at once. During a run this schedules exactly one more."""
        with self._cond:
            if self._closed:
                return
            if reason not in self._reasons:
                self._reasons.append(reason)
            self._pending = True
            self._cond.notify()

    @property
    def running(self) -> bool:
        return self._running_since is not None

    def running_for(self) -> float:
        """Seconds the current run has taken so far (0 when idle)."""
        since = self._running_since
        return 0.0 if since is None else time.monotonic() - since

    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        """No new runs; a run in progress finishes (its job watches its own stop flag)."""
        with self._cond:
            self._closed = True
            self._pending = False
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end; True when it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                reasons, self._reasons, self._pending = self._reasons, [], False
                self._running_since = time.monotonic()
            try:
                self._job(reasons)
            except Exception:  # the worker must outlive any one sync
                self._log.exception("sync raised unexpectedly; the daemon goes on")
            finally:
                self._running_since = None
                self.runs += 1
