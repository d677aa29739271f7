"""Is a freshly restarted unit healthy? Watch `systemctl show` and the probes until we know.

The rules (issue 2, step 11):
  1. within health.timeout the unit becomes up (see `_is_up`) and every configured probe passes once;
  2. then for health.settle it stays up with the same MainPID and InvocationID, and NRestarts does
     not grow beyond its value right after the restart job (whether a manual restart resets
     NRestarts depends on the systemd version -- 252 does -- so neither 0 nor the value before
     the restart is what to compare with).
Anything else is a failure with a short reason: auto-restart, failed, inactive, still
activating/deactivating at the deadline, a new PID or invocation, a probe that never passed.

`systemctl restart` of a Type=simple unit returns success as soon as the process is forked, even
when its binary is missing: the exec fails a moment later, which is why a restart that "worked"
proves nothing and the settle window exists.

Up means ActiveState=active (or reloading). That includes SubState=exited: a Type=oneshot unit
with RemainAfterExit=yes has no main process to watch, and systemd itself calls it active, so it
passes (its MainPID is 0 before and after, its InvocationID and NRestarts are still checked). A
oneshot unit without RemainAfterExit is inactive once its restart returns, and is judged failed:
syncd deploys services that keep running.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, NamedTuple

from syncd.health.probes import probes_for

PROPERTIES = ("ActiveState", "SubState", "MainPID", "NRestarts", "InvocationID", "Result")
# How soon to look again: a restarted service often answers within tens of milliseconds, so the
# first looks come fast, as a person polling the port would; each pause then adds a tenth of the
# time already waited (the verdict comes at most ~10 % late), up to POLL_INTERVAL. A watch that
# hears systemd's change signals (D-Bus) also wakes at once when the unit changes.
FIRST_PAUSE = 0.005
PAUSE_GROWTH = 0.1
POLL_INTERVAL = 0.15
_PROCESS_RESULTS = ("exit-code", "signal", "core-dump", "success")


# NamedTuples, not dataclasses: the same immutable records, made ten times faster at import, which
# every `syncd sync` pays.
class Snapshot(NamedTuple):
    """What `systemctl show` says about a unit at one moment."""

    active_state: str
    sub_state: str
    main_pid: int
    n_restarts: int
    invocation_id: str
    result: str

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> "Snapshot":
        return cls(
            active_state=props.get("ActiveState", ""),
            sub_state=props.get("SubState", ""),
            main_pid=_int(props.get("MainPID")),
            n_restarts=_int(props.get("NRestarts")),
            invocation_id=props.get("InvocationID", ""),
            result=props.get("Result", ""),
        )


class Verdict(NamedTuple):
    healthy: bool
    reason: str
    elapsed_s: float


class Assessment(NamedTuple):
    status: str  # "up", "waiting" or "failed"
    reason: str = ""


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _secs(seconds: float) -> str:
    return f"{seconds:g}s"


def take_snapshot(systemctl, unit: str) -> Snapshot:
    return Snapshot.from_properties(systemctl.show(unit, *PROPERTIES))


def next_pause(waited: float) -> float:
    """Seconds to wait before looking again, `waited` seconds into a wait."""
    return min(POLL_INTERVAL, FIRST_PAUSE + waited * PAUSE_GROWTH)


def _observe(watch) -> tuple[Snapshot, bool]:
    """The unit's state, and whether a job (a queued start or restart) is pending for it."""
    props = watch.show(*PROPERTIES, "Job")
    return Snapshot.from_properties(props), props.get("Job", "") not in ("", "0")


def _is_up(now: Snapshot) -> bool:
    return now.active_state in ("active", "reloading")


def assess(
    now: Snapshot,
    after: Snapshot,
    *,
    job_pending: bool = False,
    baseline: Snapshot | None = None,
    was_up: bool = False,
) -> Assessment:
    """Judge one observation. `after` is the snapshot taken when the restart job returned,
    `baseline` the first up observation (whose PID and invocation must not change),
    `was_up` whether the unit has already been seen up during this judgement."""
    if now.sub_state == "auto-restart":
        if now.n_restarts > after.n_restarts:
            return Assessment(
                "failed", f"unit entered auto-restart (NRestarts {after.n_restarts}→{now.n_restarts})"
            )
        return Assessment("failed", f"unit entered auto-restart (main process exited: Result={now.result})")
    if now.n_restarts > after.n_restarts:
        return Assessment(
            "failed", f"unit was restarted by systemd (NRestarts {after.n_restarts}→{now.n_restarts})"
        )
    if now.active_state in ("failed", "inactive") and not job_pending:
        if now.active_state == "inactive":
            return Assessment("failed", f"unit is inactive (Result={now.result})")
        if now.result in _PROCESS_RESULTS:
            return Assessment("failed", f"main process exited: Result={now.result}")
        return Assessment("failed", f"unit failed: Result={now.result}")
    if baseline is not None and now.invocation_id != baseline.invocation_id:
        return Assessment("failed", "unit was restarted (new invocation)")
    if _is_up(now):
        if baseline is not None and now.main_pid != baseline.main_pid:
            return Assessment("failed", f"main PID changed ({baseline.main_pid}→{now.main_pid})")
        return Assessment("up")
    if was_up:
        return Assessment("failed", f"unit left the active state ({now.active_state}/{now.sub_state})")
    return Assessment("waiting")


def _deadline_reason(now: Snapshot, job_pending: bool, timeout: float) -> str:
    if now.active_state in ("activating", "deactivating", "reloading"):
        return f"still {now.active_state} after {_secs(timeout)}"
    if job_pending:
        return f"still waiting to start after {_secs(timeout)}"
    return f"not active after {_secs(timeout)} ({now.active_state}/{now.sub_state})"


def judge(
    systemctl,
    unit: str,
    health,
    *,
    after: Snapshot,
    run_as=None,
    cwd: Path | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Verdict:
    """Watch `unit` (just restarted; `after` taken when the restart job returned) until it is
    judged healthy or not. health.timeout bounds becoming up and passing the probes; the settle
    window follows. Probes run as `run_as` (an Identity) in `cwd` where they run a command."""
    with systemctl.watch(unit) as watch:
        return _judge(watch, health, after, probes_for(health, run_as=run_as, cwd=cwd), on_progress)


def _judge(watch, health, after: Snapshot, pending: list, on_progress) -> Verdict:
    progress = on_progress or (lambda message: None)
    start = time.monotonic()
    deadline = start + health.timeout
    probe_reasons: dict[str, str] = {}
    # The identity to hold on to: the restarted invocation, once seen up with no job pending.
    # `after` qualifies when the restart job had finished and left the unit up.
    baseline = after if _is_up(after) else None
    phase = "starting"  # -> "probing" -> "settling"
    settle_end = observed_at = 0.0
    look = True  # observe the unit at the next turn
    progress("waiting for the unit to become active")

    def verdict(healthy: bool, reason: str) -> Verdict:
        return Verdict(healthy, reason, round(time.monotonic() - start, 3))

    while True:
        # While probes are retried fast, the unit is looked at again when the watch heard it change
        # or POLL_INTERVAL has passed; in the other phases at every turn.
        if look or phase != "probing" or time.monotonic() - observed_at >= POLL_INTERVAL:
            observed_at = time.monotonic()
            now, job_pending = _observe(watch)
            look = False
            if job_pending and phase == "starting":
                baseline = None  # a queued (re)start: the invocation to watch does not exist yet
            found = assess(now, after, job_pending=job_pending, baseline=baseline, was_up=phase != "starting")
            if found.status == "failed":
                return verdict(False, found.reason)
            if found.status == "up":
                if baseline is None:
                    baseline = now
                if phase == "starting":
                    phase = "probing"
                    progress(f"unit is {now.active_state} ({now.sub_state}, main PID {now.main_pid})")

        if phase == "probing":
            for probe in list(pending):
                reason = probe.check(max(deadline - time.monotonic(), 0.1))
                if reason is None:
                    pending.remove(probe)
                    progress(f"{probe.name} probe passed")
                else:
                    probe_reasons[probe.name] = reason
            if not pending:
                phase = "settling"
                settle_end = time.monotonic() + health.settle
                progress(f"watching the unit settle for {_secs(health.settle)}")
                look = True  # observe again before trusting anything about the settle window
                continue

        if phase == "settling":
            if observed_at >= settle_end:
                return verdict(True, f"active and stable for {_secs(health.settle)}")
            wake, pause = settle_end, POLL_INTERVAL
        else:
            if time.monotonic() >= deadline:
                if phase == "probing":
                    return verdict(
                        False, probe_reasons.get(pending[0].name, f"{pending[0].name} probe did not pass")
                    )
                return verdict(False, _deadline_reason(now, job_pending, health.timeout))
            wake, pause = deadline, next_pause(time.monotonic() - start)
        if watch.wait(max(0.0, min(pause, wake - time.monotonic()))):
            look = True  # systemd said the unit changed
