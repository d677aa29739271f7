"""One sync at a time per config: an flock on <state_dir>/lock, whoever triggers it."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from syncd.errors import Blocked, StorageError


class SyncLock:
    """wait=True blocks until the lock is free; should_stop() (SIGTERM) can end that wait."""

    def __init__(self, state_dir: Path, wait: bool = True, should_stop=None):
        self.path = Path(state_dir) / "lock"
        self.wait = wait
        self.should_stop = should_stop
        self.fd: int | None = None

    def __enter__(self) -> "SyncLock":
        self.fd = self._open()
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if not self.wait or (self.should_stop and self.should_stop()):
                    os.close(self.fd)
                    self.fd = None
                    raise Blocked(f"another sync of this config is running (lock {self.path})") from None
                time.sleep(0.05)

    def _open(self) -> int:
        """flock needs only a descriptor: a read-only state dir still gets one (and its own error later)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except PermissionError:
            raise
        except OSError as exc:
            try:
                return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                raise StorageError(f"{(exc.strerror or str(exc)).lower()}: {self.path}") from None

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None
