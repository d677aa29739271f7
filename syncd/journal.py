"""The in-flight deploy journal: written (fsync'd) before the first mutation, cleared at the end.

If syncd dies mid-deploy (SIGKILL, power loss) the next start finds the journal and undoes
what it says. It records commits, paths and the previous drop-in bytes only when those hold
no secret value: an undo re-renders secrets from the previous commit's encrypted file.
"""

from __future__ import annotations

import binascii  # base64's b64encode/b64decode without importing base64 (start-up time)
from pathlib import Path

from syncd import fsutil
from syncd.errors import StorageError
from syncd.records import asdict, dataclass


RETIRED_FIELDS = ("dropin_previous_existed", "notes")  # written by earlier versions, never read


@dataclass
class Entry:
    previous: str  # HEAD before the deploy
    target: str | None  # commit being deployed (None until the merge commit exists)
    branch: str
    upstream: str | None
    trigger: str
    started: str
    dropin_path: str
    dropin_previous_b64: str | None  # None: file was absent, or held secrets (re-render instead)
    dropin_previous_had_secrets: bool
    env_previous: dict | None = None  # the [env] config the running version was rendered with
    venv_link: str | None = None  # the [python] `venv` symlink, when syncd manages one
    venv_previous: str | None = None  # its text before the deploy (None: there was none)
    health_previous: dict | None = None  # the [health] config the running version was deployed with
    phase: str = "begun"  # begun (the tree may move) → applied → restarting

    @property
    def dropin_previous(self) -> bytes | None:
        return None if self.dropin_previous_b64 is None else binascii.a2b_base64(self.dropin_previous_b64)


def encode(data: bytes | None) -> str | None:
    return None if data is None else binascii.b2a_base64(data, newline=False).decode()


class Journal:
    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / "journal.json"

    def load(self) -> Entry | None:
        raw = fsutil.read_json(self.path, {})  # anything but a JSON object is "cannot parse"
        if not raw:
            return None
        for key in RETIRED_FIELDS:  # a journal an older syncd left behind still loads, and is undone
            raw.pop(key, None)
        try:
            return Entry(**raw)
        except TypeError:
            raise StorageError(
                f"{self.path}: cannot parse (not a deploy journal); fix it or move it away"
            ) from None

    def write(self, entry: Entry) -> None:
        fsutil.write_json(self.path, asdict(entry), 0o600)

    def phase(self, entry: Entry, phase: str) -> None:
        entry.phase = phase
        self.write(entry)

    def clear(self) -> None:
        fsutil.remove(self.path)
