"""Telling people what a sync did: webhook and email, for the results listed in notify.on.

send() delivers on worker threads and waits at most notify.timeout for all transports together:
a slow or dead receiver costs a deploy that much and no more. A failed or late delivery is one
warning line and a count in syncd_notifications_failed_total; the sync's result is unchanged.
"""

from __future__ import annotations

import threading
import time

from syncd import log
from syncd.notify.event import Event, mask

__all__ = ["Event", "mask", "send", "wanted"]

_LOG = log.get("notify")


def wanted(cfg, result: str) -> bool:
    n = cfg.notify
    return result in n.on and bool(n.webhook or n.email)


def send(cfg, event: Event) -> list[str]:
    """Deliver `event`; returns the transports that failed (already logged)."""
    n = cfg.notify
    jobs = []
    if n.webhook:
        from syncd.notify import webhook

        jobs.append(
            ("webhook", webhook.describe(n.webhook), lambda t: webhook.post(n.webhook, event.payload(), t))
        )
    if n.email:
        from syncd.notify import mail

        msg = mail.message(n.sender, n.email, event.subject(), event.text())
        jobs.append(("email", mail.describe(n), lambda t: mail.send(n, msg, t)))
    return _deliver(jobs, n.timeout)


def _deliver(jobs, timeout: float) -> list[str]:
    errors: dict[str, str] = {}
    threads = []
    for transport, where, job in jobs:

        def run(transport=transport, job=job):
            try:
                job(timeout)
            except Exception as exc:  # noqa: BLE001 - any failure is a warning, never the deploy's
                errors[transport] = f"{type(exc).__name__}: {exc}"

        thread = threading.Thread(target=run, name=f"syncd-notify-{transport}", daemon=True)
        thread.start()
        threads.append((transport, where, thread))
    deadline = time.monotonic() + timeout
    failed = []
    for transport, where, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            _LOG.warning(
                "notification by %s not delivered within notify.timeout (%gs); the result stands",
                where,
                timeout,
            )
        elif transport in errors:
            _LOG.warning("notification by %s failed: %s; the result stands", where, errors[transport])
        else:
            _LOG.info("notified by %s", where)
            continue
        failed.append(transport)
    return failed
