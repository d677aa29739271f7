"""Atomic file writes: temp name, fsync, rename, fsync the directory.

A write that fails (no space left, read-only file system) raises StorageError naming the file in one
line; the temp file is removed and the old bytes stay. A JSON file that does not parse is the same
kind of error, and is left as it is for the operator to look at.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from syncd.errors import StorageError


@contextmanager
def _storage(path: Path):
    """OSError -> StorageError("no space left on device: <path>"); a permission error stays itself."""
    try:
        yield
    except (StorageError, PermissionError):
        raise
    except OSError as exc:
        why = (exc.strerror or str(exc)).lower()
        raise StorageError(f"{why}: {path}") from None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Replace `path` with `data` so a reader (or a crash) sees the old bytes or the new, never half.
    `owner` (uid, gid) is given to the file before it appears under its name.

    The temp name starts with '.' and ends in '.tmp', so systemd never loads it as a *.conf drop-in.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with _storage(path):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        try:
            os.fchmod(fd, mode)  # umask must not widen or narrow what we asked for
            if owner is not None:
                os.fchown(fd, *owner)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)


def remove(path: Path) -> bool:
    with _storage(path):
        try:
            Path(path).unlink()
        except FileNotFoundError:
            return False
        fsync_dir(Path(path).parent)
    return True


def read_bytes(path: Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def write_json(path: Path, value, mode: int = 0o644) -> None:
    atomic_write(path, (json.dumps(value, indent=1, sort_keys=True) + "\n").encode(), mode)


def read_json(path: Path, default=None):
    """The JSON in `path` (`default` when absent); with a default, the value must be of its type."""
    data = read_bytes(path)
    if data is None:
        return default
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise StorageError(
            f"{path}: cannot parse ({getattr(exc, 'msg', exc)}, line {getattr(exc, 'lineno', '?')}); "
            "fix it or move it away"
        ) from None
    if default is not None and value is not None and not isinstance(value, type(default)):
        raise StorageError(
            f"{path}: cannot parse (expected a JSON {type(default).__name__}); fix it or move it away"
        )
    return value


def ensure_dir(path: Path, mode: int) -> Path:
    """Create `path` if needed and give it `mode`; an existing one with that mode is not touched
    (so a read-only state dir can still be read)."""
    path = Path(path)
    with _storage(path):
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        if (os.stat(path).st_mode & 0o7777) != mode:
            os.chmod(path, mode)
    return path
