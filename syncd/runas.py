"""The one place that runs a program as the tree's owner: git, hooks, command probes, builds.

syncd runs as root; the owner of the tree is not trusted (docs/security.md). Whatever syncd runs on
the tree's behalf gets exactly the owner's uid, gid and supplementary groups, a minimal
environment (root's may hold secrets, GIT_* or SSH_AUTH_SOCK) and a fixed PATH, in its own session
so a timeout kills everything it started. The system's programs (git above all) are started
through util-linux's setpriv, which is several milliseconds cheaper per program than Python
forking the whole daemon to switch user; anything else is started by Python's own switch. When
syncd itself is not root it cannot change user and runs the program as itself, with the same
minimal environment.

    who = identity_for(uid, gid)
    proc = spawn(who, argv, cwd=tree)                      # a Popen; kill(proc) ends its whole group
    done = run(who, argv, cwd=tree, timeout=60)            # output captured; TimedOut after 60 s
"""

from __future__ import annotations

import functools
import os
import pwd
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import IO, Any

from syncd.records import dataclass

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OUTPUT_CAP = 64 << 20  # run(): more output than this is a runaway, not an answer


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    home: str
    groups: tuple[int, ...]
    name: str = ""


def identity_for(uid: int, gid: int) -> Identity:
    try:
        pw = pwd.getpwuid(uid)
        home, name, groups = pw.pw_dir, pw.pw_name, tuple(os.getgrouplist(pw.pw_name, gid))
    except KeyError:
        home, name, groups = "/nonexistent", str(uid), (gid,)
    return Identity(uid, gid, home or "/", groups, name)


def as_identity(who: Identity | tuple[int, int] | None) -> Identity | None:
    """Accept an Identity, a (uid, gid) pair (older callers) or None (run as syncd itself)."""
    if who is None or isinstance(who, Identity):
        return who
    uid, gid = who
    return identity_for(uid, gid)


def environment(who: Identity | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a program run for the owner: nothing inherited from syncd."""
    home = who.home if who else os.environ.get("HOME", "/")
    env = {"PATH": SAFE_PATH, "HOME": home, "LANG": "C.UTF-8"}
    if who is not None and who.name:
        env.update(USER=who.name, LOGNAME=who.name)
    env.update(extra or {})
    return env


def _credentials(who: Identity | None) -> dict[str, Any]:
    if who is None or os.geteuid() != 0 or who.uid == 0:
        return {}
    return {"user": who.uid, "group": who.gid, "extra_groups": list(who.groups)}


def spawn(
    who: Identity | None,
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    extra_env: dict[str, str] | None = None,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.DEVNULL,
    pass_fds: Sequence[int] = (),
    umask: int = -1,
) -> subprocess.Popen[bytes]:
    """Start argv as `who` in its own session (umask: the child's, -1 keeps syncd's). OSError if it cannot start."""
    env = environment(who, extra_env)
    creds = _credentials(who)
    if creds and env["PATH"] == SAFE_PATH and (setpriv := _setpriv()) and _anyone_may_run(argv[0]):
        argv, creds = [*_setpriv_prefix(setpriv, creds), *argv], {}
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
        umask=umask,
        **creds,
    )


@functools.cache
def _setpriv() -> str | None:
    """util-linux's setpriv (on every Debian), root's own: None when absent (then Python forks)."""
    path = _on_safe_path("setpriv")
    if path is None:
        return None
    st = os.stat(path)
    return path if st.st_uid == 0 and not st.st_mode & 0o022 else None


def _anyone_may_run(program: str) -> bool:
    """A program of the system's PATH (SAFE_PATH, the child's too) that every user may execute:
    setpriv execs it still holding root's capabilities (the exec drops them), so it only ever
    starts what the owner could have started itself."""
    if "/" in program:
        return False
    path = _on_safe_path(program)
    return path is not None and bool(os.stat(path).st_mode & 0o001)


def _on_safe_path(program: str) -> str | None:
    """Where exec finds `program` with PATH=SAFE_PATH (shutil.which costs start-up time)."""
    for directory in SAFE_PATH.split(":"):
        path = f"{directory}/{program}"
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _setpriv_prefix(setpriv: str, creds: dict[str, Any]) -> list[str]:
    # Python's own user=/group= switch must fork() the whole daemon (vfork is unsafe around
    # setuid), which costs milliseconds per git in a large process. Here syncd vforks setpriv,
    # which takes the owner's groups, gid and uid (real, effective and saved) and execs argv.
    groups = ",".join(map(str, creds["extra_groups"]))
    return [
        setpriv,
        f"--reuid={creds['user']}",
        f"--regid={creds['group']}",
        f"--groups={groups}" if groups else "--clear-groups",
        "--",
    ]


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the program and everything it started in its session, and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class TimedOut(Exception):
    def __init__(self, argv: Sequence[str], timeout: float):
        self.argv, self.timeout = list(argv), timeout
        super().__init__(f"{' '.join(map(str, self.argv[:4]))}... did not finish within {timeout:g}s")


@dataclass
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes


def run(
    who: Identity | None,
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float,
    extra_env: dict[str, str] | None = None,
    input: bytes | None = None,
    pass_fds: Sequence[int] = (),
    umask: int = -1,
) -> Completed:
    """Run argv as `who`, capture its output; TimedOut (everything it started killed) after `timeout`.

    Unlike subprocess.run, a grandchild that keeps the pipes open (a daemonised fsmonitor, say)
    cannot make this wait past the deadline: the pipes are simply abandoned.
    """
    proc = spawn(
        who,
        argv,
        cwd=cwd,
        extra_env=extra_env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=pass_fds,
        umask=umask,
    )
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    in_fd = proc.stdin.fileno() if proc.stdin is not None else None
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    size = 0
    with selectors.DefaultSelector() as sel:
        sel.register(out_fd, selectors.EVENT_READ)
        sel.register(err_fd, selectors.EVENT_READ)
        pending = memoryview(input or b"")
        if in_fd is not None:
            os.set_blocking(in_fd, False)
            if pending:
                sel.register(in_fd, selectors.EVENT_WRITE)
            else:
                _close(proc.stdin)
        try:
            while len(sel.get_map()):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or size > OUTPUT_CAP:
                    kill(proc)
                    raise TimedOut(argv, timeout)
                for key, _ in sel.select(remaining):
                    if key.fd == in_fd:
                        try:
                            pending = pending[os.write(key.fd, pending[:65536]) :]
                        except BrokenPipeError:
                            pending = pending[:0]
                        if not pending:
                            sel.unregister(key.fd)
                            _close(proc.stdin)
                        continue
                    data = os.read(key.fd, 65536)
                    if not data:
                        sel.unregister(key.fd)
                    else:
                        chunks[key.fd].append(data)
                        size += len(data)
            try:
                returncode = proc.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                kill(proc)
                raise TimedOut(argv, timeout) from None
        finally:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                _close(pipe)
    return Completed(returncode, b"".join(chunks[out_fd]), b"".join(chunks[err_fd]))


def _close(pipe: IO[bytes] | None) -> None:
    if pipe is not None and not pipe.closed:
        pipe.close()
