"""[metrics]: a textfile for node_exporter and/or GET /metrics served by `syncd run`."""

from __future__ import annotations

from typing import Any

from syncd.config.model import MetricsConfig
from syncd.config.table import Table


def parse(s: Table) -> MetricsConfig:
    kw: dict[str, Any] = {}
    if s.has("textfile"):
        path = s.abs_path("textfile")
        if path.suffix != ".prom" or path.name == ".prom":
            raise s.error(
                "textfile",
                'node_exporter\'s textfile collector reads only files ending in ".prom": '
                f'expected e.g. "/var/lib/prometheus/node-exporter/syncd-{s.src.path.stem}.prom"',
            )
        kw["textfile"] = path
    if s.has("listen"):
        kw["listen"] = s.host_port("listen", '"address:port", e.g. "127.0.0.1:9469"')
    if s.has("process"):
        kw["process"] = s.get("process", bool)
    return MetricsConfig(**kw)
