"""syncd's metrics, read from its state files at each collection (so a CLI sync shows up too).

Every sample carries unit="...": node_exporter merges all textfiles, and two services on one
host must not collide.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from syncd.metrics.counters import Counters
from syncd.result import Result

RESULTS = tuple(r for r in Result if r.recorded)  # what a sync counts

HELP = {
    "syncd_deploys": "Syncs finished, by result: deployed (a new version runs and is healthy), rolled-back "
    "(the new version failed its health check; the previous one runs again), blocked (nothing "
    "was changed; syncd status says why), error (syncd could not do its part), up-to-date "
    "(nothing new).",
    "syncd_last_result_timestamp_seconds": "When the last sync with this result finished (Unix time). Alert when "
    "rolled-back or error is recent.",
    "syncd_last_sync_timestamp_seconds": "When the last sync finished, whatever its result (Unix time). Old means "
    "syncd is not running or not syncing.",
    "syncd_deployed_info": "The commit that runs now, in the commit label (the value is always 1).",
    "syncd_paused": "1 while automatic syncs are paused (after syncd pause or syncd rollback; syncd resume "
    "starts them again), else 0.",
    "syncd_quarantined_commits": "Upstream commits that failed their health check and are not tried again until "
    "upstream moves past them.",
    "syncd_deploy_duration_seconds": "How long the last deploy or rollback took, from fetch to the health "
    "verdict, in seconds.",
    "syncd_fetch_errors": "Fetches from the remote that failed (network, credentials, remote gone). The daemon "
    "retries with back-off.",
    "syncd_notifications_failed": "Notifications (webhook, email) not delivered within notify.timeout.",
    "syncd_waiting": "1 while a deploy is ready but waits: for the pipeline to be idle ([drain]) or for a restart "
    "window (schedule.windows). syncd status says why.",
}


class SyncdCollector(Collector):
    def __init__(self, cfg):
        self.cfg = cfg

    def collect(self):
        from syncd.state import State

        unit = self.cfg.service.unit
        state = State(self.cfg.state_dir)
        status = state.status()
        counts = Counters(self.cfg.state_dir).load()

        deploys = CounterMetricFamily("syncd_deploys", HELP["syncd_deploys"], labels=["unit", "result"])
        last = GaugeMetricFamily(
            "syncd_last_result_timestamp_seconds",
            HELP["syncd_last_result_timestamp_seconds"],
            labels=["unit", "result"],
        )
        for result in RESULTS:
            deploys.add_metric([unit, result], counts["syncs"].get(result, 0))
            if result in counts["last"]:
                last.add_metric([unit, result], counts["last"][result])
        yield deploys
        yield last
        last_sync = GaugeMetricFamily(
            "syncd_last_sync_timestamp_seconds", HELP["syncd_last_sync_timestamp_seconds"], labels=["unit"]
        )
        if "last_sync" in counts:
            last_sync.add_metric([unit], counts["last_sync"])
        yield last_sync
        info = GaugeMetricFamily(
            "syncd_deployed_info", HELP["syncd_deployed_info"], labels=["unit", "commit"]
        )
        if status.get("deployed"):
            info.add_metric([unit, status["deployed"]], 1)
        yield info
        yield _gauge("syncd_paused", unit, 1 if state.paused else 0)
        yield _gauge("syncd_quarantined_commits", unit, len(state.quarantined()))
        duration = GaugeMetricFamily(
            "syncd_deploy_duration_seconds", HELP["syncd_deploy_duration_seconds"], labels=["unit"]
        )
        if "last_deploy_duration_s" in counts:
            duration.add_metric([unit], counts["last_deploy_duration_s"])
        yield duration
        fetch = CounterMetricFamily("syncd_fetch_errors", HELP["syncd_fetch_errors"], labels=["unit"])
        fetch.add_metric([unit], counts["fetch_errors"])
        yield fetch
        notify = CounterMetricFamily(
            "syncd_notifications_failed", HELP["syncd_notifications_failed"], labels=["unit", "transport"]
        )
        for transport in ("webhook", "email"):
            notify.add_metric([unit, transport], counts["notify_failures"].get(transport, 0))
        yield notify
        yield _gauge("syncd_waiting", unit, 1 if status.get("waiting") else 0)


def _gauge(name: str, unit: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, HELP[name], labels=["unit"])
    family.add_metric([unit], value)
    return family


def registry_for(cfg) -> CollectorRegistry:
    """syncd's own registry: its metrics only, plus process metrics when metrics.process asks."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SyncdCollector(cfg))
    if cfg.metrics.process:
        from prometheus_client import PlatformCollector, ProcessCollector

        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry
