"""Scheduled polling with apscheduler 3.x: `schedule.interval` or `schedule.cron`, with jitter.

A failed sync that is an error rather than a decision (fetch failed: network down, remote gone)
backs off: the regular ticks are skipped and one retry is planned after interval x 2^(n-1),
capped, until a sync works again. The service is left alone meanwhile (reconcile touches
nothing when the fetch fails) and `status` keeps showing the error reconcile recorded.

A heartbeat job proves the scheduler thread really dispatches jobs; the daemon only sends
WATCHDOG=1 while it does.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from pathlib import Path
from typing import Callable

from syncd import log
from syncd.errors import ConfigError

NO_POLL_RETRY_BASE = 30.0  # seconds: first retry when only watch/cron triggers syncs
BACKOFF_CAP = 600.0  # seconds: never wait longer than this between retries (unless interval is longer)
CRON_JITTER = 10.0
INTERVAL_JITTER_SHARE = 0.1
INTERVAL_JITTER_MAX = 30.0


def jitter_for(interval: float) -> float:
    return min(interval * INTERVAL_JITTER_SHARE, INTERVAL_JITTER_MAX)


def backoff_delay(failures: int, base: float, cap: float = BACKOFF_CAP) -> float:
    """Wait before retry number `failures` (1, 2, ...): base, 2*base, 4*base ... capped."""
    cap = max(cap, base)
    return min(base * 2 ** max(failures - 1, 0), cap)


def cron_trigger(expr: str, source: Path | str):
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(expr)
    except ValueError as exc:
        raise ConfigError(
            source, "schedule.cron", f'a crontab expression of 5 fields such as "*/5 * * * *" ({exc})'
        ) from None
    trigger.jitter = CRON_JITTER  # from_crontab() takes no jitter; the trigger honours the attribute
    return trigger


class Schedule:
    """Calls fire(reason) on each poll tick or retry; fire must return at once (SingleFlight.trigger)."""

    def __init__(
        self,
        schedule_cfg,
        fire: Callable[[str], None],
        *,
        source: Path | str = "config",
        heartbeat: float = 5.0,
    ):
        self.cfg = schedule_cfg
        self._fire = fire
        self._source = source
        self.heartbeat = heartbeat
        self._beat = time.monotonic()
        self._lock = threading.Lock()
        self.failures = 0
        self.last_error: str | None = None
        self._retry_at: dt.datetime | None = None
        self._backing_off = False  # regular ticks wait until a sync works again
        self._scheduler = None
        self._log = log.get("daemon")
        if self.cfg.cron:
            cron_trigger(self.cfg.cron, source)  # fail early, before anything is armed

    @property
    def polling(self) -> bool:
        return bool(self.cfg.cron) or self.cfg.interval > 0

    def describe(self) -> str:
        if self.cfg.cron:
            return f"cron {self.cfg.cron!r}"
        if self.cfg.interval > 0:
            return f"every {self.cfg.interval:g}s"
        return "no polling"

    def start(self) -> "Schedule":
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        logging.getLogger("apscheduler").setLevel(logging.ERROR)  # our own log says what matters
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            daemon=True,
        )
        self._scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=self.heartbeat), id="heartbeat")
        if self.cfg.cron:
            self._scheduler.add_job(self._tick, cron_trigger(self.cfg.cron, self._source), id="poll")
        elif self.cfg.interval > 0:
            interval = self.cfg.interval
            self._scheduler.add_job(
                self._tick, IntervalTrigger(seconds=interval, jitter=jitter_for(interval)), id="poll"
            )
        self._scheduler.start()
        return self

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    # -- what the daemon asks --------------------------------------------------------------
    def healthy(self) -> bool:
        """The scheduler thread runs and has dispatched the heartbeat job recently."""
        sched = self._scheduler
        if sched is None or not sched.running:
            return False
        thread = getattr(sched, "_thread", None)
        if thread is not None and not thread.is_alive():
            return False
        return time.monotonic() - self._beat < 3 * self.heartbeat + 1.0

    def next_run(self) -> dt.datetime | None:
        """When the next scheduled sync (poll or retry) is due, None when nothing is planned."""
        with self._lock:
            if self._backing_off:
                return self._retry_at
        sched = self._scheduler
        job = sched.get_job("poll") if sched is not None else None
        return job.next_run_time if job is not None else None

    def record(self, ok: bool, error: str | None = None) -> float | None:
        """Tell the outcome of a sync; returns the backoff delay when a retry was planned."""
        with self._lock:
            if ok:
                if self.failures:
                    self._log.info("fetch works again after %d failure(s)", self.failures)
                self.failures, self.last_error, self._retry_at, self._backing_off = 0, None, None, False
                self._remove_retry()
                return None
            self.failures += 1
            self.last_error = error
            self._backing_off = True
            base = self.cfg.interval if self.cfg.interval > 0 and not self.cfg.cron else NO_POLL_RETRY_BASE
            delay = backoff_delay(self.failures, base)
            delay *= 1 + random.uniform(0, INTERVAL_JITTER_SHARE)
            self._retry_at = dt.datetime.now(dt.timezone.utc).astimezone() + dt.timedelta(seconds=delay)
            if self._scheduler is not None:
                self._scheduler.add_job(
                    self._retry, "date", run_date=self._retry_at, id="retry", replace_existing=True
                )
            self._log.warning("sync failed (%s); retry %d in %.1fs", error or "error", self.failures, delay)
            return delay

    # -- jobs (scheduler threads) ----------------------------------------------------------
    def _heartbeat(self) -> None:
        self._beat = time.monotonic()

    def _tick(self) -> None:
        with self._lock:
            backing_off = self._backing_off
        if not backing_off:
            self._fire("schedule")

    def _retry(self) -> None:
        self._fire("retry")

    def _remove_retry(self) -> None:
        sched = self._scheduler
        if sched is not None and sched.get_job("retry") is not None:
            try:
                sched.remove_job("retry")
            except Exception:  # JobLookupError: it just ran
                pass
