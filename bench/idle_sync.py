"""Issue 2 (b): an up-to-date `syncd sync` (nothing new upstream): wall and CPU time.

A deployed tree of 10 000 files (branch `local`, user unit, settle irrelevant: nothing restarts).
N runs of `python -m syncd --config X sync` as fresh processes; wall time per run and CPU time
(user+sys of the child and every git it ran: resource.getrusage(RUSAGE_CHILDREN) deltas).
Compared with the manual "check for updates": `git fetch && git status` in an identical tree.
Then where the time goes: `python -X importtime` (top imports by cumulative time) and cProfile of
one run (top functions by cumulative time, and how many subprocesses it started).
"""

from __future__ import annotations

import cProfile  # noqa: F401 - the profile is taken in a child with -m cProfile
import pstats
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    GIT_ENV,
    PYTHON,
    Env,
    Tree,
    cpu_children,
    fast_import_repo,
    median,
    parse_args,
    run,  # noqa: E402
    table,
    write_result,
)

NAME = "idle_sync"
FILES = 10_000


def measure(argv, n, cwd=None, env=None) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(n):
        c0, t0 = cpu_children(), time.perf_counter()
        run(argv, cwd=cwd, env=env)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_children() - c0)
    return walls, cpus


def import_times(tree: Tree, top: int = 12) -> list[dict]:
    proc = run([PYTHON, "-X", "importtime", "-m", "syncd", "--config", tree.config, "sync"])
    rows = []
    for line in proc.stderr.decode(errors="replace").splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append(
                {
                    "self_ms": int(m.group(1)) / 1000,
                    "cumulative_ms": int(m.group(2)) / 1000,
                    "depth": len(m.group(3)) // 2,
                    "module": m.group(4),
                }
            )
    total_ms = sum(r["self_ms"] for r in rows)
    rows.sort(key=lambda r: -r["cumulative_ms"])
    return [{"total_import_ms": round(total_ms, 1)}] + rows[:top]


def profile(tree: Tree, out: Path, top: int = 15) -> dict:
    # syncd.cli.main, not `-m syncd`: the entry point ends with os._exit, before cProfile could write.
    code = (
        "import cProfile, sys; from syncd.cli import main; "
        "cProfile.run('rc = main(sys.argv[2:])', sys.argv[1]); sys.exit(rc)"
    )
    run([PYTHON, "-c", code, out, "--config", tree.config, "sync"])
    stats = pstats.Stats(str(out))
    entries = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        entries.append(
            {
                "function": f"{Path(file).name}:{line}({func})",
                "calls": nc,
                "tottime_s": round(tt, 4),
                "cumtime_s": round(ct, 4),
            }
        )
    popen = sum(e["calls"] for e in entries if e["function"].endswith("(_execute_child)"))
    waits = sum(
        e["tottime_s"] for e in entries if "select.poll" in e["function"] or "waitpid" in e["function"]
    )
    by_self = sorted(entries, key=lambda e: -e["tottime_s"])[:top]
    syncd_only = [
        e for e in entries if "syncd" in e["function"] or e["function"].split(":")[0] in SYNCD_FILES
    ]
    syncd_only.sort(key=lambda e: -e["cumtime_s"])
    return {
        "total_s": round(stats.total_tt, 4),
        "subprocesses_started": popen,
        "waiting_for_children_s": round(waits, 4),
        "top_self": by_self,
        "top_syncd_cumulative": syncd_only[:top],
    }


SYNCD_FILES = {p.name for p in (Path(__file__).resolve().parent.parent / "syncd").rglob("*.py")}


def main(argv=None) -> dict:
    args = parse_args(argv)
    n = 5 if args.quick else 20
    env = Env()
    try:
        base = env.base / "idle"
        base.mkdir()
        owner = f"{env.user.pw_name}:{env.user.pw_name}"
        origin = base / "origin.git"
        fast_import_repo(origin, FILES)
        run(["chown", "-R", owner, origin])
        tree = Tree(env, base, origin, "syncd")
        manual = Tree(env, base, origin, "manual")
        try:
            tree.syncd("sync")  # first sync: adopt HEAD, install the drop-in
            out = tree.syncd("sync", verbose=False)
            assert "up-to-date" in out.stdout + out.stderr, out.stdout + out.stderr
            argv_sync = [PYTHON, "-m", "syncd", "--config", tree.config, "sync"]
            s_wall, s_cpu = measure(argv_sync, n)
            genv = dict(GIT_ENV, HOME=str(base))
            g = ["git", "-c", "safe.directory=*"]
            f_wall, f_cpu = measure(
                [
                    "sh",
                    "-c",
                    " ".join(g + ["fetch", "--quiet", "origin"])
                    + " && "
                    + " ".join(g + ["status", "--short", "--branch"]),
                ],
                n,
                cwd=manual.path,
                env=genv,
            )
            p_wall, p_cpu = measure([PYTHON, "-c", "pass"], n)
            i_wall, i_cpu = measure([PYTHON, "-c", "import syncd.cli; syncd.cli.build_parser()"], n)
            imports = import_times(tree)
            prof = profile(tree, base / "sync.prof")
        finally:
            tree.close()
            manual.close()
    finally:
        env.close()
    rows = [
        ["syncd sync (up to date)", median(s_wall), min(s_wall), max(s_wall), median(s_cpu)],
        ["manual: git fetch && git status", median(f_wall), min(f_wall), max(f_wall), median(f_cpu)],
        ["python -c pass (interpreter start)", median(p_wall), min(p_wall), max(p_wall), median(p_cpu)],
        ["python: import syncd.cli + parser", median(i_wall), min(i_wall), max(i_wall), median(i_cpu)],
    ]
    text = table(
        ["command (%d files, N=%d)" % (FILES, n), "wall median s", "min", "max", "CPU median s"], rows
    )
    print(text)
    print(
        f"  ratio syncd/manual wall: {median(s_wall) / median(f_wall):.2f}; "
        f"subprocesses per idle sync: {prof['subprocesses_started']}; imports {imports[0]['total_import_ms']} ms"
    )
    print("  cProfile, top by own time:")
    for e in prof["top_self"][:8]:
        print(f"    {e['cumtime_s']:.4f}s cum  {e['tottime_s']:.4f}s self  {e['calls']:>5}x  {e['function']}")
    print("  cProfile, syncd functions by cumulative time:")
    for e in prof["top_syncd_cumulative"][:12]:
        print(f"    {e['cumtime_s']:.4f}s cum  {e['tottime_s']:.4f}s self  {e['calls']:>5}x  {e['function']}")
    write_result(
        NAME,
        {
            "quick": args.quick,
            "files": FILES,
            "n": n,
            "table": text,
            "syncd": {"wall_s": s_wall, "cpu_s": s_cpu},
            "manual_fetch_status": {"wall_s": f_wall, "cpu_s": f_cpu},
            "python_startup": {"wall_s": p_wall, "cpu_s": p_cpu},
            "import_cli": {"wall_s": i_wall, "cpu_s": i_cpu},
            "importtime_top": imports,
            "cprofile": prof,
        },
    )
    return {"table": text}


if __name__ == "__main__":
    main()
