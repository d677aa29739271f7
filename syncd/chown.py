"""Give the files a merge added or changed to the service's owner, and nothing else.

Root does this, inside a tree its owner (and every committer) can shape, so:

- no symbolic link is ever followed, not even in an intermediate directory: the path is
  walked one component at a time from a file descriptor of the tree's root with
  O_PATH|O_NOFOLLOW|O_DIRECTORY; a symlink on the way skips the path;
- a listed path that is itself a symlink is left as it is. We do not lchown it either:
  Linux ignores a symlink's owner for access, and git (run as the owner) created it;
- nothing outside the tree: absolute paths, `..` components and NUL are refused;
- a regular file with more than one hard link is skipped: it may be a link to
  /etc/shadow, and chowning it would hand that file to the owner;
- only regular files and directories are chowned (git makes nothing else);
- the chown acts on the very inode that was checked (through /proc/self/fd of the O_PATH
  descriptor, as systemd does), so swapping a path between check and chown changes nothing;
- cost is proportional to the number of listed paths times their depth, never a tree walk.

Directories between the root and a listed path are chowned when their owner differs (the
merge may have created them); the root itself is never touched.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

# The one owner parser; `chown.parse_owner` is the name its callers (deploy, doctor, tests) use.
from syncd.config.values import parse_owner  # noqa: F401
from syncd.records import dataclass, field

_WALK = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class ChownReport:
    changed: int = 0  # listed paths whose owner or group was changed
    unchanged: int = 0  # listed paths that already had the right owner and group
    changed_dirs: int = 0  # directories on the way to a listed path that were chowned
    symlink_paths: list[str] = field(default_factory=list)  # a symlink in or at the path
    hardlink_paths: list[str] = field(default_factory=list)  # regular files with st_nlink > 1
    missing_paths: list[str] = field(default_factory=list)  # gone (deleted by the merge)
    outside_paths: list[str] = field(default_factory=list)  # absolute, `..`, NUL, empty: refused
    other_paths: list[str] = field(default_factory=list)  # neither file nor directory (fifo, socket...)

    @property
    def skipped_symlink(self) -> int:
        return len(self.symlink_paths)

    @property
    def skipped_hardlink(self) -> int:
        return len(self.hardlink_paths)

    @property
    def missing(self) -> int:
        return len(self.missing_paths)

    @property
    def outside(self) -> int:
        return len(self.outside_paths)

    @property
    def skipped_other(self) -> int:
        return len(self.other_paths)

    def summary(self) -> str:
        parts = [f"{self.changed} changed", f"{self.unchanged} already owned"]
        if self.changed_dirs:
            parts.append(f"{self.changed_dirs} directories changed")
        for count, what in (
            (self.skipped_symlink, "symlinks left alone"),
            (self.skipped_hardlink, "hard-linked files skipped"),
            (self.missing, "missing"),
            (self.outside, "refused (outside the tree)"),
            (self.skipped_other, "special files skipped"),
        ):
            if count:
                parts.append(f"{count} {what}")
        return ", ".join(parts)


def _components(relpath: str) -> list[str] | None:
    """The path's components, or None when it could leave the tree (or names the root itself)."""
    if not relpath or "\0" in relpath or relpath.startswith("/"):
        return None
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return parts


def _chown_held(fd: int, uid: int, gid: int) -> None:
    # fchown() refuses O_PATH descriptors; the /proc link reaches exactly the inode we hold.
    os.chown(f"/proc/self/fd/{fd}", uid, gid)


def _is_symlink(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _chown_one(root_fd: int, relpath: str, parts: list[str], uid: int, gid: int, report: ChownReport) -> None:
    opened: list[int] = []
    try:
        current = root_fd
        for part in parts[:-1]:
            try:
                current = os.open(part, _WALK | os.O_DIRECTORY, dir_fd=current)
            except FileNotFoundError:
                report.missing_paths.append(relpath)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                # ENOTDIR: a symlink (O_NOFOLLOW) or a file where a directory was expected.
                if exc.errno == errno.ELOOP or _is_symlink(part, current):
                    report.symlink_paths.append(relpath)
                else:
                    report.missing_paths.append(relpath)
                return
            opened.append(current)
            st = os.fstat(current)
            if (st.st_uid, st.st_gid) != (uid, gid):
                _chown_held(current, uid, gid)
                report.changed_dirs += 1
        try:
            fd = os.open(parts[-1], _WALK, dir_fd=current)
        except FileNotFoundError:
            report.missing_paths.append(relpath)
            return
        opened.append(fd)
        st = os.fstat(fd)  # of the inode we hold: what we check is what we chown
        if stat.S_ISLNK(st.st_mode):
            report.symlink_paths.append(relpath)
        elif stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            report.hardlink_paths.append(relpath)
        elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            report.other_paths.append(relpath)
        elif (st.st_uid, st.st_gid) == (uid, gid):
            report.unchanged += 1
        else:
            _chown_held(fd, uid, gid)
            report.changed += 1
    finally:
        for fd in opened:
            os.close(fd)


def chown_changed(root: Path, relpaths: Iterable[str | bytes], uid: int, gid: int) -> ChownReport:
    """chown each repo-relative path (as `git diff --name-only -z` prints them) under `root`.

    `root` comes from the config (trusted) and is resolved once; everything below it is
    walked without following links. Missing paths (deleted by the merge) are counted,
    not errors. Returns what was done and what was skipped, for the deploy's log line.
    """
    if not os.path.isdir("/proc/self/fd"):
        raise RuntimeError("/proc is not mounted: chown of O_PATH descriptors needs /proc/self/fd")
    root_fd = os.open(os.path.realpath(root), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    report = ChownReport()
    try:
        for relpath in relpaths:
            relpath = os.fsdecode(relpath)
            parts = _components(relpath)
            if parts is None:
                report.outside_paths.append(relpath)
                continue
            _chown_one(root_fd, relpath, parts, uid, gid, report)
    finally:
        os.close(root_fd)
    return report
