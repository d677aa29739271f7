"""Per-config state under <state.dir>/<config name>/, plain files written atomically.

status.json   what `syncd status` shows (deployed, upstream, result, reason, last_sync, ...)
history.json  past deploys and rollbacks, oldest first (capped)
quarantine.json  upstream commits that failed health and are not retried
paused        present while automatic syncs are paused
daemon.json   pid and next scheduled run of a running `syncd run`
journal.json  the in-flight deploy (see journal.py); never holds a secret value
own_merges.json  the merge commits syncd made (repo.verify trusts these unsigned merges only)
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from syncd import fsutil

HISTORY_CAP = 1000
QUARANTINE_CAP = 100  # only tips upstream moved past are in the list; a bound keeps the file small
OWN_MERGES_CAP = 1000


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


class State:
    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)

    def ensure(self) -> "State":
        """Create the directory (0700) if needed; refuse one that someone else made or replaced."""
        try:
            st = os.lstat(self.dir)
        except FileNotFoundError:
            st = None
        if st is not None and (not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid()):
            from syncd.trust import Problem, Untrusted

            raise Untrusted(
                [
                    Problem(
                        self.dir,
                        "the state directory",
                        "is not a directory syncd made",
                        f"chown root {self.dir}",
                    )
                ]
            )
        fsutil.ensure_dir(self.dir, 0o700)
        if st is None and os.lstat(self.dir).st_uid != os.geteuid():  # someone made it in between
            return State(self.dir).ensure()
        return self

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict:
        return fsutil.read_json(self.dir / "status.json", {}) or {}

    def update_status(self, **fields) -> dict:
        status = self.status()
        status.update(fields)
        fsutil.write_json(self.dir / "status.json", status, 0o600)
        return status

    @property
    def deployed(self) -> str | None:
        return self.status().get("deployed")

    @property
    def last_upstream(self) -> str | None:
        """The newest upstream tip seen and accepted (force-push detection compares with it)."""
        return self.status().get("upstream_seen")

    # -- syncd's own merge commits -----------------------------------------------------------
    def own_merges(self) -> list[str]:
        """Merge commits syncd made itself: `verify` trusts these (and only these) unsigned merges."""
        return fsutil.read_json(self.dir / "own_merges.json", []) or []

    def remember_own_merge(self, sha: str) -> None:
        shas = self.own_merges()
        if sha not in shas:
            fsutil.write_json(self.dir / "own_merges.json", (shas + [sha])[-OWN_MERGES_CAP:], 0o600)

    # -- history -----------------------------------------------------------------------------
    def history(self) -> list[dict]:
        return fsutil.read_json(self.dir / "history.json", []) or []

    def append_history(self, entry: dict) -> None:
        entries = self.history()
        entries.append(entry)
        fsutil.write_json(self.dir / "history.json", entries[-HISTORY_CAP:], 0o600)

    # -- quarantine --------------------------------------------------------------------------
    def quarantined(self) -> list[str]:
        return fsutil.read_json(self.dir / "quarantine.json", []) or []

    def quarantine(self, sha: str) -> None:
        shas = self.quarantined()
        if sha not in shas:
            fsutil.write_json(self.dir / "quarantine.json", (shas + [sha])[-QUARANTINE_CAP:], 0o600)

    # -- pause -------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return (self.dir / "paused").exists()

    def set_paused(self, paused: bool, reason: str = "") -> None:
        self.ensure()
        if paused:
            fsutil.atomic_write(self.dir / "paused", (reason + "\n").encode(), 0o600)
        else:
            fsutil.remove(self.dir / "paused")

    # -- daemon ------------------------------------------------------------------------------
    def daemon(self) -> dict:
        info = fsutil.read_json(self.dir / "daemon.json", {}) or {}
        pid = info.get("pid")
        if pid and not _alive(pid):
            return {}
        return info

    def set_daemon(self, info: dict) -> None:
        fsutil.write_json(self.dir / "daemon.json", info, 0o600)

    def clear_daemon(self) -> None:
        fsutil.remove(self.dir / "daemon.json")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
