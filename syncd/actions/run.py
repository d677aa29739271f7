"""`syncd run`: the daemon (schedule + watch + single-flight syncs, sd_notify). See docs/daemon.md."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run as a daemon: poll, watch for pushes, deploy one sync at a time",
        description="Long-running daemon for a Type=notify systemd unit: READY=1 once triggers are armed, "
        "STATUS= per step, WATCHDOG=1, SIGTERM stops at a safe point, SIGHUP reloads the config.",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from syncd.config import config_path
    from syncd.daemon.loop import run_daemon

    return run_daemon(config_path(getattr(args, "config", None)))
