"""Which files `syncd install` wrote, by content hash, so a later run can tell "still as syncd wrote
it" (safe to update) from "a person edited it" (only with --force, the old bytes kept).

The record is <state.dir>/<NAME>/install.json (root, 0600): {"files": {path: sha256}}.
"""

from __future__ import annotations

import difflib
import hashlib
import time
from pathlib import Path

from syncd import fsutil
from syncd.records import dataclass

CREATE, SAME, UPDATE, EDITED = "create", "same", "update", "edited"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FilePlan:
    path: Path
    wanted: bytes
    current: bytes | None
    kind: str  # CREATE, SAME, UPDATE (syncd wrote what is there) or EDITED (someone else did)

    def diff(self, max_lines: int = 30) -> str:
        old = (self.current or b"").decode("utf-8", "replace").splitlines()
        new = self.wanted.decode("utf-8", "replace").splitlines()
        lines = [
            line
            for line in difflib.unified_diff(old, new, "on disk", "syncd install", lineterm="", n=0)
            if not line.startswith("@@")
        ]
        if len(lines) > max_lines:
            lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
        return "\n".join(lines)


class Record:
    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.file = self.dir / "install.json"
        self.files: dict[str, str] = (fsutil.read_json(self.file, {}) or {}).get("files", {})

    def plan(self, path: Path, wanted: bytes) -> FilePlan:
        current = fsutil.read_bytes(path)
        if current is None:
            kind = CREATE
        elif current == wanted:
            kind = SAME
        elif self.files.get(str(path)) == sha256(current):
            kind = UPDATE
        else:
            kind = EDITED
        return FilePlan(Path(path), wanted, current, kind)

    def write(self, plan: FilePlan, mode: int) -> Path | None:
        """Write plan.wanted; an edited file's old bytes are kept first. Returns where they went."""
        kept = None
        if plan.kind == EDITED and plan.current is not None:
            backups = fsutil.ensure_dir(self.dir / "install-backup", 0o700)
            kept = backups / f"{plan.path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
            fsutil.atomic_write(kept, plan.current, 0o600)
        plan.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fsutil.atomic_write(plan.path, plan.wanted, mode)
        self.remember(plan.path, plan.wanted)
        return kept

    def remember(self, path: Path, data: bytes) -> None:
        if self.files.get(str(path)) != sha256(data):
            self.files[str(path)] = sha256(data)
            fsutil.ensure_dir(self.dir, 0o700)
            fsutil.write_json(self.file, {"files": self.files}, 0o600)
