"""[notify]: who is told about which results, by webhook or email."""

from __future__ import annotations

import re
from typing import Any

from syncd.config.model import NOTIFY_RESULTS, NotifyConfig
from syncd.config.table import Table, suggest
from syncd.config.values import web_url

EMAIL = r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\Z"  # compiled (by re) when an address is set


def parse(s: Table) -> NotifyConfig:
    kw: dict[str, Any] = {}
    if s.has("on"):
        results = s.get("on", list)
        for i, result in enumerate(results):
            if result not in NOTIFY_RESULTS:
                raise s.error(
                    f"on[{i}]",
                    f"expected one of {', '.join(repr(r) for r in NOTIFY_RESULTS)}, "
                    f"got {result!r}" + (suggest(result, NOTIFY_RESULTS) if isinstance(result, str) else ""),
                    line_key="on",
                )
        kw["on"] = tuple(dict.fromkeys(results))
    if s.has("webhook"):
        url = s.get("webhook", str)
        if not web_url(url):
            # The URL often holds a token: the message does not repeat it.
            raise s.error(
                "webhook", 'expected an http:// or https:// URL, e.g. "https://chat.example.org/hooks/abc"'
            )
        kw["webhook"] = url
    if s.has("email"):
        addresses = s.get("email", list)
        for i, address in enumerate(addresses):
            if not isinstance(address, str) or not re.match(EMAIL, address):
                raise s.error(
                    f"email[{i}]",
                    f'expected an address such as "team@example.org", got {address!r}',
                    line_key="email",
                )
        kw["email"] = tuple(addresses)
    if s.has("smtp"):
        kw["smtp"] = s.host_port("smtp", '"host:port" of a mail relay, e.g. "localhost:25"')
    if s.has("sendmail"):
        kw["sendmail"] = s.abs_path("sendmail")
    if kw.get("smtp") and kw.get("sendmail"):
        raise s.error("sendmail", "notify.smtp and notify.sendmail are alternatives: set one of them")
    if kw.get("email") and not (kw.get("smtp") or kw.get("sendmail")):
        raise s.error(
            "email",
            'needs a way to send: notify.smtp = "localhost:25" (a relay) or '
            'notify.sendmail = "/usr/sbin/sendmail"',
        )
    if s.has("sender"):
        sender = s.get("sender", str)
        if not re.match(EMAIL, sender):
            raise s.error("sender", f'expected an address such as "syncd@host.example.org", got {sender!r}')
        kw["sender"] = sender
    if s.has("timeout"):
        kw["timeout"] = s.duration("timeout", positive=True)
    return NotifyConfig(**kw)
