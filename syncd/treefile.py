"""The one way root reads a file of the working tree: as data, never followed.

The tree (and its .git) belongs to the service user, who is not trusted (docs/security.md): a path
there may be a symbolic link to the private key, a FIFO that blocks open() forever, a hard link to a
file of someone else, or gigabytes. So every component is opened relative to its parent's
descriptor with O_NOFOLLOW; the file itself first with O_PATH, which opens nothing (a FIFO or a
device is never opened), then, once fstat says it is a regular file with one link, re-opened for
reading through /proc/self/fd with O_NONBLOCK; and at most `limit` bytes are read.

    data = read(tree, "deploy/production.env", limit=MAX_ENV_SOURCE_BYTES)   # None: no such file
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from syncd.errors import Blocked

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class UnsafeTreeFile(Blocked):
    """A file of the tree that root will not read (a link, not a regular file, too big)."""


def read(root: Path, rel: str, *, limit: int, what: str = "file") -> bytes | None:
    """The bytes of `rel` under `root` (a directory root trusts), or None when it does not exist.

    UnsafeTreeFile when any component is a symbolic link, the file is not a regular file with a
    single link, or it is bigger than `limit` bytes. The message names `rel` only, never content.
    """
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
        raise UnsafeTreeFile(f"{rel}: not a path inside {root}")
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                _refuse_link(fd, part, rel, "/".join(parts[: i + 1]))
                if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
                    return None
                raise
            os.close(fd)
            fd = child
        return _read_regular(fd, parts[-1], rel, limit, what)
    finally:
        os.close(fd)


def _refuse_link(fd: int, part: str, rel: str, shown: str) -> None:
    try:
        st = os.lstat(part, dir_fd=fd)
    except OSError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeTreeFile(
            f"{rel}: {shown} is a symbolic link; syncd (root) never follows a link in the tree"
        )


def _read_regular(dir_fd: int, name: str, rel: str, limit: int, what: str) -> bytes | None:
    try:
        path_fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        st = os.fstat(path_fd)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeTreeFile(f"{rel}: is a symbolic link; syncd (root) never follows a link in the tree")
        if not stat.S_ISREG(st.st_mode):
            kind = next((text for test, text in _KINDS if test(st.st_mode)), "not a regular file")
            raise UnsafeTreeFile(f"{rel}: is {kind}; syncd reads only regular files of the tree")
        if st.st_nlink != 1:
            raise UnsafeTreeFile(
                f"{rel}: has {st.st_nlink} hard links; syncd (root) reads only files of the "
                "tree with a single link (a hard link may point at a file of someone else)"
            )
        if st.st_size > limit:
            raise UnsafeTreeFile(f"{rel}: {what} is {st.st_size} bytes, more than the limit of {limit}")
        fd = os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    finally:
        os.close(path_fd)
    try:
        again = os.fstat(fd)
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):  # cannot happen; refuse rather than guess
            raise UnsafeTreeFile(f"{rel}: changed while being opened")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnsafeTreeFile(f"{rel}: {what} is more than the limit of {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)
