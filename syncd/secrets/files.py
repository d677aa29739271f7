"""Replacing a secrets file (fsutil's atomic writer): it keeps its mode and, when we are root, its
owner, so a `set` run as root in a developer's checkout does not leave a root-owned file behind.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from syncd import fsutil


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data`; a new file gets 0666 minus the umask (it holds only ciphertext)."""
    path = Path(path)
    owner: tuple[int, int] | None = None
    try:
        st = os.stat(path)
        mode = stat.S_IMODE(st.st_mode)
        if os.geteuid() == 0:
            owner = (st.st_uid, st.st_gid)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask
    fsutil.atomic_write(path, data, mode, owner)
