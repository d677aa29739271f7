"""Prometheus metrics of one config: a textfile after every sync, and GET /metrics under `syncd run`."""

from syncd.metrics.counters import Counters
from syncd.metrics.textfile import write_textfile

__all__ = ["Counters", "write_textfile"]
