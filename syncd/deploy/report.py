"""After a sync: count it, tell people (notify.on), rewrite the metrics textfile.

Nothing here may change or delay the result beyond notify.timeout: every failure is a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd import log
from syncd.deploy.context import Context
from syncd.result import Result
from syncd.state import now_iso

if TYPE_CHECKING:  # imported where they are used: most syncs tell nobody
    from syncd.notify import Event

_LOG = log.get("deploy")


def after_sync(
    ctx: Context,
    *,
    result: Result,
    reason: str | None,
    frm: str | None,
    to: str | None,
    running: str | None,
    duration_s: float,
    noteworthy: bool,
    restarted: bool,
) -> None:
    from syncd import notify
    from syncd.metrics import Counters, write_textfile

    counters = Counters(ctx.cfg.state_dir)
    try:
        counters.record_sync(result, duration_s, restarted)
        if ctx.fetch_failed:
            counters.record_fetch_error()
    except OSError as exc:
        _LOG.warning("cannot count this sync in %s: %s", counters.path, exc)
    if noteworthy and notify.wanted(ctx.cfg, result):
        try:
            failed = notify.send(ctx.cfg, make_event(ctx, result, reason, frm, to, running, duration_s))
            counters.record_notify_failures(failed)
        except Exception as exc:  # noqa: BLE001 - telling people must never change what happened
            _LOG.warning("notification failed: %s: %s; the result stands", type(exc).__name__, exc)
    write_textfile(ctx.cfg)


def make_event(
    ctx: Context,
    result: Result,
    reason: str | None,
    frm: str | None,
    to: str | None,
    running: str | None,
    duration_s: float,
) -> Event:
    import socket

    from syncd.notify import Event, mask

    secrets = ctx.rendered.secret_values if ctx.rendered is not None else ()
    return Event(
        event=result,
        unit=ctx.cfg.service.unit,
        host=socket.gethostname(),
        from_=frm,
        to=to,
        running=running,
        reason=mask(reason, secrets),
        time=now_iso(),
        duration_s=duration_s,
        log_tail=[mask(line, secrets) for line in log_tail(ctx)],
        tree=str(ctx.cfg.repo.path),
        owner=ctx.cfg.service.owner,
    )


def log_tail(ctx: Context) -> list[str]:
    """The unit's last journal lines from the failed start (filled in by the judge when it has them)."""
    return list(ctx.log_tail)
