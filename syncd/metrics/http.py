"""GET /metrics, served by `syncd run` on metrics.listen (a local address: there is no auth)."""

from __future__ import annotations

from syncd.config.values import parse_host_port
from syncd.metrics.collect import registry_for


class MetricsServer:
    def __init__(self, cfg):
        from prometheus_client import start_http_server

        host, port = parse_host_port(cfg.metrics.listen)
        self.address = cfg.metrics.listen
        self._server, self._thread = start_http_server(port, addr=host, registry=registry_for(cfg))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
