"""`syncd run`: load the config, arm the triggers, THEN tell systemd READY=1, and sync on demand.

Threads: the main thread owns signals, sd_notify pings, reloads and the pause flag; one worker
(SingleFlight) runs reconcile(); apscheduler and watchdog run their own threads and only ever
call SingleFlight.trigger(), which returns at once.

Signals never run logic in a handler (a handler interrupting a thread primitive can deadlock);
they set a flag and the wakeup fd wakes the main loop's select().
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from syncd import log
from syncd.daemon.notify import Notifier, one_line
from syncd.daemon.singleflight import SingleFlight
from syncd.errors import Blocked, SyncdError
from syncd.result import Result
from syncd.state import now_iso
from syncd.text import short

if TYPE_CHECKING:  # the daemon imports the deploy chain when it first syncs
    from syncd.deploy.context import Step

TICK = 1.0  # seconds: how often the main loop looks at the pause flag, the watches and the watchdog
RECHECK = 3.0  # seconds: how often a waiting deploy looks again at [drain] and schedule.windows


def outcome_line(outcome) -> str:
    """The one-line STATUS= that summarises a reconcile."""
    result, reason = outcome.result, outcome.reason
    if result is Result.DEPLOYED:
        return f"healthy at {short(outcome.deployed)}"
    if result is Result.UP_TO_DATE:
        return f"up to date at {short(outcome.deployed)}"
    if result is Result.ROLLED_BACK:
        return f"rolled back to {short(outcome.deployed)}: {reason or 'unhealthy'}"
    if result is Result.BLOCKED:
        return f"blocked: {reason or 'see syncd status'}"
    if result is Result.STOPPED:
        return "stopped before deploying"
    if result is Result.WAITING:
        return f"waiting to deploy {short(outcome.upstream)}: {reason}; `syncd sync --now` deploys at once"
    if result is Result.SKIPPED:
        return f"deploy of {short(outcome.upstream)} skipped: {reason}"
    return f"error: {reason or 'see the log'}"


def step_line(step: Step, commit: str | None) -> str:
    """STATUS= while a step runs: its label (syncd/deploy/chain.py), {c} the short commit."""
    return one_line(step.words("" if commit in (None, "none") else str(commit)))


class Daemon:
    def __init__(self, config_path: Path, cfg, notifier: Notifier | None = None):
        self.path = Path(config_path)
        self.cfg = cfg
        self.notifier = notifier or Notifier()
        self.log = log.get("daemon")
        self._stop = threading.Event()  # should_stop() of the running reconcile
        self._term = False  # set by the signal handlers, read by the main loop
        self._hup = False
        self.schedule = None
        self.watcher = None
        self.tracker = None
        self.flight: SingleFlight | None = None
        self._status = "starting"
        self._paused = False
        self._published: dict | None = None
        self._started = now_iso()
        self._last_ping = 0.0
        self._was_healthy = True
        self.metrics_server = None
        self._recheck_at: float | None = None  # a deploy waits for [drain] / windows: look again then

    # -- main thread -----------------------------------------------------------------------
    def run(self) -> int:
        from syncd.state import State

        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, self._on_hup)

        State(self.cfg.state_dir).ensure()  # state dir sound before READY
        self._paused = State(self.cfg.state_dir).paused
        self.flight = SingleFlight(self._sync).start()
        self._arm(self.cfg)
        self._serve_metrics(self.cfg)
        armed = self._describe_triggers()
        self.log.info("syncd run: %s for %s (%s)", self.path, self.cfg.service.unit, armed)
        self._status = "paused" if self._paused else "idle"
        self._publish(force=True)
        self.notifier.ready(status=f"{self._status}; {armed}")  # triggers armed: a push from now on is seen
        self.trigger("start")

        tick = TICK
        if self.notifier.watchdog_interval:
            tick = max(0.1, min(TICK, self.notifier.watchdog_interval / 4))
        try:
            while not self._term:
                select.select([rfd], [], [], tick)
                _drain(rfd)
                if self._term:
                    break
                if self._hup:
                    self._hup = False
                    self._reload()
                self._check_pause()
                if self._recheck_at is not None and time.monotonic() >= self._recheck_at:
                    self._recheck_at = None
                    self.trigger("recheck")
                if self.watcher is not None:
                    self.watcher.check()
                self._publish()
                self._ping()
            return self._shutdown(tick)
        finally:
            signal.set_wakeup_fd(-1)
            os.close(rfd)
            os.close(wfd)

    def trigger(self, reason: str) -> None:
        if self.flight is not None:
            self.flight.trigger(reason)

    def _on_term(self, signum, frame) -> None:
        self._term = True

    def _on_hup(self, signum, frame) -> None:
        self._hup = True

    def _arm(self, cfg) -> None:
        """Start the scheduler and the watches for `cfg` (before READY, and again on reload)."""
        from syncd.daemon.schedule import Schedule

        wd = self.notifier.watchdog_interval
        heartbeat = max(0.25, min(5.0, wd / 4)) if wd else 5.0
        schedule = Schedule(cfg.schedule, self.trigger, source=cfg.source, heartbeat=heartbeat)
        watcher = tracker = None
        if cfg.schedule.watch:
            from syncd.daemon.watch import LocalBranchTracker, RefWatcher, moved_by_syncd, targets_for

            targets, notes = targets_for(cfg.repo)
            for note in notes:
                self.log.info("watch: %s", note)
            watcher = RefWatcher(targets, self._ref_moved)
            if any(t.kind == "local" for t in targets):
                tracker = LocalBranchTracker(
                    lambda: watcher.value("local"),
                    self.trigger,
                    own=lambda sha: moved_by_syncd(cfg.state_dir, sha),
                )
            watcher.start()
        schedule.start()
        self.schedule, self.watcher, self.tracker = schedule, watcher, tracker

    def _serve_metrics(self, cfg) -> None:
        """GET /metrics on metrics.listen; a port that cannot be bound is logged, deploys go on."""
        from syncd.metrics import write_textfile

        write_textfile(cfg)
        current = self.metrics_server
        if current is not None and current.address == cfg.metrics.listen:
            return
        if current is not None:
            current.close()
            self.metrics_server = None
        self._recheck_at: float | None = None  # a deploy waits for [drain] / windows: look again then
        if cfg.metrics.listen:
            from syncd.metrics.http import MetricsServer

            try:
                self.metrics_server = MetricsServer(cfg)
                self.log.info("serving GET /metrics on %s", cfg.metrics.listen)
            except OSError as exc:
                self.log.error(
                    "metrics.listen: cannot serve /metrics on %s: %s", cfg.metrics.listen, exc.strerror or exc
                )

    def _disarm(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self.schedule is not None:
            self.schedule.shutdown()
        self.watcher = self.tracker = None

    def _describe_triggers(self) -> str:
        parts = [self.schedule.describe() if self.schedule else "no polling"]
        if self.watcher is not None:
            parts += [f"watching {d}" for d in self.watcher.describe()]
        return ", ".join(parts)

    def _ref_moved(self, kind: str) -> None:  # observer thread
        if kind == "remote":
            self.trigger("push")
        elif self.tracker is not None:
            self.tracker.moved()

    def _reload(self) -> None:
        from syncd.trust import load_trusted

        self.notifier.reloading()
        try:
            new = load_trusted(self.path)
        except SyncdError as exc:
            self.log.error("reload refused, keeping the running config: %s", exc)
            self.notifier.ready(status=one_line(f"reload refused ({exc}); {self._status}"))
            return
        except Exception as exc:  # an unreadable file, a loader bug: same answer
            self.log.error("reload refused, keeping the running config: %s: %s", self.path, exc)
            self.notifier.ready(status=one_line(f"reload refused ({exc}); {self._status}"))
            return
        old = self.cfg
        try:
            self._disarm()
            self.cfg = new
            self._arm(new)
        except Exception as exc:
            self.log.error(
                "reload: re-arming the triggers for the new config failed (%s); keeping the old one", exc
            )
            self._disarm()
            self.cfg = old
            self._arm(old)
            self.notifier.ready(status=one_line(f"reload refused ({exc}); {self._status}"))
            return
        if old.state_dir != new.state_dir:
            from syncd.state import State

            State(old.state_dir).clear_daemon()
            State(new.state_dir).ensure()
        self._serve_metrics(new)
        self.log.info("reloaded %s (%s)", self.path, self._describe_triggers())
        self._publish(force=True)
        self.notifier.ready(status=one_line(f"reloaded; {self._status}"))
        self.trigger("reload")  # a changed env.vars is a deploy

    def _check_pause(self) -> None:
        from syncd.state import State

        paused = State(self.cfg.state_dir).paused
        if paused == self._paused:
            return
        self._paused = paused
        from syncd.metrics import write_textfile

        write_textfile(self.cfg)  # syncd_paused changed
        if paused:
            self.log.info("paused: automatic syncs stop until `syncd resume`")
            self._set_status("paused")
        else:
            self.log.info("resumed: automatic syncs restart")
            self._set_status("resumed")
            self.trigger("resume")

    def _healthy(self) -> bool:
        """What WATCHDOG=1 vouches for: the scheduler dispatches, the worker lives and is not stuck."""
        if self.schedule is None or not self.schedule.healthy():
            return False
        if self.flight is None or not self.flight.alive():
            return False
        return self.flight.running_for() < _sync_budget(self.cfg)

    def _ping(self) -> None:
        interval = self.notifier.watchdog_interval
        if not interval:
            return
        now = time.monotonic()
        if now - self._last_ping < interval / 4:
            return
        healthy = self._healthy()
        if healthy:
            self.notifier.watchdog()
            self._last_ping = now
        elif self._was_healthy:
            self.log.warning("not pinging the watchdog: the scheduler or the sync worker is stuck or dead")
        self._was_healthy = healthy

    def _publish(self, force: bool = False) -> None:
        """Write daemon.json (pid, next run, triggers) for `syncd status`, when it changed."""
        from syncd.state import State

        nxt = self.schedule.next_run() if self.schedule is not None else None
        info = {
            "pid": os.getpid(),
            "started": self._started,
            "config": str(self.path),
            "next_run": nxt.isoformat(timespec="seconds") if nxt and not self._paused else None,
            "triggers": self._describe_triggers(),
            "status": self._status,
            "fetch_failures": self.schedule.failures if self.schedule is not None else 0,
            "last_error": self.schedule.last_error if self.schedule is not None else None,
        }
        if force or info != self._published:
            try:
                State(self.cfg.state_dir).set_daemon(info)
                self._published = info
            except OSError as exc:
                self.log.warning("cannot write daemon state in %s: %s", self.cfg.state_dir, exc)

    def _shutdown(self, tick: float) -> int:
        from syncd.state import State

        self._stop.set()
        busy = self.flight is not None and self.flight.running
        self.notifier.stopping("stopping: finishing the current step" if busy else "stopping")
        self.log.info("stopping%s", " at the next safe point of the running sync" if busy else "")
        self._disarm()
        if self.flight is not None:
            self.flight.close()
            while not self.flight.join(timeout=tick):
                if self.notifier.watchdog_interval:
                    self.notifier.watchdog()  # still alive, waiting for a hook or a health check
        try:
            State(self.cfg.state_dir).clear_daemon()
        except OSError:
            pass
        if self.metrics_server is not None:
            self.metrics_server.close()
        self.log.info("stopped cleanly")
        self.notifier.close()
        return 0

    def _set_status(self, text: str) -> None:
        self._status = one_line(text)
        self.notifier.status(self._status)

    # -- worker thread ---------------------------------------------------------------------
    def _sync(self, reasons: list[str]) -> None:
        from syncd.state import State

        cfg = self.cfg
        if self._stop.is_set():
            return
        if State(cfg.state_dir).paused:
            if (cfg.state_dir / "journal.json").exists():  # an interrupted deploy is undone even when paused
                self._recover(cfg)
            if State(cfg.state_dir).status().get("waiting"):
                State(cfg.state_dir).update_status(waiting=None)  # nothing waits while paused
            self.log.info("paused: %s ignored", "+".join(reasons))
            self._set_status("paused")
            return
        if reasons == ["recheck"] and self._still_waiting(cfg):
            return
        if not self._wait_for_lock(cfg):
            return
        tracker, schedule = self.tracker, self.schedule
        if tracker is not None:
            tracker.sync_started()
        trigger = "+".join(reasons)
        started = time.monotonic()
        outcome = self._reconcile(cfg, trigger)
        elapsed = time.monotonic() - started
        if self._stop.is_set():
            self.log.info(
                "sync (%s) stopped at a safe point: %s [%.1fs]", trigger, outcome_line(outcome), elapsed
            )
            return
        if outcome.result is Result.PAUSED:  # paused while this waited for the lock (a rollback, say)
            self.log.info("paused: %s ignored", trigger)
            self._set_status("paused")
            if tracker is not None:
                tracker.sync_finished(outcome.deployed)
            return
        delay = None
        if schedule is not None:  # only a failed fetch backs off; a failed deploy is no reason to wait
            delay = schedule.record(ok=not outcome.retry_later, error=outcome.reason)
        line = outcome_line(outcome)
        if outcome.result is Result.WAITING:
            self._recheck_at = time.monotonic() + RECHECK
        if delay is not None:
            line += f"; retry in {delay:.0f}s"
        # An up-to-date sync's line from the chain is enough at every poll.
        level = logging.DEBUG if outcome.result is Result.UP_TO_DATE else outcome.result.level
        self.log.log(level, "sync (%s): %s [%.1fs]", trigger, line, elapsed)
        self._set_status(line)
        if tracker is not None:
            tracker.sync_finished(outcome.deployed)

    def _still_waiting(self, cfg) -> bool:
        """A cheap look (no git) at what holds a waiting deploy; True: it still waits, look again later."""
        from syncd import gate
        from syncd.deploy.context import owner_identity
        from syncd.state import State

        state = State(cfg.state_dir)
        waiting = state.status().get("waiting")
        if not waiting or waiting.get("skipped"):
            return False
        try:
            verdict = gate.check(cfg, owner_identity(cfg), waiting.get("busy_since"))
        except Exception as exc:  # noqa: BLE001 - let the full sync decide and report
            self.log.warning("checking [drain] / schedule.windows failed: %s", exc)
            return False
        if verdict.cause is None or verdict.skip:
            return False  # ready (or max_wait passed): the full sync decides and records
        if verdict.cause != waiting.get("cause"):
            state.update_status(waiting=dict(waiting, cause=verdict.cause, busy_since=verdict.busy_since))
            self.log.info("still waiting to deploy %s: %s", short(waiting.get("commit")), verdict.cause)
        self._set_status(
            one_line(
                f"waiting to deploy {short(waiting.get('commit'))}: {verdict.cause}; "
                "`syncd sync --now` deploys at once"
            )
        )
        self._recheck_at = time.monotonic() + RECHECK
        return True

    def _reconcile(self, cfg, trigger: str):
        from syncd.deploy import Outcome, reconcile
        from syncd.trust import Untrusted

        try:
            return reconcile(
                cfg, trigger=trigger, on_step=self._on_step, should_stop=self._stop.is_set, unless_paused=True
            )
        except Untrusted as exc:  # nothing is written into a state directory someone else could change
            return Outcome(Result.ERROR, str(exc), exc.exit_code)
        except SyncdError as exc:
            result = Result.BLOCKED if isinstance(exc, Blocked) else Result.ERROR
            outcome = Outcome(result, str(exc), exc.exit_code)
        except Exception as exc:  # a bug must not kill the daemon; log it, back off, go on
            self.log.exception("sync (%s) raised", trigger)
            outcome = Outcome(
                Result.ERROR, f"{type(exc).__name__}: {exc}", Result.ERROR.exit_code, retry_later=True
            )
        _record_unrecorded(cfg, outcome)
        return outcome

    def _recover(self, cfg) -> None:
        from syncd.deploy import reconcile

        try:
            reconcile(cfg, trigger="recovery", recover_only=True, should_stop=self._stop.is_set)
        except Exception as exc:  # noqa: BLE001 - reported, retried at the next trigger
            self.log.error("undoing an interrupted deploy failed: %s", exc)

    def _on_step(self, step: Step, commit: str) -> None:
        self._set_status(step_line(step, commit))

    def _wait_for_lock(self, cfg) -> bool:
        """Wait, stop-aware, while a CLI `syncd sync` holds the per-config lock."""
        from syncd.lock import SyncLock

        announced = False
        while not self._stop.is_set():
            try:
                with SyncLock(cfg.state_dir, wait=False):
                    return True
            except Blocked:
                if not announced:
                    self.log.info("another sync of this config is running; waiting for it")
                    self._set_status("waiting for another sync of this config")
                    announced = True
                self._stop.wait(0.5)
        return False


def _record_unrecorded(cfg, outcome) -> None:
    """reconcile() raised instead of recording: put the error where `syncd status` looks."""
    from syncd.state import State, now_iso

    try:
        State(cfg.state_dir).update_status(result=outcome.result, reason=outcome.reason, last_sync=now_iso())
    except (OSError, SyncdError):  # a full or broken state dir: the log line is all there is
        pass


def _sync_budget(cfg) -> float:
    """Longest a healthy sync may take before the watchdog is let go (a hung git, a lost lock)."""
    hooks = len(cfg.hooks.pre_restart) + len(cfg.hooks.post_deploy) + len(cfg.hooks.on_failure)
    build = cfg.python.timeout if cfg.python else 0.0  # a [python] environment build, bounded by its timeout
    return cfg.hooks.timeout * (hooks + 1) + 2 * (cfg.health.timeout + cfg.health.settle) + build + 600


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def run_daemon(config_path: Path) -> int:
    from syncd.trust import load_trusted

    cfg = load_trusted(Path(config_path))
    return Daemon(config_path, cfg).run()
