"""Judging whether a restarted unit is healthy: its systemd state, then optional probes."""

from syncd.health.judge import Snapshot, Verdict, judge, take_snapshot

__all__ = ["Snapshot", "Verdict", "judge", "take_snapshot"]
