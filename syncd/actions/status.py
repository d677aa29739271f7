"""`syncd status [--json]`: what runs, what upstream has, how the last sync went."""

from __future__ import annotations

import json

from syncd.actions.common import load
from syncd.state import State
from syncd.terminal import printable


def register(sub) -> None:
    p = sub.add_parser("status", help="deployed and upstream commit, last result, pause and quarantine")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=run)


def collect(cfg) -> dict:
    state = State(cfg.state_dir)
    st = state.status()
    daemon = state.daemon()
    info = {
        "config": str(cfg.source),
        "unit": cfg.service.unit,
        "deployed": st.get("deployed"),
        "upstream": st.get("upstream"),
        "result": st.get("result"),
        "reason": st.get("reason"),
        "last_sync": st.get("last_sync"),
        "paused": state.paused,
        "quarantined": state.quarantined(),
        "next_run": daemon.get("next_run"),
        "daemon_pid": daemon.get("pid"),
        "daemon_status": daemon.get("status"),
        "fetch_error": st.get("fetch_error"),
        "environment": st.get("environment") if cfg.python else None,
        "in_flight": (cfg.state_dir / "journal.json").exists(),
        "waiting": st.get("waiting"),
        "warnings": secrets_warnings(cfg),
    }
    return info


def secrets_warnings(cfg) -> list[str]:
    """A secrets file the server's key cannot open must be seen before it blocks a deploy."""
    if not cfg.env.secrets or not cfg.env.key:
        return []
    from syncd import treefile
    from syncd.render.environment import MAX_SOURCE_BYTES
    from syncd.secrets import key_recipient
    from syncd.secrets.format import parse

    out = []
    try:
        mine = key_recipient(cfg.env.key)
    except Exception as exc:  # noqa: BLE001 - a warning, never a crash
        return [f"env.key {cfg.env.key}: {exc}"]
    for rel in cfg.env.secrets:
        try:
            data = treefile.read(cfg.repo.path, rel, limit=MAX_SOURCE_BYTES, what="secrets file")
            if data is None:
                out.append(f"{rel}: secrets file not found in {cfg.repo.path}")
            elif mine not in parse(data, rel).recipients:
                out.append(
                    f"{rel}: the server key ({mine}) is not among its recipients; deploys will be blocked"
                )
        except Exception as exc:  # noqa: BLE001
            out.append(f"{rel}: {exc}")
    return out


def run(args) -> int:
    info = collect(load(args))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0

    def say(line: str) -> None:  # reasons and warnings may quote file names from the repository
        print(printable(line))

    short = lambda s: s[:12] if s else "none"  # noqa: E731
    say(f"unit:        {info['unit']}  ({info['config']})")
    say(f"deployed:    {short(info['deployed'])}")
    say(f"upstream:    {short(info['upstream'])}")
    say(
        f"last result: {info['result'] or 'never synced'}"
        + (f" — {info['reason']}" if info["reason"] else "")
    )
    say(f"last sync:   {info['last_sync'] or 'never'}")
    if info["environment"]:
        say(f"environment: {info['environment']}  ([python])")
    say(f"paused:      {'yes' if info['paused'] else 'no'}")
    say(f"quarantined: {', '.join(s[:12] for s in info['quarantined']) or 'none'}")
    say(
        f"next run:    {info['next_run'] or ('no daemon running' if not info['daemon_pid'] else 'not scheduled')}"
    )
    if info["daemon_status"]:
        say(f"daemon:      {info['daemon_status']}")
    if info["fetch_error"]:
        say(f"fetch error: {info['fetch_error']}")
    if info["waiting"]:
        w = info["waiting"]
        say(f"waiting:     {short(w.get('commit'))} since {w.get('since')}: {w.get('cause')}")
        say("             (`syncd sync --now` deploys at once)")
    if info["in_flight"]:
        say("in flight:   a deploy is in progress or was interrupted (the next sync finishes or undoes it)")
    for w in info["warnings"]:
        say(f"warning:     {w}")
    return 0
