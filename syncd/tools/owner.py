"""Commands run as the tree's owner (never as root) on places the owner owns: its environments and
the `venv` link in its tree. Root never follows a link there; the owner may, with its own rights.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from syncd.tools.git import Identity

_PATH = "/usr/local/bin:/usr/bin:/bin"


def as_owner(who: Identity) -> dict:
    """subprocess keyword arguments that make the child run as `who` (nothing when we already are)."""
    if os.geteuid() == 0 and who.uid != 0:
        return {"user": who.uid, "group": who.gid, "extra_groups": list(who.groups)}
    return {}


def base_env(who: Identity) -> dict[str, str]:
    return {"PATH": _PATH, "HOME": who.home, "LANG": "C.UTF-8"}


def run(who: Identity, *argv: str, cwd: Path | None = None) -> None:
    """A short file operation as the owner; raises OSError with its message when it fails."""
    proc = subprocess.run(list(argv), cwd=cwd, env=base_env(who), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=120, **as_owner(who))
    if proc.returncode != 0:
        raise OSError(f"{' '.join(argv[:2])} as uid {who.uid}: {proc.stderr.decode('utf-8', 'replace').strip()}")


def switch_link(who: Identity, link: Path, target: str) -> None:
    """Point `link` at `target` atomically (a new link renamed over the old one): a reader sees the
    old target or the new one, never none. rename(2) refuses to replace a directory."""
    tmp = link.with_name(f".{link.name}.syncd-new")
    run(who, "ln", "-sfT", target, str(tmp))
    run(who, "mv", "-fT", str(tmp), str(link))


def remove_link(who: Identity, link: Path) -> None:
    run(who, "rm", "-f", "--", str(link))


def remove_tree(who: Identity, path: Path) -> None:
    run(who, "rm", "-rf", "--one-file-system", "--", str(path))


def make_dir(who: Identity, path: Path) -> None:
    run(who, "mkdir", "-m", "0755", "--", str(path))


@dataclass
class Result:
    returncode: int | None  # None: killed (timeout or stop)
    output: str  # the last bytes of stdout+stderr
    seconds: float


def run_bounded(who: Identity, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float,
                should_stop=None, tail_bytes: int = 16384) -> Result:
    """Run a long command (a build) as the owner; output to an unlinked file (a chatty child never
    blocks on a full pipe) of which only the last `tail_bytes` are read back."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True, **as_owner(who))
        deadline = started + timeout
        killed = False
        while proc.poll() is None:
            if time.monotonic() > deadline or (should_stop and should_stop()):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed = True
                break
            time.sleep(0.02)
        size = output.tell()
        output.seek(max(0, size - tail_bytes))
        text = output.read().decode("utf-8", "replace")
    return Result(None if killed else proc.returncode, text, time.monotonic() - started)
