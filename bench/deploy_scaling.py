"""Issue 2 (a): deploy a one-file change in repos of 1 000, 10 000 and 100 000 files.

For each size, one bare origin and two identical server trees (branch `local` with a production-only
commit, chowned to the service user, each with its own running user unit):
- the syncd tree is deployed by `python -m syncd sync` (a fresh process, as a timer or a human would
  run it), once with health.settle = 0.2 s and once with settle = 0 so the health wait can be
  separated out;
- the manual tree gets the seed's sequence, as root: `git checkout master && git pull && git
  checkout local && git merge master`, `chown -R owner tree`, `systemctl --user restart unit`, then
  a wait until the new version answers on its port (syncd's health.tcp judges the same thing).
Each repetition pushes a new one-file commit (VERSION) to origin first. Medians are reported.

"syncd own" is syncd's wall time minus its restart + health-judge span (timed from its unbuffered
step lines), i.e. what syncd adds on top of the restart; "manual own" is git + chown -R.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PYTHON,
    Env,
    Tree,
    commit_to_origin,
    fast_import_repo,
    manual_deploy,
    median,
    parse_args,  # noqa: E402
    run,
    run_lines,
    span,
    table,
    write_result,
)

NAME = "deploy_scaling"
STEP_DONE = re.compile(r"^step (\w+) done")


def syncd_deploy(tree: Tree) -> dict:
    argv = [PYTHON, "-m", "syncd", "--config", str(tree.config), "-v", "sync"]
    wall, lines, rc = run_lines(argv)
    if rc != 0:
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
        "restart_judge": restart_judge,
        "own": wall - restart_judge,
        "chown": chown,
        "git": git_steps,
        "startup": first,
        "steps": per_step,
    }


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
                commit_to_origin(origin, {"VERSION": f"v{r}-{settle}\n"})
                into.append(syncd_deploy(syncd_tree))
                manual.append(manual_deploy(manual_tree, owner))
        assert syncd_tree.head() != manual_tree.head() or True  # both are merges of the same upstream
        return {
            "files": files,
            "reps": reps,
            "setup_s": round(setup, 1),
            "syncd_settle_0.2": s_settle,
            "syncd_settle_0": s_zero,
            "manual": manual,
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
        "ratio_syncd_over_manual": med(s02, "total") / med(man, "total"),
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
        "syncd s (settle 0.2)",
        "syncd s (settle 0)",
        "manual s (until it answers)",
        "syncd/manual (settle 0)",
        "syncd/manual (settle 0.2)",
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
                r["syncd_s"],
                r["syncd_settle0_s"],
                r["manual_s"],
                f"{r['ratio_syncd_settle0_over_manual']:.2f}",
                f"{r['ratio_syncd_over_manual']:.2f}",
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
            "then a wait until the new version answers on its port",
        },
    )
    return {"table": text, "summary": rows}


if __name__ == "__main__":
    main()
