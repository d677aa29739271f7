"""What to do about a result, in the words of docs/troubleshooting.md (a test keeps them equal)."""

from __future__ import annotations

import re

from syncd.result import Result

# (pattern in "result: reason", what to do). First match wins; the texts are the "what to do"
# column of docs/troubleshooting.md without its markdown.
ADVICE: tuple[tuple[str, str], ...] = (
    (
        r"^blocked: uncommitted changes in",
        'commit it on the local branch (git -C /opt/pipeline commit -am "..." '
        "as the owner) or undo it (git checkout -- config.py); the next sync deploys",
    ),
    (
        r"^blocked: merge conflict in",
        "as the owner: git merge origin/master, resolve, commit; syncd deploys the merge",
    ),
    (r"^blocked: the new version adds", "move the server's copy away (or commit it on local)"),
    (
        r"^blocked: upstream \S+ was force-pushed",
        "if that was intended: allow_force_push = true in [repo], sync, and set it back",
    ),
    (
        r"^blocked: upstream \S+ is quarantined",
        "push a fix (any new commit); or syncd rollback / deploy an older one on purpose",
    ),
    (
        r"^blocked: commit \S+ \(upstream\) has no good",
        "sign it (git commit -S, git rebase --exec 'git commit "
        "--amend -S --no-edit'; a merge: git merge -S) or add the key",
    ),
    (
        r"^blocked: .*is not among its recipients",
        "syncd secrets recipients FILE --add syncd1:... --key ANOTHER_KEY, commit, push",
    ),
    (
        r"^blocked: [^ ]+\.enc:\d+:",
        "syncd secrets show FILE --key KEY on the server; fix with syncd secrets set",
    ),
    (r"^blocked: \S+/\.git is owned by", "chown -R pipeline:pipelineadmin /opt/pipeline"),
    (r"^rolled-back: interrupted deploy undone", "nothing: the next sync deploys again"),
    (
        r"^rolled-back: pre_restart hook ",
        "run the hook by hand as the owner to see why (what it changed in the venv "
        "stays); the next trigger tries the same commit again",
    ),
    (r"^rolled-back: ", "read the crash: journalctl -u pipeline -n 50; push a fix"),
    (
        r"^error: .*fetch",
        "the daemon retries with back-off; check network, ssh key of the owner, the remote URL",
    ),
    (
        r"^error: .*(no space left on device|read-only file system): ",
        "make room (or remount read-write); nothing moved, nothing quarantined; the next sync deploys",
    ),
    (
        r"^error: \S+: cannot parse",
        "look at it, fix it or move it away (status.json, history.json, quarantine.json "
        "start empty again); for journal.json, move it away only once the tree and drop-in are known to be right",
    ),
    (
        r"^error: .*previous version unhealthy too",
        "the service is down: journalctl -u pipeline -n 50; fix and push, or syncd rollback REV",
    ),
    (r"^error: restart of \S+ failed", "systemctl status pipeline; the next trigger tries again"),
)

DEPLOYED = "nothing: the new version runs and passed its health check."
FALLBACK = (
    "see syncd status and syncd history on the server, and what syncd logged: "
    "journalctl -u syncd -p warning (docs/troubleshooting.md lists every reason)."
)


def what_to_do(
    result: str, reason: str | None, unit: str, tree: str | None = None, owner: str | None = None
) -> str:
    if result == Result.DEPLOYED:
        return DEPLOYED
    text = f"{result}: {reason or ''}"
    for pattern, advice in ADVICE:
        if re.search(pattern, text):
            # The table speaks of the tutorial's server; name this one's unit, tree and owner.
            advice = advice.replace(
                "journalctl -u pipeline", f"journalctl -u {unit.removesuffix('.service')}"
            )
            if tree:
                advice = advice.replace("/opt/pipeline", tree)
            if owner:
                advice = advice.replace("pipeline:pipelineadmin", owner)
            return advice
    return FALLBACK
