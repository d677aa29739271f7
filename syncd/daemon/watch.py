"""Push-to-deploy: watch refs with watchdog (inotify) so a push starts a sync at once.

Two kinds of ref are watched:
- the upstream branch in `repo.remote` when its URL is a repository on this host (a path,
  file://, or ssh to this host): the bare repo developers push to. git updates a ref by writing
  `<ref>.lock` and renaming it over `<ref>` (or by rewriting `packed-refs`), so both are watched;
- the tree's own `<local_branch or branch>`, so a commit an operator makes on the server is
  deployed with the same health judgement.

Events only wake us up; the decision is made on the ref's VALUE (read as a plain file, no git
run as root), so the noise of one push (lock created, written, renamed), our own reads of the
files (open/close events are not even subscribed) and `git gc` packing refs start nothing.
The sync itself moves the tree's branch (the merge); LocalBranchTracker tells that apart from
an operator's commit so the daemon never loops and never drops such a commit.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Callable

from syncd import log, treefile
from syncd.errors import SyncdError
from syncd.records import dataclass
from syncd.tools.git import local_path_of

# -- where is the remote? ----------------------------------------------------------------------


_SMALL = 4096  # a ref, a .git file, commondir
_PACKED_REFS_LIMIT = 64 << 20


def _read_small(base: Path, rel: str, limit: int = _SMALL) -> str | None:
    """A file of a repository the service user owns: read as data, never followed (never a FIFO)."""
    try:
        data = treefile.read(base, rel, limit=limit)
    except (treefile.UnsafeTreeFile, OSError) as exc:
        log.get("daemon").debug("not reading %s/%s: %s", base, rel, exc)
        return None
    return None if data is None else data.decode("utf-8", "replace")


def git_dir_of(path: Path) -> Path | None:
    """The git directory of a bare or non-bare repository at `path` (git also tries `path.git`)."""
    for candidate in (Path(path), Path(f"{path}.git")):
        dot = candidate / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            text = (_read_small(candidate, ".git") or "").strip()
            if text.startswith("gitdir:"):
                target = Path(text[7:].strip())
                return target if target.is_absolute() else (candidate / target)
        if (candidate / "HEAD").is_file() and (candidate / "refs").is_dir():
            return candidate
    return None


def refs_dir_of(git_dir: Path) -> Path:
    """Where refs live: a linked worktree keeps them in the common dir."""
    common = _read_small(git_dir, "commondir")
    if common and common.strip():
        target = Path(common.strip())
        return target if target.is_absolute() else (git_dir / target)
    return git_dir


def read_ref(git_dir: Path, ref: str) -> str | None:
    """The sha a ref names, from its loose file or packed-refs, without running git."""
    base = refs_dir_of(git_dir)
    value = (_read_small(base, ref) or "").strip()
    if value and not value.startswith("ref:"):
        return value
    for line in (_read_small(base, "packed-refs", _PACKED_REFS_LIMIT) or "").splitlines():
        sha, _, name = line.strip().partition(" ")
        if name == ref:
            return sha
    return None


def remote_url(tree: Path, remote: str) -> str | None:
    """The remote's URL, asked of git run as the owner of the tree (never as root)."""
    from syncd.tools.git import Git, identity_for

    st = os.stat(tree)
    return Git(tree, identity_for(st.st_uid, st.st_gid)).remote_url(remote)


# -- watching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefTarget:
    kind: str  # "remote" (a push landed) or "local" (the tree's branch moved)
    git_dir: Path
    ref: str  # e.g. refs/heads/master

    @property
    def files(self) -> set[str]:
        base = refs_dir_of(self.git_dir)
        return {os.fsdecode(base / self.ref), os.fsdecode(base / "packed-refs")}

    @property
    def dirs(self) -> list[tuple[Path, bool]]:
        """(directory, recursive) to hand to inotify: the ref's namespace and packed-refs' dir."""
        base = refs_dir_of(self.git_dir)
        return [(base / "refs" / "heads", True), (base, False)]

    def read(self) -> str | None:
        return read_ref(self.git_dir, self.ref)


def targets_for(repo_cfg, watch_remote: bool = True) -> tuple[list[RefTarget], list[str]]:
    """What to watch for this config, and notes on what could not be (for the log)."""
    notes: list[str] = []
    targets: list[RefTarget] = []
    tree = Path(repo_cfg.path)
    if watch_remote:
        try:
            url = remote_url(tree, repo_cfg.remote)
        except (OSError, subprocess.SubprocessError, SyncdError) as exc:  # no tree yet: the sync will say so
            url = None
            notes.append(f"cannot read the url of remote {repo_cfg.remote!r} in {tree}: {exc}")
        path = local_path_of(url, tree) if url else None
        gd = git_dir_of(path) if path else None
        if gd is not None:
            targets.append(RefTarget("remote", gd.resolve(), f"refs/heads/{repo_cfg.branch}"))
        elif url is None and not notes:
            notes.append(f"remote {repo_cfg.remote!r} has no url in {tree}")
        else:
            notes.append(f"remote {repo_cfg.remote!r} is not a repository on this host; polling only")
    tree_gd = git_dir_of(tree)
    if tree_gd is not None:
        branch = repo_cfg.local_branch or repo_cfg.branch
        targets.append(RefTarget("local", tree_gd.resolve(), f"refs/heads/{branch}"))
    return targets, notes


def _relevant_events():
    from watchdog.events import (
        DirCreatedEvent,
        FileClosedEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileModifiedEvent,
        FileMovedEvent,
        DirMovedEvent,
    )

    return [
        FileCreatedEvent,
        FileModifiedEvent,
        FileMovedEvent,
        FileDeletedEvent,
        FileClosedEvent,
        DirCreatedEvent,
        DirMovedEvent,
    ]


class RefWatcher:
    """An inotify observer over some RefTargets; on_change(kind) when a target's value changes."""

    def __init__(self, targets: list[RefTarget], on_change: Callable[[str], None]):
        self.targets = targets
        self._on_change = on_change
        self._values = {t: t.read() for t in targets}
        self._lock = threading.Lock()
        self._observer = None
        self._armed: dict[Path, tuple[int, int]] = {}  # dir -> (st_dev, st_ino) when scheduled
        self._log = log.get("daemon")

    def start(self) -> "RefWatcher":
        from watchdog.observers import Observer

        self._observer = Observer(timeout=0.2)
        self._observer.daemon = True
        self._arm_all()
        self._observer.start()
        return self

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)

    def alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def describe(self) -> list[str]:
        return [f"{t.kind} {t.git_dir}:{t.ref}" for t in self.targets]

    def value(self, kind: str) -> str | None:
        for t in self.targets:
            if t.kind == kind:
                return t.read()
        return None

    def check(self) -> None:
        """Re-arm a watched directory that was deleted and recreated (or appeared late).

        A repository moved away and back keeps its inode, and inotify its watch; one that was
        recreated needs a new watch. Cheap: one stat per directory.
        """
        if self._observer is None:
            return
        missed = False
        for path, recursive in self._wanted():
            ident = _ident(path)
            if ident is not None and self._armed.get(path) != ident:
                missed |= self._arm(path, recursive)
        if missed:  # a push may have landed while nothing watched
            self._scan()

    # -- internals ---------------------------------------------------------------------------
    def _wanted(self) -> list[tuple[Path, bool]]:
        seen: dict[Path, bool] = {}
        for t in self.targets:
            for path, recursive in t.dirs:
                seen[path] = seen.get(path, False) or recursive
        return list(seen.items())

    def _arm_all(self) -> None:
        for path, recursive in self._wanted():
            self._arm(path, recursive)

    def _arm(self, path: Path, recursive: bool) -> bool:
        from watchdog.events import FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                watcher._event(event)

        ident = _ident(path)
        if ident is None:
            return False
        old = getattr(self, "_watches", {}).get(path)
        if old is not None:
            try:
                self._observer.unschedule(old)
            except Exception:  # already gone with its directory
                pass
        try:
            watch = self._observer.schedule(
                Handler(), os.fsdecode(path), recursive=recursive, event_filter=_relevant_events()
            )
        except OSError as exc:
            self._log.warning("cannot watch %s: %s", path, exc)
            return False
        self._watches = getattr(self, "_watches", {})
        self._watches[path] = watch
        self._armed[path] = ident
        return True

    def _event(self, event) -> None:
        paths = {os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")}
        for target in self.targets:
            if paths & target.files:
                self._compare(target)

    def _scan(self) -> None:
        for target in self.targets:
            self._compare(target)

    def _compare(self, target: RefTarget) -> None:
        value = target.read()
        with self._lock:
            if value == self._values.get(target):
                return
            self._values[target] = value
        self._log.debug("%s ref %s moved to %s", target.kind, target.ref, (value or "none")[:7])
        self._on_change(target.kind)


def _ident(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


# -- the tree's own branch ---------------------------------------------------------------------


def moved_by_syncd(state_dir: Path, sha: str | None) -> bool:
    """Is `sha` where a sync of this config put the branch? During a deploy (journal present) its
    target or the commit its undo restores; otherwise the deployed commit."""
    from syncd.errors import SyncdError
    from syncd.journal import Journal
    from syncd.state import State

    if sha is None:
        return False
    try:
        entry = Journal(state_dir).load()
        if entry is not None:
            return sha in (entry.previous, entry.target)
        return sha == State(state_dir).deployed
    except (OSError, SyncdError):
        return False


class LocalBranchTracker:
    """Tells an operator's commit on the tree's branch from the moves the sync itself makes.

    While a sync runs, branch moves are only noted. When it ends, the branch is compared with
    where it was when the sync started and with what the sync deployed: if it moved to
    something else (a commit made during the sync), one more sync is asked for. A branch
    that holds an undeployed commit the sync refused (blocked) is where it started, so no loop.
    A move made by a sync in another process (`syncd rollback`, `syncd sync`) is told apart by
    `own(sha)`: the branch went where that sync's journal or the recorded deploy says.
    """

    def __init__(
        self,
        read: Callable[[], str | None],
        fire: Callable[[str], None],
        own: Callable[[str | None], bool] = lambda sha: False,
    ):
        self._read = read
        self._fire = fire
        self._own = own
        self._lock = threading.Lock()
        self._known = read()
        self._in_sync = False
        self._start: str | None = None

    def moved(self) -> None:
        """A watch event on the branch (observer thread)."""
        value = self._read()
        ours = self._own(value)  # another process's sync (a CLI rollback) moved it: not an operator's commit
        with self._lock:
            if self._in_sync or value == self._known:
                return
            self._known = value
        if not ours:
            self._fire("local-commit")

    def sync_started(self) -> None:
        with self._lock:
            self._in_sync = True
            self._start = self._read()

    def sync_finished(self, deployed: str | None) -> bool:
        """Returns True when a commit made during the sync asked for one more."""
        value = self._read()
        with self._lock:
            self._in_sync = False
            start, self._known = self._start, value
        if value is not None and value != start and value != deployed:
            self._fire("local-commit")
            return True
        return False
