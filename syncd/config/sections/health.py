"""[health]: how long the restarted unit has to prove itself, and the probes it must pass."""

from __future__ import annotations

from typing import Any

from syncd.config.model import HealthConfig
from syncd.config.table import Table
from syncd.config.values import parse_dicom_target, web_url


def parse(s: Table) -> HealthConfig:
    kw: dict[str, Any] = {}
    if s.has("timeout"):
        kw["timeout"] = s.duration("timeout", positive=True)
    if s.has("settle"):
        kw["settle"] = s.duration("settle")
    if s.has("tcp"):
        kw["tcp"] = s.host_port("tcp", '"host:port", e.g. "127.0.0.1:11112"')
    if s.has("http"):
        url = s.get("http", str)
        if not web_url(url):
            raise s.error(
                "http",
                f'expected an http:// or https:// URL, e.g. "http://127.0.0.1:8080/healthz", got {url!r}',
            )
        kw["http"] = url
    if s.has("command"):
        kw["command"] = s.argv("command", s.get("command", list))
    if s.has("dicom_echo"):
        target = s.get("dicom_echo", str)
        try:
            parse_dicom_target(target)
        except ValueError as e:
            raise s.error("dicom_echo", str(e)) from None
        kw["dicom_echo"] = target
    return HealthConfig(**kw)
