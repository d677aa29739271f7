"""One Python environment per release (`[python]`, docs/python.md).

An environment is named by the hash of the requirements file's bytes and the interpreter; it lives
in `<envs>/<name>/`, owned by the tree's owner, and is complete once `<name>/.syncd-complete` exists.
The tree's `venv` is a symlink to the running release's environment: the deploy switches it, every
undo switches it back. Built and removed as the owner; root only reads links and names there.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from syncd import log
from syncd.config import PythonConfig
from syncd.errors import Blocked
from syncd.tools import owner as as_owner
from syncd.tools.git import Identity
from syncd.tools.uv import Uv, pip_index_settings

_LOG = log.get("python")
NAME = re.compile(r"[0-9a-f]{16}\Z")
COMPLETE = ".syncd-complete"
CACHE = ".uv-cache"
MAX_REQUIREMENTS = 1024 * 1024
REASON_LINES = 6
LOG_LINES = 40


def env_name(requirements: bytes, python: Path) -> str:
    """Content hash of the requirements and the interpreter (its real path names its version)."""
    digest = hashlib.sha256(b"syncd-env-1\0" + os.path.realpath(python).encode() + b"\0" + requirements)
    return digest.hexdigest()[:16]


class Environments:
    def __init__(self, python: PythonConfig, tree: Path, who: Identity, should_stop=None):
        self.python, self.who, self.should_stop = python, who, should_stop
        self.root = python.envs_dir(tree)
        self.link = tree / python.venv

    def path(self, name: str) -> Path:
        return self.root / name

    # -- what runs ---------------------------------------------------------------------------
    def current_target(self) -> str | None:
        """The text of the `venv` link (None when absent). A real directory there is a hand-made
        venv that syncd will not replace on its own."""
        try:
            st = os.lstat(self.link)
        except FileNotFoundError:
            return None
        if not stat.S_ISLNK(st.st_mode):
            raise Blocked(
                f"{self.link} is a {'directory' if stat.S_ISDIR(st.st_mode) else 'file'}, not the symlink "
                f"[python] manages; move it over as docs/python.md says (as uid {self.who.uid}: "
                f"mv {self.link} {self.link}.handmade && ln -s {self.link.name}.handmade {self.link})"
            )
        return os.readlink(self.link)

    def name_of(self, target: str | None) -> str | None:
        """The environment a link text points at, when it is one of ours."""
        if not target:
            return None
        path = Path(target)
        return path.name if path.parent == self.root and NAME.match(path.name) else None

    def is_built(self, name: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.path(name) / COMPLETE).st_mode)
        except OSError:
            return False

    # -- build -------------------------------------------------------------------------------
    def ensure_built(self, name: str, requirements: bytes) -> bool:
        """Build environment `name` unless it is complete already; True when it was built now.
        Raises Blocked (with the build's last lines) when the build fails; nothing is left behind."""
        if self.is_built(name):
            return False
        self._ensure_root()
        env = self.path(name)
        if os.path.lexists(env):  # left by an interrupted build
            as_owner.remove_tree(self.who, env)
        python = self.python.python
        uv = Uv(
            self.who,
            self.root / CACHE,
            pip_index_settings(self.who.home, self.who.uid),
            self.python.timeout,
            self.should_stop,
        )
        with _staged(requirements, self.who, self.python.requirements) as req_file:
            for what, run_step in (
                ("uv venv", lambda: uv.create_venv(env, python, self.root)),
                (
                    "uv pip install",
                    lambda: uv.install(
                        env / "bin" / "python", req_file, self.root, self.python.compile_bytecode
                    ),
                ),
            ):
                outcome = run_step()
                _log_output(what, outcome)
                if outcome.returncode != 0:
                    self._discard(env)
                    if self.should_stop and self.should_stop():
                        from syncd.deploy.chain import Stopped

                        raise Stopped()
                    raise Blocked(_failure(name, what, outcome, self.python.timeout))
        as_owner.run(self.who, "touch", str(env / COMPLETE))
        return True

    def _discard(self, env: Path) -> None:
        try:
            as_owner.remove_tree(self.who, env)
        except OSError as exc:
            _LOG.warning("could not remove the failed build %s: %s", env, exc)

    def _ensure_root(self) -> None:
        """`<envs>` exists, a real directory the owner owns (made by root only in a root-owned parent)."""
        try:
            st = os.lstat(self.root)
        except FileNotFoundError:
            try:
                parent = os.lstat(self.root.parent)
            except FileNotFoundError:
                raise Blocked(
                    f"{self.root.parent} does not exist: make it, or set python.envs "
                    "(where [python] environments live)"
                ) from None
            if os.geteuid() == 0 and parent.st_uid == 0 and not parent.st_mode & 0o022:
                os.mkdir(self.root, 0o755)
                os.lchown(self.root, self.who.uid, self.who.gid)
            else:
                as_owner.make_dir(self.who, self.root)
            return
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != self.who.uid:
            raise Blocked(
                f"{self.root} (where [python] environments live) must be a directory owned by uid "
                f"{self.who.uid}: chown {self.who.uid} {self.root}, or set python.envs"
            )

    # -- switch ------------------------------------------------------------------------------
    def switch(self, target: str | None) -> None:
        """Point `venv` at `target` (an environment's path, or the link text that was there before);
        None removes the link (there was none before)."""
        if target is None:
            as_owner.remove_link(self.who, self.link)
        else:
            as_owner.switch_link(self.who, self.link, target)

    # -- keep --------------------------------------------------------------------------------
    def collect(self, running: str, before: str | None, used: list[str]) -> list[str]:
        """Remove environments beyond `keep` older ones (most recently run first in `used`); the
        running one and the one before it stay whatever `keep` says."""
        older = [n for n in used if n != running]
        kept = {running, before} | set(older[: max(self.python.keep, 1)])
        removed = []
        try:
            names = sorted(entry.name for entry in os.scandir(self.root))
        except FileNotFoundError:
            return removed
        for name in names:
            if NAME.match(name) and name not in kept:
                as_owner.remove_tree(self.who, self.path(name))
                removed.append(name)
        return removed


def build_for_commit(tree: Path, python: PythonConfig, who: Identity, commit: str = "HEAD") -> str:
    """Build the environment of `commit`'s requirements (or reuse it) and point `venv` at it: what a
    first install does before syncd's first sync, which then finds nothing to change."""
    from syncd.tools.git import Git

    requirements = Git(tree, who).read_blob(commit, python.requirements)
    if requirements is None:
        raise Blocked(f"python.requirements: {python.requirements} is not in {commit} of {tree}")
    envs = Environments(python, tree, who)
    name = env_name(requirements, python.python)
    envs.ensure_built(name, requirements)
    envs.switch(str(envs.path(name)))
    return name


def restore_link(who: Identity, link: Path, previous: str | None) -> bool:
    """Undo: put the `venv` link back to the text it had before the deploy. True when it moved."""
    try:
        now = os.readlink(link)
    except FileNotFoundError:
        now = None
    except OSError:  # not a link any more: not ours to touch
        return False
    if now == previous:
        return False
    if previous is None:
        as_owner.remove_link(who, link)
    else:
        as_owner.switch_link(who, link, previous)
    return True


class _staged:
    """The requirements bytes from git, in a private temporary directory the owner may read."""

    def __init__(self, data: bytes, who: Identity, rel: str):
        self.data, self.who, self.name = data, who, Path(rel).name

    def __enter__(self) -> Path:
        self.dir = Path(tempfile.mkdtemp(prefix="syncd-req-"))
        path = self.dir / self.name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.data)
        if os.geteuid() == 0:
            os.chown(path, self.who.uid, self.who.gid)
            os.chown(self.dir, self.who.uid, self.who.gid)
        return path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _printable(line: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in line)


def _lines(text: str) -> list[str]:
    return [_printable(line.rstrip()) for line in text.splitlines() if line.strip()]


def _log_output(what: str, result) -> None:
    lines = _lines(result.output)
    _LOG.info(
        "%s exited %s (%.1fs)%s",
        what,
        result.returncode,
        result.seconds,
        "".join(f"\n  {line}" for line in lines[-LOG_LINES:]),
    )


def _failure(name: str, what: str, result, timeout: float) -> str:
    if result.returncode is None:
        return f"python environment {name}: {what} did not finish within python.timeout ({timeout:g}s)"
    tail = _lines(result.output)[-REASON_LINES:]
    return f"python environment {name}: {what} exited {result.returncode}: " + " | ".join(
        line.strip() for line in tail
    )
