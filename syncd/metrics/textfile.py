"""The textfile for node_exporter's textfile collector, replaced atomically (never read half-written)."""

from __future__ import annotations

from prometheus_client import generate_latest

from syncd import fsutil, log
from syncd.metrics.collect import registry_for

_LOG = log.get("metrics")


def write_textfile(cfg) -> None:
    """Rewrite metrics.textfile from the state; a failure is a warning, never the sync's."""
    path = cfg.metrics.textfile
    if path is None:
        return
    try:
        data = generate_latest(registry_for(cfg))
        fsutil.atomic_write(path, data, 0o644)  # node_exporter runs as its own user and must read it
    except FileNotFoundError:
        _LOG.warning(
            "metrics.textfile: the directory %s does not exist (is prometheus-node-exporter "
            "installed? its textfile directory is usually /var/lib/prometheus/node-exporter)",
            path.parent,
        )
    except OSError as exc:
        _LOG.warning("metrics.textfile: cannot write %s: %s", path, exc.strerror or exc)
