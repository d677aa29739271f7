"""Files root trusts, checked like sshd's StrictModes (docs/security.md).

The config file and its directory, env.key, repo.allowed_signers and state.dir decide what syncd
does as root. Each of them, and every directory above it (through symbolic links too), must be
owned by root and not writable by group or others; the key also not readable by them. A directory
writable by others is accepted only with the sticky bit (like /tmp): nobody else can then rename or
replace what root owns in it. Otherwise syncd refuses with exit 2, naming the file and the command
that fixes it, before it touches anything.

    problems = check(cfg)          # [Problem(path, role, what, fix)], for `syncd doctor`
    require(cfg)                   # raise Untrusted (exit 2) when there is any
    cfg = load_trusted(path)       # config file checked, loaded, then everything else checked
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from syncd.errors import EXIT_USAGE, SyncdError
from syncd.records import dataclass


@dataclass(frozen=True)
class Problem:
    path: Path
    role: str  # what the file is to syncd: "the config file", "env.key", ...
    what: str  # what is wrong, e.g. "is owned by syncd-test"
    fix: str  # the command that fixes it

    def __str__(self) -> str:
        return f"{self.path} ({self.role}) {self.what}; fix: {self.fix}"


class Untrusted(SyncdError):
    """A file root trusts could be changed by someone else: refuse before touching anything."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(
            "refusing to run: a file syncd trusts as root can be changed by another user: "
            + "; ".join(map(str, problems))
        )


def _trusted_uids() -> set[int]:
    return {0, os.geteuid()}


def _who(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _chain(path: Path) -> list[Path]:
    """`path` and every directory above it, as written and as resolved (a link's target counts too)."""
    lexical = Path(os.path.abspath(path))
    real = Path(os.path.realpath(path))
    out: list[Path] = []
    for candidate in (lexical, real):
        for p in (candidate, *candidate.parents):
            if p not in out:
                out.append(p)
    return out


def check_path(path: Path, role: str, *, secret: bool = False) -> list[Problem]:
    """Problems of `path` (a file or directory; missing parts are skipped) and of every directory above."""
    problems: list[Problem] = []
    seen: set[tuple[int, int]] = set()
    target_real = Path(os.path.realpath(path))
    for p in _chain(Path(path)):
        try:
            st = os.stat(p)
        except OSError:
            continue  # not there (yet): whoever creates it is checked when it exists
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        is_target = Path(os.path.realpath(p)) == target_real
        what = role if is_target else f"a directory above {role}"
        if st.st_uid not in _trusted_uids():
            problems.append(Problem(p, what, f"is owned by {_who(st.st_uid)}, not root", f"chown root {p}"))
        if stat.S_ISDIR(st.st_mode):
            if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
                problems.append(Problem(p, what, _writable(st.st_mode), f"chmod go-w {p}"))
            if is_target and secret and st.st_mode & 0o077:
                problems.append(Problem(p, what, "is open to group or others", f"chmod 700 {p}"))
        elif is_target and secret and st.st_mode & 0o077:
            problems.append(Problem(p, what, "can be read or written by group or others", f"chmod 600 {p}"))
        elif st.st_mode & 0o022:
            problems.append(Problem(p, what, _writable(st.st_mode), f"chmod go-w {p}"))
    return problems


def _writable(mode: int) -> str:
    who = [name for bit, name in ((0o020, "group"), (0o002, "others")) if mode & bit]
    return f"is writable by {' and '.join(who)}"


def check_config_file(path: Path) -> list[Problem]:
    return check_path(Path(path), "the config file")


def check(cfg) -> list[Problem]:
    """Every problem with the files `cfg` makes root trust (the config file included)."""
    problems = check_config_file(cfg.source)
    if cfg.env.key:
        problems += check_path(cfg.env.key, "env.key", secret=True)
    if cfg.repo.allowed_signers:
        problems += check_path(cfg.repo.allowed_signers, "repo.allowed_signers")
    problems += check_path(cfg.state_dir, "the state directory")
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    out: list[Problem] = []
    for p in problems:
        if all((p.path, p.fix) != (q.path, q.fix) for q in out):
            out.append(p)
    return out


def require(cfg) -> None:
    problems = check(cfg)
    if problems:
        raise Untrusted(problems)


def load_trusted(path: Path):
    """Load a config only from a file nobody but root can change, then check what it names."""
    from syncd.config import load_config

    problems = check_config_file(path)
    if problems:
        raise Untrusted(problems)
    cfg = load_config(path)
    require(cfg)
    return cfg
