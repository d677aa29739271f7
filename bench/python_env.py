"""Issue 12: an environment per release, against the `pre_restart` pip hook into one venv.

A requirements set of real size (numpy, pydicom, pynetdicom, nibabel, from PyPI; release B bumps
nibabel as in the incident), all run as the service user, side by side in one run:

(a) a dependency change: the hook way (`venv/bin/pip install -r B` into the one venv that holds A,
    pip's cache warm) against syncd building a new environment for B (uv, shared cache warm);
    also a deploy whose requirements did not change (the hook still runs pip; syncd does nothing).
    Goal: syncd <= 0.5x the hook's time.
(b) a rollback to the previous environment: `syncd sync` deploys alternating between two releases
    whose environments exist, against the same deploys on a tree without [python]; both run in a
    network namespace with no network at all (`unshare --net`). Also the bare switch (undo).
    Goal: <= 0.1 s added, no network.
(c) the disk an extra environment costs with the shared cache (blocks of files not hard-linked
    with the cache) against a full copy of it. Goal: <= 10 %.
"""

from __future__ import annotations

import os
import re
import subprocess
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
    median,
    parse_args,
    run,  # noqa: E402
    step_times,
    table,
    write_result,
)

NAME = "python_env"
REQUIREMENTS_A = "numpy==2.3.5\npydicom==3.0.1\npynetdicom==3.0.4\nnibabel==5.3.3\n"
REQUIREMENTS_B = REQUIREMENTS_A.replace("nibabel==5.3.3", "nibabel==5.4.2")
ENV_STEPS = ("plan_environment", "build_environment", "switch_environment")


def as_owner(user, argv, env=None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=env,
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
    )
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"{argv[:4]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}"
        )
    return took


def pip_env(base: Path, user) -> dict:
    """The hook's environment: what run_hooks gives it (PATH, HOME, LANG) plus the machine's PIP_*
    settings (syncd maps the same ones to uv), with pip's cache where the owner may write."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(base / "home"),
        "LANG": "C.UTF-8",
        "PIP_CACHE_DIR": str(base / "pip-cache"),
    }
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    return env


def disk(env_dir: Path, cache: Path) -> tuple[int, int]:
    """(bytes of a full copy of env_dir, bytes env_dir adds next to the cache): allocated blocks,
    each inode counted once; an inode that the cache also links costs the environment nothing."""
    cached = set()
    for root, _dirs, files in os.walk(cache):
        for f in files:
            st = os.lstat(os.path.join(root, f))
            cached.add((st.st_dev, st.st_ino))
    seen, full, extra = set(), 0, 0
    for root, dirs, files in os.walk(env_dir):
        for f in files + dirs:
            st = os.lstat(os.path.join(root, f))
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            size = st.st_blocks * 512
            full += size
            if key not in cached:
                extra += size
    return full, extra


def main(argv=None) -> dict:
    args = parse_args(argv)
    n_build, n_sync, n_switch = (2, 2, 10) if args.quick else (3, 10, 20)
    env = Env()
    user = env.user
    owner = f"{user.pw_name}:{user.pw_name}"
    try:
        base = env.base / "python"
        base.mkdir()
        for sub in ("home", "pip-cache", "hook", "reqs"):
            (base / sub).mkdir()
        reqs = base / "reqs"
        (reqs / "A.txt").write_text(REQUIREMENTS_A)
        (reqs / "B.txt").write_text(REQUIREMENTS_B)
        run(["chown", "-R", owner, base])

        # -- the hook way: one venv, pip install -r on every deploy --------------------------------
        penv = pip_env(base, user)
        venv, scratch = base / "hook" / "venv", base / "hook" / "scratch"
        for v in (venv, scratch):
            as_owner(user, ["/usr/bin/python3", "-m", "venv", str(v)], penv)

        def pip(v, req):
            return as_owner(user, [str(v / "bin" / "pip"), "install", "-q", "-r", str(reqs / req)], penv)

        pip_cold_a = pip(venv, "A.txt")
        pip(scratch, "B.txt")  # pip's cache now holds B's packages too
        pip_change, pip_same = [], []
        for _ in range(n_build):
            pip_change.append(pip(venv, "B.txt"))  # A -> B in place
            pip_same.append(pip(venv, "B.txt"))  # nothing changed, the hook still runs
            pip(venv, "A.txt")  # back to A for the next round (not timed)
        print(
            f"  hook: cold A {pip_cold_a:.1f} s; A->B {median(pip_change):.2f} s; unchanged {median(pip_same):.2f} s"
        )

        # -- syncd: a new environment per requirements content, uv with a shared cache -------------
        from syncd.config import load_config
        from syncd.environments import CACHE, Environments, env_name
        from syncd.tools.git import identity_for

        (base / "tree").mkdir()
        run(["chown", owner, base / "tree"])
        envs_dir = base / "envs"
        cfg_path = base / "envs.toml"
        cfg_path.write_text(
            f'[repo]\npath = "{base / "tree"}"\n[service]\nunit = "x.service"\nowner = "{owner}"\n'
            f'[python]\nrequirements = "requirements.txt"\nenvs = "{envs_dir}"\nkeep = 100\n'
        )
        cfg = load_config(cfg_path)
        envs = Environments(cfg.python, cfg.repo.path, identity_for(user.pw_uid, user.pw_gid))

        def build(text: str) -> tuple[str, float]:
            name = env_name(text.encode(), cfg.python.python)
            t0 = time.perf_counter()
            envs.ensure_built(name, text.encode())
            return name, time.perf_counter() - t0

        name_a, uv_cold_a = build(REQUIREMENTS_A)
        build(REQUIREMENTS_B + "# warm the cache\n")
        uv_change, uv_names = [], []
        for i in range(n_build):
            name, took = build(REQUIREMENTS_B + f"# release {i}\n")  # new bytes: a new environment
            uv_change.append(took)
            uv_names.append(name)
        t0 = time.perf_counter()
        for _ in range(20):
            envs.is_built(env_name(REQUIREMENTS_A.encode(), cfg.python.python))
        uv_same = (time.perf_counter() - t0) / 20
        print(
            f"  syncd: cold A {uv_cold_a:.1f} s; new env for B {median(uv_change):.2f} s; unchanged {uv_same * 1000:.2f} ms"
        )

        # -- with python.compile_bytecode = true: .pyc written at build time, not shared -------------
        import dataclasses

        compiled = Environments(
            dataclasses.replace(cfg.python, compile_bytecode=True),
            cfg.repo.path,
            identity_for(user.pw_uid, user.pw_gid),
        )
        text = REQUIREMENTS_B + "# compiled\n"
        name_c = env_name(text.encode(), cfg.python.python)
        t0 = time.perf_counter()
        compiled.ensure_built(name_c, text.encode())
        uv_compiled = time.perf_counter() - t0

        # -- (c) disk ---------------------------------------------------------------------------------
        full, extra = disk(envs_dir / uv_names[0], envs_dir / CACHE)
        full_c, extra_c = disk(envs_dir / name_c, envs_dir / CACHE)
        hook_full, _ = disk(venv, base / "nothing")
        print(
            f"  disk: env full copy {full / 2**20:.1f} MiB, extra next to the cache {extra / 2**20:.2f} MiB "
            f"({100 * extra / full:.1f} %); the hook's venv {hook_full / 2**20:.1f} MiB"
        )

        # -- (b) rollback to an existing environment: deploys, no network --------------------------
        origin = base / "origin.git"
        fast_import_repo(origin, 100)
        commit_to_origin(origin, {"requirements.txt": REQUIREMENTS_A}, "release A")
        run(["chown", "-R", owner, origin])
        extra_cfg = f'\n[python]\nrequirements = "requirements.txt"\nenvs = "{envs_dir}"\n'
        plain = Tree(env, base, origin, "plain", settle="0")
        withenv = Tree(env, base, origin, "withenv", settle="0", extra_config=extra_cfg)
        run(["chown", owner, envs_dir])
        offline = ["unshare", "--net"]
        s_plain, s_env, s_steps = [], [], []
        try:
            plain.syncd("sync")
            withenv.syncd("sync")  # A: exists already
            commit_to_origin(origin, {"requirements.txt": REQUIREMENTS_B}, "release B")
            plain.syncd("sync")
            withenv.syncd("sync")  # B: built once, with the warm cache
            for i in range(n_sync):
                text = REQUIREMENTS_A if i % 2 == 0 else REQUIREMENTS_B  # back and forth: A, B, A, ...
                commit_to_origin(origin, {"requirements.txt": text, "VERSION": f"r{i}\n"})
                for tree, into in (
                    ((plain, s_plain), (withenv, s_env)) if i % 2 else ((withenv, s_env), (plain, s_plain))
                ):
                    argv = offline + [PYTHON, "-m", "syncd", "--config", str(tree.config), "-v", "sync"]
                    t0 = time.perf_counter()
                    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
                    into.append(time.perf_counter() - t0)
                    if proc.returncode != 0:
                        raise RuntimeError(
                            f"offline sync exited {proc.returncode}: {proc.stdout}{proc.stderr[-2000:]}"
                        )
                    if tree is withenv:  # what the environment adds, from syncd's own step times
                        steps = step_times(proc.stderr)
                        kept = re.search(r"kept python environments \(([\d.]+)s\)", proc.stderr)
                        s_steps.append(
                            sum(steps.get(s, 0.0) for s in ENV_STEPS)
                            + (float(kept.group(1)) if kept else 0.0)
                        )
            assert os.readlink(withenv.path / "venv").endswith(
                env_name(
                    (REQUIREMENTS_A if (n_sync - 1) % 2 == 0 else REQUIREMENTS_B).encode(), cfg.python.python
                )
            )
            # the bare switch an undo does
            from syncd.environments import restore_link

            link = withenv.path / "venv"
            targets = [
                str(envs_dir / env_name(t.encode(), cfg.python.python))
                for t in (REQUIREMENTS_A, REQUIREMENTS_B)
            ]
            who = identity_for(user.pw_uid, user.pw_gid)
            switch = []
            for i in range(n_switch):
                t0 = time.perf_counter()
                restore_link(who, link, targets[i % 2])
                switch.append(time.perf_counter() - t0)
        finally:
            plain.close()
            withenv.close()
    finally:
        env.close()

    ratio = median(uv_change) / median(pip_change)
    added = median(s_steps)
    added_diff = median(s_env) - median(s_plain)
    share = extra / full
    rows = [
        ["(a) dependency change: hook `pip install -r` A->B", median(pip_change), "", ""],
        [
            "(a) dependency change: syncd new environment (uv, warm cache)",
            median(uv_change),
            f"{ratio:.2f}x",
            "<= 0.5x",
        ],
        ["(a) no dependency change: hook `pip install -r`", median(pip_same), "", ""],
        ["(a) no dependency change: syncd (hash known, nothing built)", uv_same, "", ""],
        ["(b) `syncd sync` deploy, no [python] (offline)", median(s_plain), "", ""],
        [
            "(b) `syncd sync` deploy switching to an existing env (offline)",
            median(s_env),
            f"{added_diff:+.3f} s",
            "",
        ],
        [
            "(b) ... of which its environment steps (plan, reuse, switch, keep)",
            added,
            f"+{added:.3f} s",
            "<= 0.1 s",
        ],
        ["(b) the undo's switch alone (`venv` link back)", median(switch), "", ""],
        ["(c) one environment, full copy (MiB)", full / 2**20, "", ""],
        [
            "(c) one more environment with the shared cache (MiB)",
            extra / 2**20,
            f"{100 * share:.1f} %",
            "<= 10 %",
        ],
        ["(for reference) first build, cold caches: pip / uv", f"{pip_cold_a:.1f} / {uv_cold_a:.1f}", "", ""],
        [
            "(for reference) python.compile_bytecode = true: new env for B",
            uv_compiled,
            f"{uv_compiled / median(pip_change):.2f}x",
            "",
        ],
        [
            "(for reference) python.compile_bytecode = true: extra disk (MiB)",
            extra_c / 2**20,
            f"{100 * extra_c / full_c:.1f} %",
            "",
        ],
    ]
    text = table(["requirements: numpy, pydicom, pynetdicom, nibabel", "seconds", "figure", "goal"], rows)
    print(text)
    verdict = {
        "a": "PASS" if ratio <= 0.5 else "FAIL",
        "b": "PASS" if added <= 0.1 else "FAIL",
        "c": "PASS" if share <= 0.1 else "FAIL",
    }
    print(f"  goals: {verdict}")
    write_result(
        NAME,
        {
            "quick": args.quick,
            "requirements_a": REQUIREMENTS_A,
            "requirements_b": REQUIREMENTS_B,
            "verdict": verdict,
            "table": text,
            "hook": {"cold_a": pip_cold_a, "change": pip_change, "unchanged": pip_same},
            "syncd": {"cold_a": uv_cold_a, "change": uv_change, "unchanged": uv_same},
            "sync_offline": {"plain": s_plain, "with_env": s_env, "env_steps": s_steps},
            "switch": switch,
            "compile_bytecode": {"build": uv_compiled, "full_bytes": full_c, "extra_bytes": extra_c},
            "disk": {"full_bytes": full, "extra_bytes": extra, "hook_venv_bytes": hook_full},
        },
    )
    return {"table": text}


if __name__ == "__main__":
    main()
