"""The local mail transfer agent's sendmail interface (Postfix, Exim, msmtp, ...)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def sendmail(program: Path, message: bytes, timeout: float) -> None:
    """-t: recipients from the message's headers; -oi: a line with a lone "." does not end it."""
    proc = subprocess.run([str(program), "-t", "-oi"], input=message, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise OSError(
            f"{program} exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()[-300:]}"
        )
