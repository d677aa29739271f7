"""Issue 2 (a): deploy a one-file change in repos of 1 000, 10 000 and 100 000 files.

For each size, one bare origin and two identical server trees (branch `local` with a production-only
commit, chowned to the service user, each with its own running user unit):
- the syncd tree is deployed by `python -m syncd sync` (a fresh process, as a timer or a human would
  run it), once with health.settle = 0.2 s and once with settle = 0 so the health wait can be
  separated out; timed to its exit, and (settle 0) from its start until the pushed version
  answers, polled from outside every 5 ms as on the manual side;
- the manual tree gets the seed's sequence, as root: `git checkout master && git pull && git
  checkout local && git merge master`, `chown -R owner tree`, `systemctl --user restart unit`, then
  a wait until the new version answers on its port (syncd's health.tcp judges the same thing).
Each repetition pushes a new one-file commit (VERSION) to origin first. Medians are reported.

Then, on the same syncd tree and unit, "syncd run (daemon, watching the origin)": `syncd run` with
the same health config (settle 0), schedule.interval = 0 and schedule.watch = true, started once
and warmed up by one deploy, as in production where it is already running. Each repetition pushes
a one-file commit; the clock starts when the push has returned and stops when the new version
answers on its port, polled from outside every 5 ms exactly as on the manual side (the app sends
its VERSION on connect, since the old version answers until the daemon restarts the unit). After
each, the daemon's outcome STATUS= ("healthy at ...") is awaited so it is idle, and the manual tree
deploys the same push (a paired manual sample, kept apart from the manual column).

The manual clock starts at its first command (the push has returned) and stops when the pushed
VERSION answers, with the same poll.

"syncd own" is syncd's wall time minus its restart + health-judge span (timed from its unbuffered
step lines), i.e. what syncd adds on top of the restart; "manual own" is git + chown -R.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    PYTHON,
    STEP_RE,
    Env,
    Tree,
    commit_to_origin,
    fast_import_repo,
    manual_deploy,
    median,
    parse_args,
    push_to_origin,
    run,
    run_lines,
    span,
    table,
    wait_until_answering,
    write_result,
)
from daemon_harness import DaemonProcess  # noqa: E402

NAME = "deploy_scaling"
STEP_DONE = re.compile(r"^step (\w+) done")
# The daemon deploys on a push at once (inotify on the origin's refs), never on a timer.
WATCH_ONLY = "\n[schedule]\ninterval = 0\nwatch = true\n"
# The STATUS= words of a finished reconcile (syncd/daemon/loop.outcome_line).
OUTCOMES = (
    "healthy at",
    "up to date at",
    "rolled back",
    "blocked",
    "stopped",
    "waiting",
    "deploy of",
    "error",
)


def syncd_deploy(tree: Tree, version: str) -> dict:
    """`syncd sync` as a fresh process; also timed, from outside, until the pushed version answers."""
    argv = [PYTHON, "-m", "syncd", "--config", str(tree.config), "-v", "sync"]
    wall, lines, rc, answered = run_lines(
        argv, watch=lambda: wait_until_answering(tree.port, version=version)
    )
    if rc != 0 or answered is None:
        raise RuntimeError("syncd sync failed:\n" + "\n".join(line for _, line in lines[-40:]))
    restart_judge = span(lines, "-> restart", "step judge done")
    chown = span(lines, "-> chown changed", "step chown_changed done")
    git_steps = span(lines, "-> preflight", "step decide done") + span(
        lines, "-> move tree", "step move_tree done"
    )
    steps = {m.group(1): t for t, line in lines if (m := STEP_DONE.search(line))}
    starts = {
        name: next((t for t, line in lines if line.startswith(f"-> {name.replace('_', ' ')}")), None)
        for name in steps
    }
    per_step = {name: round(end - starts[name], 4) for name, end in steps.items() if starts[name] is not None}
    first = next((t for t, line in lines if line.startswith("-> ")), 0.0)
    return {
        "total": wall,
        "answered": answered,
        "restart_judge": restart_judge,
        "own": wall - restart_judge,
        "chown": chown,
        "git": git_steps,
        "startup": first,
        "steps": per_step,
    }


def daemon_deploy(daemon: DaemonProcess, tree: Tree, origin, version: str) -> dict:
    """Push, then time from outside until `version` answers; wait for the daemon's outcome."""
    before = time.perf_counter()  # the watch may fire while the push is still finishing
    pushed = push_to_origin(origin, {"VERSION": version})
    try:
        wait_until_answering(tree.port, version=version)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}; syncd run log:\n{daemon.tail()}") from None
    answered = time.perf_counter()
    done = daemon.wait_status(OUTCOMES, before, 60)
    if done is None or not done[1]["STATUS"].startswith("healthy at"):
        last = done[1]["STATUS"] if done else None
        raise RuntimeError(f"syncd run did not deploy {version!r} (last STATUS {last!r}):\n{daemon.tail()}")
    started = daemon.wait_status(("checking the tree",), before, 0)
    return {
        "total": answered - pushed,
        "deploy_start": (started[0] - pushed) if started else float("nan"),
        "healthy_status": done[0] - pushed,
    }


def daemon_phase(syncd_tree: Tree, manual_tree: Tree, origin, base, owner: str, reps: int) -> dict:
    """`syncd run` on the one-shot's tree and unit, already running and warm when each push lands."""
    syncd_tree.write_config(settle="0", extra=WATCH_ONLY)
    daemon = DaemonProcess(syncd_tree.config, base, verbose=True)  # -v like the one-shot: step lines
    try:
        daemon.wait_ready()
        if daemon.wait_status(OUTCOMES, 0.0, 120) is None:  # its start-up reconcile
            raise RuntimeError(f"syncd run: no start-up outcome:\n{daemon.tail()}")
        warm_up = time.perf_counter()
        first = daemon_deploy(daemon, syncd_tree, origin, "daemon-warm-up\n")
        manual_deploy(manual_tree, owner, version="daemon-warm-up\n")
        samples, paired = [], []
        for r in range(reps):
            time.sleep(0.3)  # the daemon is idle again (an extra reconcile would show as a STATUS)
            version = f"v{r}-daemon\n"
            samples.append(daemon_deploy(daemon, syncd_tree, origin, version))
            paired.append(manual_deploy(manual_tree, owner, version=version))
        extra = [s for _, s in daemon.listener.statuses(warm_up) if s.startswith("up to date")]
    finally:
        rc = daemon.stop()
    deploys = [steps for steps in reconciles(daemon.log_path.read_text(errors="replace")) if "judge" in steps]
    return {
        "syncd_run_exit": rc,
        "syncd_run": samples,
        "syncd_run_first_deploy": first,
        "syncd_run_up_to_date_statuses": len(extra),
        "manual_after_syncd_run": paired,
        "syncd_run_steps": deploys[-reps:],  # from its log, 10 ms resolution
    }


def reconciles(log_text: str) -> list[dict[str, float]]:
    """The daemon's `step NAME done (N.NNs)` lines, one dict per reconcile (each starts at preflight)."""
    out: list[dict[str, float]] = []
    for m in STEP_RE.finditer(log_text):
        if m.group(1) == "preflight" or not out:
            out.append({})
        out[-1][m.group(1)] = float(m.group(2))
    return out


def bench_size(env: Env, files: int, reps: int) -> dict:
    base = env.base / f"n{files}"
    base.mkdir()
    owner = f"{env.user.pw_name}:{env.user.pw_name}"
    t0 = time.perf_counter()
    origin = base / "origin.git"
    fast_import_repo(origin, files)
    run(["chown", "-R", owner, str(origin)])
    syncd_tree = Tree(env, base, origin, "syncd", settle="0.2s")
    manual_tree = Tree(env, base, origin, "manual")
    setup = time.perf_counter() - t0
    try:
        syncd_tree.syncd("sync")  # adopt the running HEAD, install the drop-in (warm-up)
        commit_to_origin(origin, {"VERSION": "warm-up\n"})
        syncd_tree.syncd("sync")
        manual_deploy(manual_tree, owner)
        s_settle, s_zero, manual = [], [], []
        for r in range(reps):
            for settle, into in (("0.2s", s_settle), ("0", s_zero)):
                syncd_tree.write_config(settle=settle)
                version = f"v{r}-{settle}\n"
                commit_to_origin(origin, {"VERSION": version})
                into.append(syncd_deploy(syncd_tree, version))
                manual.append(manual_deploy(manual_tree, owner, version=f"v{r}-{settle}\n"))
        assert syncd_tree.head() != manual_tree.head() or True  # both are merges of the same upstream
        daemon = daemon_phase(syncd_tree, manual_tree, origin, base, owner, reps)
        return {
            "files": files,
            "reps": reps,
            "setup_s": round(setup, 1),
            "syncd_settle_0.2": s_settle,
            "syncd_settle_0": s_zero,
            "manual": manual,
            **daemon,
        }
    finally:
        syncd_tree.close()
        manual_tree.close()
        run(["rm", "-rf", str(base)])


def summarise(raw: dict) -> dict:
    def med(samples, key):
        return median([s[key] for s in samples])

    s02, s0, man = raw["syncd_settle_0.2"], raw["syncd_settle_0"], raw["manual"]
    return {
        "files": raw["files"],
        "syncd_s": med(s02, "total"),
        "syncd_settle0_s": med(s0, "total"),
        "manual_s": med(man, "total"),
        "ratio_syncd_settle0_over_manual": med(s0, "total") / med(man, "total"),
        "syncd_settle0_answered_s": med(s0, "answered"),
        "ratio_syncd_answered_over_manual": med(s0, "answered") / med(man, "total"),
        "ratio_syncd_over_manual": med(s02, "total") / med(man, "total"),
        "syncd_run_s": med(raw["syncd_run"], "total"),
        "ratio_syncd_run_over_manual": med(raw["syncd_run"], "total") / med(man, "total"),
        "syncd_run_deploy_start_s": med(raw["syncd_run"], "deploy_start"),
        "syncd_run_healthy_status_s": med(raw["syncd_run"], "healthy_status"),
        "manual_after_syncd_run_s": med(raw["manual_after_syncd_run"], "total"),
        "syncd_run_steps_s": {
            name: median([d.get(name, 0.0) for d in raw["syncd_run_steps"]])
            for name in (raw["syncd_run_steps"] or [{}])[0]
        },
        "ratio_syncd_run_over_paired_manual": med(raw["syncd_run"], "total")
        / med(raw["manual_after_syncd_run"], "total"),
        "syncd_own_s": med(s0 + s02, "own"),
        "syncd_git_s": med(s0 + s02, "git"),
        "syncd_chown_s": med(s0 + s02, "chown"),
        "syncd_restart_judge_settle0_s": med(s0, "restart_judge"),
        "manual_own_s": median([m["git"] + m["chown"] for m in man]),
        "manual_git_s": med(man, "git"),
        "manual_chown_s": med(man, "chown"),
        "manual_restart_s": med(man, "restart"),
        "manual_answer_s": med(man, "answer"),
        "syncd_startup_s": med(s0 + s02, "startup"),
        "syncd_steps_s": {name: median([s["steps"].get(name, 0.0) for s in s0]) for name in s0[0]["steps"]},
        "syncd_judge_settle_0.2_s": median([s["steps"].get("judge", 0.0) for s in s02]),
    }


def main(argv=None) -> dict:
    args = parse_args(argv, sizes=True)
    sizes = [(1_000, 2), (10_000, 2)] if args.quick else [(1_000, 7), (10_000, 7), (100_000, 5)]
    if args.sizes:  # a partial run (its own result file): chosen sizes, 7 repetitions unless --reps
        sizes = [(int(n), 7) for n in args.sizes.split(",")]
    if args.reps:
        sizes = [(files, args.reps) for files, _ in sizes]
    env = Env()
    raws, rows = [], []
    try:
        for files, reps in sizes:
            print(f"  {files} files, {reps} repetitions ...", flush=True)
            raw = bench_size(env, files, reps)
            raws.append(raw)
            rows.append(summarise(raw))
    finally:
        env.close()
    headers = [
        "files",
        "manual s (until it answers)",
        "syncd run s (daemon: push -> answers)",
        "daemon/manual",
        "syncd sync s (start -> answers)",
        "sync/manual (answers)",
        "syncd sync s (to exit, settle 0)",
        "sync/manual (exit)",
        "syncd sync s (to exit, settle 0.2)",
        "syncd own s",
        "  of which git",
        "  of which chown",
        "manual own s (git+chown -R)",
        "  of which chown -R",
        "manual restart s",
        "manual wait to answer s",
    ]
    text = table(
        headers,
        [
            [
                r["files"],
                r["manual_s"],
                r["syncd_run_s"],
                f"{r['ratio_syncd_run_over_manual']:.2f}",
                r["syncd_settle0_answered_s"],
                f"{r['ratio_syncd_answered_over_manual']:.2f}",
                r["syncd_settle0_s"],
                f"{r['ratio_syncd_settle0_over_manual']:.2f}",
                r["syncd_s"],
                r["syncd_own_s"],
                r["syncd_git_s"],
                r["syncd_chown_s"],
                r["manual_own_s"],
                r["manual_chown_s"],
                r["manual_restart_s"],
                r["manual_answer_s"],
            ]
            for r in rows
        ],
    )
    print(text)
    daemon_text = table(
        [
            "files",
            "push -> daemon's first step s",
            "push -> new version answers s",
            "push -> 'healthy at' STATUS s",
            "manual s (same pushes)",
            "daemon/manual (same pushes)",
            "extra 'up to date' reconciles",
        ],
        [
            [
                r["files"],
                r["syncd_run_deploy_start_s"],
                r["syncd_run_s"],
                r["syncd_run_healthy_status_s"],
                r["manual_after_syncd_run_s"],
                f"{r['ratio_syncd_run_over_paired_manual']:.2f}",
                raw["syncd_run_up_to_date_statuses"],
            ]
            for r, raw in zip(rows, raws)
        ],
    )
    print("  syncd run (daemon, watching the origin), median seconds from the push returning:")
    print(daemon_text)
    text += (
        "\n\nsyncd run (daemon, watching the origin), median seconds from the push returning:\n\n"
        + daemon_text
    )
    steps = list(rows[-1]["syncd_steps_s"])
    step_text = table(
        ["files", "start-up (python, imports, config)"] + steps,
        [[r["files"], r["syncd_startup_s"]] + [r["syncd_steps_s"].get(k, 0.0) for k in steps] for r in rows],
    )
    print("  syncd's steps with settle 0 (median seconds; start-up = process start to the first step):")
    print(step_text)
    text += "\n\nsyncd sync (settle 0), median seconds per step:\n\n" + step_text
    write_result(
        NAME,
        {
            "quick": args.quick,
            "partial": bool(args.sizes or args.reps),
            "summary": rows,
            "raw": raws,
            "table": text,
            "notes": "median over repetitions; syncd own = wall - (restart + health judge); "
            "manual run as root: git checkout/pull/checkout/merge, chown -R, systemctl restart, "
            "then a wait until the new version answers on its port (clock from the push returning); "
            "syncd run: the daemon already running and warm, watching the origin, clock from the push "
            "returning until the new version answers, polled from outside every 5 ms as on the manual side",
        },
    )
    return {"table": text, "summary": rows}


if __name__ == "__main__":
    main()
