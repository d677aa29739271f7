"""Prometheus metrics of one config: a textfile after every sync, and GET /metrics under `syncd run`.

prometheus_client is imported only when metrics are configured: it costs a sync's start-up time.
"""

from syncd.metrics.counters import Counters

__all__ = ["Counters", "write_textfile"]


def write_textfile(cfg) -> None:
    if cfg.metrics.textfile is None:
        return
    from syncd.metrics.textfile import write_textfile as write

    write(cfg)
