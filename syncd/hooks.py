"""Run the user's hooks: argv lists, as the tree's owner, in repo.path, each with a timeout."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from syncd import log, runas
from syncd.errors import StepFailed
from syncd.runas import Identity

_LOG = log.get("hooks")


def run_hook(
    argv: tuple[str, ...],
    *,
    who: Identity,
    cwd: Path,
    timeout: float,
    extra_env: dict[str, str],
    should_stop=None,
) -> None:
    """Run one hook; raise StepFailed on a non-zero exit, a timeout or a stop request."""
    started = time.monotonic()
    # Output goes to an unlinked temp file, not a pipe: a chatty hook (pip install) must not block
    # on a full pipe that nobody reads until it exits.
    with tempfile.TemporaryFile() as output:
        try:
            proc = runas.spawn(
                who, argv, cwd=cwd, extra_env=extra_env, stdout=output, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            raise StepFailed(f"hook {argv[0]!r} could not start: {exc.strerror}") from None
        deadline = started + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline or (should_stop and should_stop()):
                runas.kill(proc)
                why = "timed out" if time.monotonic() > deadline else "stopped (syncd is shutting down)"
                raise StepFailed(f"hook {argv[0]!r} {why} after {time.monotonic() - started:.1f}s")
            time.sleep(0.05)
        size = output.tell()
    # Hook output can echo anything (even values); keep it out of syncd's own log.
    _LOG.debug("hook %s exited %s (%d bytes of output)", argv[0], proc.returncode, size)
    if proc.returncode != 0:
        raise StepFailed(f"hook {argv[0]!r} exited {proc.returncode}")
    _LOG.info("hook %s ok (%.1fs)", argv[0], time.monotonic() - started)


def run_hooks(hooks, **kw) -> None:
    for argv in hooks:
        run_hook(argv, **kw)
