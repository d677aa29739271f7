"""Files root trusts (config and its directory, key, allowed signers, state dir and its parents) are
root's and not writable by anyone else; the key not readable by anyone else either."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from syncd.doctor import result


def problems_of(path: Path, secret: bool = False) -> list[tuple[str, str]]:
    """[(what is wrong, the command that fixes it)] for one file or directory.

    check() uses syncd/trust.py itself; this stays for callers that ask about one path.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [(f"{path}: {exc.strerror}", f"ls -ld {path}")]
    out = []
    if stat.S_ISLNK(st.st_mode):
        out.append((f"{path} is a symbolic link", f"replace {path} with the file it points to"))
        return out
    if st.st_uid != 0:
        out.append((f"{path} is owned by uid {st.st_uid}, not root", f"chown root:root {path}"))
    if st.st_mode & 0o022 and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX and st.st_uid == 0):
        out.append(
            (
                f"{path} is writable by {'group' if st.st_mode & 0o020 else 'others'} "
                f"(mode {stat.S_IMODE(st.st_mode):04o})",
                f"chmod go-w {path}",
            )
        )
    if secret and st.st_mode & 0o077:
        out.append(
            (
                f"{path} is readable by others than root (mode {stat.S_IMODE(st.st_mode):04o})",
                f"chmod 600 {path}",
            )
        )
    return out


def trusted_paths(cfg) -> list[tuple[Path, bool]]:
    """(path, secret) for everything root trusts on this config's behalf."""
    paths = [(cfg.source, False), (cfg.source.parent, False)]
    if cfg.env.key:
        paths.append((cfg.env.key, True))
    if cfg.repo.allowed_signers:
        paths.append((cfg.repo.allowed_signers, False))
    state = Path(cfg.state.dir)
    paths += [(p, False) for p in [state, *state.parents]]
    return paths


def check(s):
    """The same check `syncd` itself makes before it runs (syncd/trust.py), so doctor and the
    deploy refuse exactly the same files: every directory above them included, links resolved."""
    from syncd import trust

    found = trust.check_config_file(s.config_path) if s.cfg is None else trust.check(s.cfg)
    if found:
        return result(
            "trusted-files",
            False,
            "; ".join(f"{p.path} ({p.role}) {p.what}" for p in found),
            "; ".join(dict.fromkeys(p.fix for p in found)),
        )
    return result("trusted-files", True, "config, key and state directory are root's alone")
