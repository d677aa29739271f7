"""One notification: the spec's fields, and the same told in sentences for a person."""

from __future__ import annotations

from collections.abc import Iterable
from typing import overload

from syncd.notify.advice import what_to_do
from syncd.records import dataclass, field
from syncd.result import Result
from syncd.text import short

MASK = "********"
FAILURES = tuple(r for r in Result if r.failed)  # their notifications carry the log tail


@dataclass
class Event:
    event: str  # the result: deployed | rolled-back | blocked | error
    unit: str
    host: str
    from_: str | None  # the commit that ran before (for a rollback: the one that failed)
    to: str | None  # the commit that runs after
    running: str | None  # what runs now (for blocked and error: what ran before)
    reason: str | None
    time: str  # ISO 8601
    duration_s: float
    log_tail: list[str] = field(default_factory=list)  # the unit's last lines in the failed start
    tree: str | None = None  # repo.path and service.owner, to write the advice for this server
    owner: str | None = None

    def advice(self) -> str:
        return what_to_do(self.event, self.reason, self.unit, self.tree, self.owner)

    def payload(self) -> dict:
        """The webhook body. `text` is the message for a person (chat webhooks show it as it is)."""
        body = {
            "event": self.event,
            "unit": self.unit,
            "host": self.host,
            "from": self.from_,
            "to": self.to,
            "running": self.running,
            "reason": self.reason,
            "time": self.time,
            "duration_s": self.duration_s,
        }
        if self.event in FAILURES:
            body["log_tail"] = list(self.log_tail)
        body["what_to_do"] = self.advice()
        body["text"] = self.text()
        return body

    def subject(self) -> str:
        return f"[syncd] {self.unit} on {self.host}: {self.headline()}"

    def headline(self) -> str:
        now, frm = short(self.running), short(self.from_)
        return {
            Result.DEPLOYED: f"{now} deployed and healthy",
            Result.ROLLED_BACK: f"{frm} failed and was rolled back, {now} runs again",
            Result.BLOCKED: f"deploy blocked, nothing changed ({now} still runs)",
            Result.ERROR: f"syncd could not finish a sync ({now} runs)",
        }.get(self.event, f"{self.event} ({now})")

    def text(self) -> str:
        lines = [
            f"{self.unit} on {self.host}: {self.headline()}.",
            "",
            f"What happened: {self.reason or self.event}",
            f"Running now:   {self.running or 'unknown'}",
            f"What to do:    {self.advice()}",
            f"When:          {self.time} (the sync took {self.duration_s:g}s)",
        ]
        if self.event == Result.ROLLED_BACK and self.from_:
            lines.append(f"Failed:        {self.from_}")
        if self.event in FAILURES and self.log_tail:
            lines += ["", f"The last lines {self.unit} logged:"] + [f"  {line}" for line in self.log_tail]
        lines += ["", f"More: syncd status, syncd history (on {self.host})."]
        return "\n".join(lines) + "\n"


@overload
def mask(text: str, secrets: Iterable[str]) -> str: ...
@overload
def mask(text: None, secrets: Iterable[str]) -> None: ...
@overload
def mask(text: str | None, secrets: Iterable[str]) -> str | None: ...


def mask(text: str | None, secrets: Iterable[str]) -> str | None:
    """Replace every secret value in `text` (longest first, so a value inside another goes too)."""
    if not text:
        return text
    for value in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
