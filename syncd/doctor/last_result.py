"""The last sync deployed or found nothing new; otherwise its reason and where to look."""

from syncd.doctor import result
from syncd.result import Result
from syncd.text import short

OK = tuple(r for r in Result if r.ok)


def check(s):
    if s.cfg is None:
        return None
    from syncd.state import State

    status = State(s.cfg.state_dir).status()
    res, reason, when = status.get("result"), status.get("reason"), status.get("last_sync")
    if res is None:
        return result(
            "last-result",
            False,
            "never synced",
            f"syncd --config {s.config_path} sync (or start the daemon: see the daemon check)",
        )
    if res in OK:
        return result("last-result", True, f"{res} at {short(status.get('deployed'))} ({when})")
    return result(
        "last-result",
        False,
        f"{res} ({when}): {reason or 'no reason recorded'}",
        "docs/troubleshooting.md, keyed by that reason; `syncd status` and `syncd history` show more",
    )
