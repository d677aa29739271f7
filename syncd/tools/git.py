"""git, run as the owner of the tree — never as root.

With git run as root in a tree its owner can write, `core.fsmonitor`, hooks, filters and
`core.sshCommand` in .git/config would execute as root (CVE-2022-24765). So every command runs
with the owner's uid/gid, a minimal environment and `core.hooksPath=/dev/null` as a second fence.
GitPython's Git.execute copies the caller's whole environment into the child, which would hand
root's GIT_* and SSH_AUTH_SOCK to git; this wrapper builds the environment itself instead.
"""

from __future__ import annotations

import os
import re
from typing import Any
from pathlib import Path
from urllib.parse import unquote, urlsplit

from syncd import runas
from syncd.errors import ToolError
from syncd.records import dataclass, field
from syncd.runas import Identity, identity_for  # noqa: F401 - re-exported: callers import them from here

DEFAULT_TIMEOUT = 60.0  # a local git command; repo.git_timeout overrides
DEFAULT_FETCH_TIMEOUT = 300.0  # repo.fetch_timeout overrides
# Settings of the tree's .git/config that would make git run a program or stall: the command line
# wins over any config file. git runs as the owner anyway; this keeps syncd's own calls predictable.
_FENCES = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false")


def parse_committer(committer: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*(.*?)\s*<([^<>]*)>\s*", committer)
    return (m.group(1), m.group(2)) if m else (committer, "")


@dataclass(frozen=True)
class News:
    """What one ref brings that HEAD lacks, from one `rev-list --boundary`: enough to answer every
    ancestry question a deploy asks without a `merge-base` each (Git.news)."""

    tip: str  # the ref's commit
    new: frozenset[str]  # reachable from the tip and not from HEAD (empty: HEAD has it all)
    boundary: frozenset[str]  # parents of those that HEAD has: each one is an ancestor of the tip

    def has(self, sha: str) -> bool:
        """True when `sha` is known to be an ancestor of the tip (False: ask git.is_ancestor)."""
        return sha == self.tip or sha in self.new or sha in self.boundary


@dataclass
class TreeStatus:
    branch: str | None = None  # None: detached HEAD
    head: str | None = None
    dirty: list[str] = field(default_factory=list)


class Git:
    def __init__(
        self,
        tree: Path,
        who: Identity,
        committer: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        *,
        no_user_config: bool = False,
    ):
        self.tree, self.who = Path(tree), who
        self.timeout, self.fetch_timeout = timeout, fetch_timeout
        self.committer = parse_committer(committer) if committer else None
        # The demo's throwaway developer: the ~/.gitconfig and /etc/gitconfig of whoever runs it
        # (signed commits, templates, a default branch) are not that developer's.
        self.no_user_config = no_user_config
        self._config_fd: int | None = None
        # What this sync already asked git, so it is not asked twice: diffs between two object ids
        # (which never change), and the tree of each commit made by commit_tree().
        self._diffs: dict[tuple[str, str], dict[str, str]] = {}
        self._tree_of: dict[str, str] = {}

    def trust(self, repositories: list[str]) -> None:
        """Let git, as the owner, fetch from these local repositories though another user owns them.

        git >= 2.35 refuses a repository owned by someone else ("dubious ownership"); upload-pack
        for a local remote is such a case. A `safe.directory` from the command line does not reach
        upload-pack, a global config does: so it goes in an in-memory file (memfd) named by
        GIT_CONFIG_GLOBAL, which also includes the owner's own ~/.gitconfig. Trusting the origin
        gives nobody more power: whoever can write it can already push code that runs as the owner.
        """
        if not repositories:
            return
        text = f"[include]\n\tpath = {self.who.home}/.gitconfig\n[safe]\n"
        text += "".join(f"\tdirectory = {path}\n" for path in repositories)
        self._config_fd = os.memfd_create("syncd-gitconfig")
        os.write(self._config_fd, text.encode())

    def env(self) -> dict[str, str]:
        """What git gets on top of runas.environment(): no prompts, syncd's identity, the trust file."""
        env = {
            "LC_ALL": "C.UTF-8",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
        }
        if self.committer:
            name, email = self.committer
            env.update(
                GIT_AUTHOR_NAME=name,
                GIT_AUTHOR_EMAIL=email,
                GIT_COMMITTER_NAME=name,
                GIT_COMMITTER_EMAIL=email,
            )
        if self._config_fd is not None:
            env["GIT_CONFIG_GLOBAL"] = f"/proc/self/fd/{self._config_fd}"
        elif self.no_user_config:
            env.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
        return env

    def run(
        self,
        *args: str,
        check: bool = True,
        input: bytes | None = None,
        timeout: float | None = None,
        umask: int = -1,
    ) -> runas.Completed:
        """git ARGS as the owner; ToolError on failure (check) or when it outlives its timeout."""
        argv = ["git", *_FENCES, *args]
        timeout = self.timeout if timeout is None else timeout
        pass_fds = (self._config_fd,) if self._config_fd is not None else ()
        try:
            proc = runas.run(
                self.who,
                argv,
                cwd=self.tree,
                timeout=timeout,
                extra_env=self.env(),
                input=input,
                pass_fds=pass_fds,
                umask=umask,
            )
        except runas.TimedOut:
            setting = (
                "repo.fetch_timeout" if args[:1] in (("fetch",), ("maintenance",)) else "repo.git_timeout"
            )
            raise ToolError(
                ["git", *args], -9, f"did not finish within {timeout:g}s (killed; {setting} sets this limit)"
            ) from None
        if check and proc.returncode != 0:
            raise ToolError(argv, proc.returncode, proc.stderr.decode("utf-8", "replace"))
        return proc

    def out(self, *args: str, **kw: Any) -> str:
        return self.run(*args, **kw).stdout.decode("utf-8", "replace").strip()

    # -- questions ---------------------------------------------------------------------------
    def rev(self, ref: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode().strip() or None

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.run("merge-base", "--is-ancestor", older, newer, check=False).returncode == 0

    def news(self, ref: str, head: str) -> News | None:
        """The commits `ref` has and `head` lacks, with the ref's own commit; None when the ref is
        missing or brings nothing new (then `rev` names it). One git process where the ref's id
        and two `merge-base --is-ancestor` took three."""
        proc = self.run(
            "rev-list", "--topo-order", "--boundary", f"{ref}^{{commit}}", f"^{head}", "--", check=False
        )
        if proc.returncode != 0:
            if self.rev(ref) is None:
                return None
            raise ToolError(["git", "rev-list", ref], proc.returncode, proc.stderr.decode("utf-8", "replace"))
        lines = proc.stdout.decode().split()
        new = [line for line in lines if not line.startswith("-")]
        if not new:
            return None
        boundary = frozenset(line[1:] for line in lines if line.startswith("-"))
        return News(tip=new[0], new=frozenset(new), boundary=boundary)  # topo order: the tip first

    def added_paths(self, old: str, new: str) -> list[str]:
        """Paths that exist in `new` and not in `old` (a rename counts as an added path)."""
        return [path for path, status in self._diff(old, new).items() if status == "A"]

    def _diff(self, old: str, new: str) -> dict[str, str]:
        """{path: status letter} from `old` to `new` (commits or trees, renames as delete + add).
        decide's added paths and chown's changed paths are the same diff: git is asked once."""
        key = (old, self._tree_of.get(new, new))
        if key in self._diffs:
            return self._diffs[key]
        out = self.run("diff", "--name-status", "-z", "--no-renames", old, new).stdout
        fields = out.decode("utf-8", "surrogateescape").split("\0")
        found = dict(zip(fields[1::2], fields[0::2]))  # "M", path, "A", path, ...
        if _OBJECT_ID.fullmatch(old) and _OBJECT_ID.fullmatch(key[1]):  # names of refs may move
            self._diffs[key] = found
        return found

    def tree_status(self) -> TreeStatus:
        """Branch, HEAD and tracked files with uncommitted changes, in one git call.

        Untracked files are fine (an operator's git-ignored .env, say); edits to tracked ones are not.
        """
        out = self.run("status", "--porcelain=v2", "--branch", "-z", "--untracked-files=no").stdout
        status = TreeStatus()
        for entry in out.decode("utf-8", "surrogateescape").split("\0"):
            if entry.startswith("# branch.oid "):
                oid = entry[len("# branch.oid ") :]
                status.head = None if oid == "(initial)" else oid
            elif entry.startswith("# branch.head "):
                head = entry[len("# branch.head ") :]
                status.branch = None if head == "(detached)" else head
            elif entry[:2] in ("1 ", "2 ", "u "):
                status.dirty.append(entry.split(" ", {"1": 8, "2": 9, "u": 10}[entry[0]])[-1])
        return status

    def git_dir(self) -> Path:
        dot_git = self.tree / ".git"
        if dot_git.is_dir():  # the common case, without a git process
            return dot_git
        return (self.tree / self.out("rev-parse", "--git-dir")).resolve()

    def operation_in_progress(self) -> str | None:
        gd = self.git_dir()
        for marker, what in (
            ("MERGE_HEAD", "merge"),
            ("rebase-merge", "rebase"),
            ("rebase-apply", "rebase"),
            ("CHERRY_PICK_HEAD", "cherry-pick"),
            ("REVERT_HEAD", "revert"),
        ):
            if (gd / marker).exists():
                return what
        return None

    def changed_paths(self, old: str, new: str) -> list[str]:
        return list(self._diff(old, new))

    def read_blob(self, tree_ish: str, path: str) -> bytes | None:
        proc = self.run("cat-file", "blob", f"{tree_ish}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    def rev_list(self, tips: list[str], exclude: list[str]) -> list[str]:
        """Commits reachable from `tips` and not from `exclude`, merges included, newest first."""
        out = self.out("rev-list", *tips, *[f"^{sha}" for sha in exclude], "--")
        return out.split()

    def raw_commits(self, shas: list[str]) -> dict[str, bytes]:
        """The raw objects of these commits, in one git call (cat-file --batch)."""
        if not shas:
            return {}
        data = self.run("cat-file", "--batch", input="".join(f"{sha}\n" for sha in shas).encode()).stdout
        found, pos = {}, 0
        while pos < len(data):
            end = data.index(b"\n", pos)
            header = data[pos:end].split()
            pos = end + 1
            if len(header) != 3 or header[1] != b"commit":
                raise ToolError(["git", "cat-file", "--batch"], 0, f"not a commit: {header[:1]}")
            size = int(header[2])
            found[header[0].decode()] = data[pos : pos + size]
            pos += size + 1
        return found

    def remote_url(self, remote: str) -> str | None:
        """`git config --get remote.REMOTE.url`, read from .git/config without a git process when
        the file is plain (no includes, quotes, escapes or continuation lines); else asked of git."""
        from syncd import treefile

        try:
            text = treefile.read(self.tree, ".git/config", limit=1 << 20, what="git config")
        except (treefile.UnsafeTreeFile, OSError):
            text = None
        if text is not None and (url := plain_remote_url(text.decode("utf-8", "replace"), remote)):
            return url
        proc = self.run("config", "--get", f"remote.{remote}.url", check=False)
        return proc.stdout.decode().strip() or None

    # -- actions -----------------------------------------------------------------------------
    def fetch(self, remote: str, branch: str) -> None:
        """Fetch `branch` into refs/remotes/REMOTE/BRANCH. git's own housekeeping (`maintenance
        --auto`) is left to maintain(), once the new version runs. Submodules are not fetched:
        the deploy never checks them out."""
        self.run(
            "fetch",
            "--quiet",
            "--no-tags",
            "--prune",
            "--no-auto-maintenance",
            "--no-recurse-submodules",  # else it reads .git/index, which the owner can make a FIFO
            remote,
            f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}",
            timeout=self.fetch_timeout,
        )

    def merge_tree(self, ours: str, theirs: str) -> tuple[str | None, list[str]]:
        """Merge in memory (git >= 2.38): (tree, []) when clean, (None, conflicting paths) if not.

        Nothing in the working tree, index or refs changes, so a conflict leaves all untouched.
        """
        proc = self.run(
            "merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs, check=False
        )
        lines = proc.stdout.decode("utf-8", "replace").splitlines()
        if proc.returncode == 0:
            return lines[0].strip(), []
        if proc.returncode == 1:
            return None, sorted({line for line in lines[1:] if line})
        raise ToolError(["git", "merge-tree"], proc.returncode, proc.stderr.decode("utf-8", "replace"))

    def commit_tree(self, tree: str, parents: list[str], message: str) -> str:
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        commit = self.out(*args, "-m", message)
        self._tree_of[commit] = tree
        return commit

    def move_branch(self, target: str) -> None:
        """Move the checked-out branch and working tree to `target`, keeping uncommitted edits."""
        self.run("reset", "--quiet", "--keep", target)

    def update_ref(self, ref: str, sha: str) -> None:
        self.run("update-ref", ref, sha)

    def maintain(self) -> None:
        """git's automatic housekeeping (packs loose objects when there are many), as `git fetch`
        or `git merge` would have run it. When it is due, a gc may take a while on a big repository:
        it gets the fetch's time limit (repo.fetch_timeout), which it used to run under."""
        self.run("maintenance", "run", "--auto", "--quiet", timeout=self.fetch_timeout)

    # -- setting a tree up (syncd install) -----------------------------------------------------
    def clone(self, url: str, dest: Path, *, bare: bool = False, branch: str | None = None) -> None:
        """Clone into `dest` (missing or empty), its files group-writable (umask 002).

        Not core.sharedRepository: git would chmod new directories g+s, which syncd's own unit
        forbids (RestrictSUIDSGID=yes), so its fetches would fail with "Operation not permitted".
        """
        self.run(
            "clone",
            "--quiet",
            "--no-hardlinks",
            *(["--bare"] if bare else []),
            *(["--branch", branch] if branch else []),
            "--",
            url,
            str(dest),
            umask=0o002,
            timeout=1800,
        )

    def init_bare(self, path: Path, branch: str) -> None:
        """A bare repository at `path` whose group may push (--shared=group)."""
        self.run("init", "--quiet", "--bare", "--shared=group", f"--initial-branch={branch}", str(path))

    def fetch_all_branches(self, url: str, timeout: float = 1800) -> None:
        """Copy every branch of `url` into this (bare) repository, files group-writable (umask 002)."""
        self.run(
            "fetch", "--quiet", "--no-tags", url, "+refs/heads/*:refs/heads/*", umask=0o002, timeout=timeout
        )

    def add_remote(self, remote: str, url: str) -> None:
        self.run("remote", "add", remote, url)

    def set_remote_url(self, remote: str, url: str) -> None:
        self.run("remote", "set-url", remote, url)

    def has_branch(self, branch: str) -> bool:
        return (
            self.run("show-ref", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0
        )

    def new_branch(self, branch: str) -> None:
        """Create `branch` at HEAD and check it out; uncommitted edits stay as they are."""
        self.run("checkout", "--quiet", "-b", branch, umask=0o002)

    def switch(self, branch: str) -> None:
        self.run("checkout", "--quiet", branch, umask=0o002)

    # -- after a crash ---------------------------------------------------------------------------
    def remove_stale_locks(self) -> list[str]:
        """Remove, as the owner, the .lock files a killed git left in .git; return their paths.

        systemd kills a killed syncd's whole cgroup, git included, and a git killed mid-write leaves
        index.lock, HEAD.lock or a ref's .lock behind: every later git command then refuses. A lock
        is stale only when no git runs in this tree (an operator's `git commit` waiting for its
        editor holds index.lock): then nothing is removed and git's own message says what to do.
        """
        if self.running_here():
            return []
        # find never follows a link (-P), and runs as the owner: it can remove only what the owner could.
        proc = runas.run(
            self.who,
            [
                "find",
                ".git",
                "-name",
                "*.lock",
                "-type",
                "f",
                "-not",
                "-path",
                ".git/objects/*",
                "-print",
                "-delete",
            ],
            cwd=self.tree,
            timeout=self.timeout,
        )
        return proc.stdout.decode("utf-8", "replace").split()

    def running_here(self) -> list[int]:
        """PIDs of the git processes working in this tree that the owner can see (its own: syncd's
        gits, and the owner's; root's view would be no wider, syncd has no CAP_SYS_PTRACE)."""
        import glob  # here: only running_here needs it (start-up time)

        top = glob.escape(os.path.realpath(self.tree))
        # Others' processes are unreadable to the owner: find says so on stderr and goes on.
        cwd_in_tree = ["(", "-lname", top, "-o", "-lname", f"{top}/*", ")"]
        proc = runas.run(
            self.who,
            [
                "find",
                "/proc",
                "-mindepth",
                "2",
                "-maxdepth",
                "2",
                "-name",
                "cwd",
                *cwd_in_tree,
                "-printf",
                "%h\\n",
            ],
            timeout=self.timeout,
        )
        pids = []
        for where in proc.stdout.decode().split():
            if not re.fullmatch(r"/proc/[0-9]+", where):  # root opens only what /proc holds
                continue
            try:
                with open(f"{where}/cmdline", "rb") as f:
                    argv0 = f.read(4096).split(b"\0", 1)[0]
            except OSError:  # ended meanwhile
                continue
            if os.path.basename(argv0).startswith(b"git"):
                pids.append(int(where.rsplit("/", 1)[1]))
        return pids

    # -- a developer's side (syncd demo) -------------------------------------------------------
    def commit_all(self, message: str) -> None:
        """Commit every change in the tree (as the committer this Git was made with)."""
        self.run("add", "--all")
        self.run("commit", "--quiet", "--message", message)

    def push(self, remote: str, refspec: str) -> None:
        self.run("push", "--quiet", remote, refspec, timeout=self.fetch_timeout)

    def ls_remote(self, remote: str, branch: str, timeout: float = 60) -> runas.Completed:
        return self.run(
            "ls-remote", "--exit-code", remote, f"refs/heads/{branch}", check=False, timeout=timeout
        )


_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SECTION = re.compile(r'\[\s*([A-Za-z0-9-]+)\s*(?:"([^"\\]*)")?\s*\]')
_ENTRY = re.compile(r"([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?")


def plain_remote_url(text: str, remote: str) -> str | None:
    """The last remote.REMOTE.url of a git config file's text, as `git config --get` would find it
    (the repository's own config is read last, so its value wins); None when the file has none,
    or anything here is not plain enough to be sure: then git itself is asked."""
    section: tuple[str, str | None] | None = None
    url = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            found = _SECTION.match(line)
            rest = line[found.end() :].strip() if found else "?"
            if not found or (rest and rest[0] not in "#;") or found.group(1).lower() in _UNSURE_SECTIONS:
                return None  # includes, a worktree config, sections on one line with keys: ask git
            section = (found.group(1).lower(), found.group(2))
            continue
        entry = _ENTRY.fullmatch(line)
        if entry is None or any(c in line for c in '"\\#;') or raw.rstrip().endswith("\\"):
            return None
        if section == ("remote", remote) and entry.group(1).lower() == "url" and entry.group(2):
            url = entry.group(2).strip()
    return url


_UNSURE_SECTIONS = ("include", "includeif", "extensions")


def config_file_value(path: Path, key: str) -> str | None:
    """One value of a git config file in a tree, read as data: through syncd/treefile.py (no link, no
    FIFO), then parsed by `git config --file -` from stdin (which runs nothing and follows no include)."""
    from syncd import treefile

    path = Path(path)
    base = path.parents[1] if len(path.parts) > 2 else path.parent
    try:
        data = treefile.read(base, str(path.relative_to(base)), limit=1 << 20, what="git config")
    except (treefile.UnsafeTreeFile, OSError):
        return None
    if data is None:
        return None
    proc = _as_syncd(["git", "config", "--file", "-", "--get", key], input=data)
    return proc.stdout.decode("utf-8", "replace").strip() or None if proc.returncode == 0 else None


def system_safe_directories() -> list[str]:
    """`safe.directory` entries of the system config (/etc/gitconfig), which only root can vouch for."""
    proc = _as_syncd(["git", "config", "--system", "--get-all", "safe.directory"])
    return [line for line in proc.stdout.decode("utf-8", "replace").splitlines() if line]


def add_system_safe_directory(path: str) -> None:
    argv = ["git", "config", "--system", "--add", "safe.directory", path]
    proc = _as_syncd(argv)
    if proc.returncode != 0:
        raise ToolError(argv, proc.returncode, proc.stderr.decode("utf-8", "replace"))


def _as_syncd(argv: list[str], input: bytes | None = None) -> runas.Completed:
    """git on root's own files (never a tree): as syncd, minimal environment, bounded."""
    try:
        return runas.run(None, argv, timeout=DEFAULT_TIMEOUT, input=input, extra_env={"HOME": "/nonexistent"})
    except runas.TimedOut:
        raise ToolError(argv, -9, f"did not finish within {DEFAULT_TIMEOUT:g}s") from None


# -- where is a remote? ------------------------------------------------------------------------


def _local_hostnames() -> set[str]:
    names = {"localhost", "127.0.0.1", "::1", "[::1]"}
    try:
        import socket  # here: only a local remote's check needs it (start-up time)

        names |= {socket.gethostname(), socket.getfqdn()}
    except OSError:
        pass
    return names


def local_path_of(url: str, tree: Path) -> Path | None:
    """The filesystem path of a remote URL that points at this host, else None."""
    url = url.strip()
    if not url:
        return None
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme == "file" or (
            parts.scheme in ("ssh", "git+ssh", "ssh+git") and (parts.hostname or "") in _local_hostnames()
        ):
            if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
                return None
            return Path(unquote(parts.path)) if parts.path.startswith("/") else None
        return None
    head, sep, rest = url.partition(":")
    if sep and "/" not in head:  # scp-like [user@]host:path
        host = head.rpartition("@")[2]
        return Path(rest) if host in _local_hostnames() and rest.startswith("/") else None
    path = Path(url)
    return path if path.is_absolute() else (Path(tree) / path)
