"""Issue 3 (b): the idle daemon — resident memory after start and after 500 polls of an unchanged
remote (no growth), and CPU time per idle poll.

`syncd run` with `schedule.interval = "0.05s"` (watch on, as by default) on a deployed tree of
1 000 files whose origin never changes. The interval is shorter than one idle sync, so polls run
back to back: each is a complete up-to-date reconcile (lock, preflight, fetch from the bare origin,
decide, render, record), exactly what a 60 s interval does once a minute, just 500 times in a row.
Polls are counted from the daemon's own sd_notify STATUS "checking the tree" (first step of each
sync) received on the benchmark's socket. RSS (VmRSS) and CPU come from /proc/PID: the daemon's
own user+sys, and its waited-for children (the git processes it runs), sampled every 100 polls.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Env, Tree, fast_import_repo, parse_args, run, table, write_result  # noqa: E402
from daemon_harness import DaemonProcess  # noqa: E402

NAME = "idle_daemon"
SCHEDULE = '\n[schedule]\ninterval = "0.05s"\nwatch = true\n'


def count_polls(daemon: DaemonProcess) -> int:
    return sum(1 for _, s in daemon.listener.statuses() if s.startswith("checking the tree"))


def main(argv=None) -> dict:
    args = parse_args(argv)
    polls, every = (100, 25) if args.quick else (500, 100)
    env = Env()
    samples = []
    try:
        base = env.base / "idle-daemon"
        base.mkdir()
        owner = f"{env.user.pw_name}:{env.user.pw_name}"
        origin = base / "origin.git"
        fast_import_repo(origin, 1000)
        run(["chown", "-R", owner, origin])
        tree = Tree(env, base, origin, "syncd", extra_config=SCHEDULE)
        tree.syncd("sync")
        daemon = DaemonProcess(tree.config, base)
        try:
            ready_s = daemon.wait_ready()
            daemon.wait_status(("up to date",), 0.0, 60)
            t_start = time.perf_counter()
            samples.append({"polls": count_polls(daemon), "t": 0.0, **daemon.stat()})
            target = every
            deadline = time.monotonic() + 600
            while target <= polls and time.monotonic() < deadline:
                if daemon.proc.poll() is not None:
                    raise RuntimeError(f"syncd run exited {daemon.proc.returncode}:\n{daemon.tail()}")
                n = count_polls(daemon)
                if n - samples[0]["polls"] >= target:
                    samples.append({"polls": n, "t": time.perf_counter() - t_start, **daemon.stat()})
                    target += every
                time.sleep(0.01)
            errors = [
                s for _, s in daemon.listener.statuses() if s.startswith(("error", "blocked", "rolled"))
            ]
        finally:
            rc = daemon.stop()
            tree.close()
    finally:
        env.close()
    first, last = samples[0], samples[-1]
    done = last["polls"] - first["polls"]
    self_cpu = (last["self_cpu_s"] - first["self_cpu_s"]) / done
    child_cpu = (last["children_cpu_s"] - first["children_cpu_s"]) / done
    wall = last["t"] / done
    rows = [
        [s["polls"] - first["polls"], s["rss_kib"] / 1024, s["self_cpu_s"], s["children_cpu_s"], s["threads"]]
        for s in samples
    ]
    text = table(
        ["idle polls", "RSS MiB", "daemon CPU s (cum.)", "git children CPU s (cum.)", "threads"], rows
    )
    summary = table(
        ["per idle poll", "value"],
        [
            ["daemon CPU (python) ms", self_cpu * 1000],
            ["git children CPU ms", child_cpu * 1000],
            ["total CPU ms", (self_cpu + child_cpu) * 1000],
            ["wall ms (back to back)", wall * 1000],
            ["RSS after start MiB", first["rss_kib"] / 1024],
            [f"RSS after {done} polls MiB", last["rss_kib"] / 1024],
            ["RSS growth KiB", last["rss_kib"] - first["rss_kib"]],
        ],
    )
    print(text)
    print(summary)
    print(f"  READY after {ready_s:.2f}s; error statuses: {len(errors)}; daemon exit {rc}")
    write_result(
        NAME,
        {
            "quick": args.quick,
            "polls": done,
            "interval": "0.05s (back to back)",
            "samples": samples,
            "per_poll": {"daemon_cpu_s": self_cpu, "children_cpu_s": child_cpu, "wall_s": wall},
            "rss_start_kib": first["rss_kib"],
            "rss_end_kib": last["rss_kib"],
            "ready_s": ready_s,
            "errors": errors,
            "daemon_exit": rc,
            "table": text,
            "summary": summary,
        },
    )
    return {"table": text + "\n\n" + summary}


if __name__ == "__main__":
    main()
