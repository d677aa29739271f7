"""Everything in the tree belongs to service.owner: git runs as that user and cannot change a file
root (or anyone else) owns, so a deploy touching it fails."""

from __future__ import annotations

import os
from pathlib import Path

from syncd.doctor import result

MAX_ENTRIES = 200_000  # a bound on the walk; a pipeline tree with its venv is far below


def scan(root: Path, uid: int, gid: int, limit: int = 3) -> tuple[list[str], int, bool]:
    """(first `limit` entries not owned by uid:gid, how many, whether the walk stopped at MAX_ENTRIES).

    gid -1 checks the user only. Links are not followed: a link's own owner does not matter.
    """
    examples: list[str] = []
    count = seen = 0
    stack = [str(root)]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
            entries = None
            if os.path.isdir(path) and not os.path.islink(path):
                entries = list(os.scandir(path))
        except OSError:
            continue
        seen += 1
        if not os.path.islink(path) and (st.st_uid != uid or (gid != -1 and st.st_gid != gid)):
            count += 1
            if len(examples) < limit:
                examples.append(path)
        if seen >= MAX_ENTRIES:
            return examples, count, True
        for entry in entries or ():
            stack.append(entry.path)
    return examples, count, False


def not_owned_by(root: Path, uid: int, gid: int, limit: int = 3) -> list[str]:
    return scan(root, uid, gid, limit)[0]


def check(s):
    if s.cfg is None:
        return None
    from syncd.chown import parse_owner
    from syncd.deploy.context import owner_identity

    tree = s.cfg.repo.path
    if not tree.is_dir():
        return result(
            "tree-owner",
            False,
            f"{tree} (repo.path) does not exist",
            f"syncd install {s.name} --repo URL clones it (or git clone it as the service user)",
        )
    owner = s.cfg.service.owner
    try:
        uid, gid = parse_owner(owner) if owner else (owner_identity(s.cfg).uid, -1)
    except (KeyError, ValueError) as exc:
        return result("tree-owner", False, f"service.owner {owner!r}: {exc}", "name a user that exists")
    if owner and ":" not in owner:
        gid = -1
    examples, count, stopped = scan(tree, uid, gid)
    label = owner or f"uid {uid}"
    if count:
        more = f" and {count - len(examples)} more" if count > len(examples) else ""
        return result(
            "tree-owner",
            False,
            f"{count} entries in {tree} not owned by {label}: {', '.join(examples)}{more}",
            f"chown -R --no-dereference {owner or uid} {tree}",
        )
    return result(
        "tree-owner", True, f"{tree} is owned by {label}" + (" (first 200000 entries)" if stopped else "")
    )
