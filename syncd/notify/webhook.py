"""The webhook: one JSON object POSTed to notify.webhook."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit


def describe(url: str) -> str:
    """Where it goes, for log lines: the host only (the path of a chat webhook is its secret)."""
    return f"webhook to {urlsplit(url).hostname}"


def post(url: str, payload: dict, timeout: float) -> None:
    """Raise on anything but a 2xx answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "syncd"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        answer.read(65536)
        if not 200 <= answer.status < 300:
            raise OSError(f"answered HTTP {answer.status}")
