"""GET /metrics, served by `syncd run` on metrics.listen (a local address: there is no auth)."""

from __future__ import annotations

from syncd.metrics.collect import registry_for


class MetricsServer:
    def __init__(self, cfg):
        from prometheus_client import start_http_server

        host, _, port = cfg.metrics.listen.rpartition(":")
        self.address = cfg.metrics.listen
        self._server, self._thread = start_http_server(
            int(port), addr=host.strip("[]"), registry=registry_for(cfg)
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
