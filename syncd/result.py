"""How a sync ended, and what each ending means wherever it is used: exit status, log level, what is
recorded, what counts as deployed. The value is the word users see (status, history, JSON,
notifications, metrics, hooks' SYNCD_RESULT), so it never changes."""

from __future__ import annotations

from enum import StrEnum
from syncd.errors import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK
from syncd.log import ERROR, INFO, WARNING  # logging's levels


class Result(StrEnum):
    """One row per result: the word, `syncd sync`'s exit status (docs/interface.md), and the level of
    the log line that tells it (`journalctl -p warning` shows what needs a look)."""

    exit_code: int
    level: int

    def __new__(cls, value: str, exit_code: int, level: int) -> Result:
        member = str.__new__(cls, value)
        member._value_ = value
        member.exit_code, member.level = exit_code, level
        return member

    # Recorded in status.json (and so counted, and told in history and by notify.on):
    DEPLOYED = "deployed", EXIT_OK, INFO  # a new version (or environment) runs and was judged healthy
    UP_TO_DATE = "up-to-date", EXIT_OK, INFO  # nothing new: nothing restarted
    ROLLED_BACK = "rolled-back", EXIT_FAILED, ERROR  # the new version failed; the previous one runs again
    BLOCKED = "blocked", EXIT_BLOCKED, WARNING  # the deploy must not go ahead; nothing was touched
    ERROR = "error", EXIT_FAILED, ERROR  # syncd could not do its part; what moved was put back
    # Recorded nowhere (the last result stands):
    PLANNED = "planned", EXIT_OK, INFO  # a dry run: what a sync would do
    STOPPED = "stopped", EXIT_OK, INFO  # SIGTERM before anything moved
    WAITING = "waiting", EXIT_BLOCKED, INFO  # ready, held back by [drain] or windows (status says why)
    SKIPPED = "skipped", EXIT_BLOCKED, WARNING  # held back past drain.max_wait, on_timeout = "skip"
    PAUSED = "paused", EXIT_OK, INFO  # the daemon found automatic syncs paused
    RECOVERED = "recovered", EXIT_OK, WARNING  # only an interrupted deploy was undone (recorded by itself)

    @property
    def recorded(self) -> bool:
        """Written to status.json, counted in the metrics, and may be told (history, notify.on)."""
        return self in _RECORDED

    @property
    def ok(self) -> bool:
        """The target runs and is healthy: the commit is deployed (and a rollback that ends so pauses)."""
        return self in (Result.DEPLOYED, Result.UP_TO_DATE)

    @property
    def known_running(self) -> bool:
        """syncd knows which commit runs afterwards: status.json's `deployed` is updated."""
        return self in (Result.DEPLOYED, Result.UP_TO_DATE, Result.ROLLED_BACK)

    @property
    def always_history(self) -> bool:
        """Always a history entry; blocked and error only when they differ from the last result."""
        return self in (Result.DEPLOYED, Result.ROLLED_BACK)

    @property
    def folded(self) -> bool:
        """Told when it differs from the last result (reason included), not at every poll."""
        return self in (Result.BLOCKED, Result.ERROR)

    @property
    def failed(self) -> bool:
        """A deploy failed: notifications carry the unit's last log lines."""
        return self in (Result.ROLLED_BACK, Result.ERROR)

    @property
    def held_back(self) -> bool:
        """A ready deploy waits for [drain] or schedule.windows; nothing moved."""
        return self in (Result.WAITING, Result.SKIPPED)


_RECORDED = (Result.DEPLOYED, Result.UP_TO_DATE, Result.ROLLED_BACK, Result.BLOCKED, Result.ERROR)
# Results a user can ask notify.on to tell about.
NOTIFIABLE = (Result.DEPLOYED, Result.ROLLED_BACK, Result.BLOCKED, Result.ERROR)
