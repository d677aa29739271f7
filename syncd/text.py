"""How a commit is written wherever people read it: logs, status lines, notifications, history."""

from __future__ import annotations


def short(sha: str | None) -> str:
    """The first 7 characters of a commit id, or "none"."""
    return sha[:7] if sha else "none"
