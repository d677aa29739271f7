"""Files root trusts (config and its directory, key, allowed signers, state dir and its parents) are
root's and not writable by anyone else; the key not readable by anyone else either."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from syncd.doctor import result


def problems_of(path: Path, secret: bool = False) -> list[tuple[str, str]]:
    """[(what is wrong, the command that fixes it)] for one file or directory.

    TODO(issue 10): use the trust check of `syncd` itself once it lands on main, so doctor and the
    deploy refuse exactly the same files.
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
        out.append((f"{path} is writable by {'group' if st.st_mode & 0o020 else 'others'} "
                    f"(mode {stat.S_IMODE(st.st_mode):04o})", f"chmod go-w {path}"))
    if secret and st.st_mode & 0o077:
        out.append((f"{path} is readable by others than root (mode {stat.S_IMODE(st.st_mode):04o})",
                    f"chmod 600 {path}"))
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
    if s.cfg is None:
        paths = [(s.config_path, False), (s.config_path.parent, False)]
    else:
        paths = trusted_paths(s.cfg)
    found = [p for path, secret in paths for p in problems_of(Path(path), secret)]
    if found:
        return result("trusted-files", False, "; ".join(what for what, _ in found),
                      "; ".join(dict.fromkeys(fix for _, fix in found)))
    return result("trusted-files", True, "config, key and state directory are root's alone")
