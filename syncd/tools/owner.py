"""Commands run as the tree's owner (never as root) on places the owner owns: its environments and
the `venv` link in its tree. Root never follows a link there; the owner may, with its own rights.
Everything starts through syncd/runas.py (the one place that runs a program as the owner).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
import time
from pathlib import Path

from syncd import runas
from syncd.records import dataclass
from syncd.runas import Identity


def base_env(who: Identity) -> dict[str, str]:
    return runas.environment(who)


def run(who: Identity, *argv: str, cwd: Path | None = None) -> None:
    """A short file operation as the owner; raises OSError with its message when it fails."""
    try:
        proc = runas.run(who, argv, cwd=cwd, timeout=120)
    except runas.TimedOut as exc:
        raise OSError(f"{' '.join(argv[:2])} as uid {who.uid}: {exc}") from None
    if proc.returncode != 0:
        raise OSError(
            f"{' '.join(argv[:2])} as uid {who.uid}: {proc.stderr.decode('utf-8', 'replace').strip()}"
        )


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


def run_bounded(
    who: Identity,
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    should_stop: Callable[[], bool] | None = None,
    tail_bytes: int = 16384,
) -> Result:
    """Run a long command (a build) as the owner; output to an unlinked file (a chatty child never
    blocks on a full pipe) of which only the last `tail_bytes` are read back."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as output:
        proc = runas.spawn(who, argv, cwd=cwd, extra_env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = started + timeout
        killed = False
        while proc.poll() is None:
            if time.monotonic() > deadline or (should_stop and should_stop()):
                runas.kill(proc)
                killed = True
                break
            time.sleep(0.02)
        size = output.tell()
        output.seek(max(0, size - tail_bytes))
        text = output.read().decode("utf-8", "replace")
    return Result(None if killed else proc.returncode, text, time.monotonic() - started)
