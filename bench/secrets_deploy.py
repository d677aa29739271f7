"""Issue 4: what decrypting and delivering 1 000 secrets adds to a deploy (goal: < 0.2 s).

One origin holds an encrypted secrets file of 1 000 values (HPKE, one recipient, made with syncd's
own sealing code). Three measurements, each with and without `env.secrets` in the config:
1. in-process `syncd.render.environment.render()` (warm: cryptography already imported), N runs;
2. a fresh `syncd render` process (cold: pays the import of cryptography, as a CLI sync does);
3. a full `syncd sync` deploying a one-file change (health.settle = 0), default delivery
   (EnvironmentFile= in a root-only file), on two identical trees, alternating, median of N.
The extra time is the difference of medians.
"""

from __future__ import annotations

import os
import secrets as pysecrets
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
    table,
    write_result,
)

NAME = "secrets_deploy"
COUNT = 1000
SECRETS_REL = "deploy/production.env.enc"


def make_secrets_file(key_path: Path, count: int) -> bytes:
    from syncd.secrets import seal_value
    from syncd.secrets.format import new_file
    from syncd.secrets.keys import generate_key_file

    recipient = generate_key_file(key_path)
    sf = new_file(SECRETS_REL, "production", [recipient])
    for i in range(count):
        seal_value(sf, f"SECRET_{i:04d}", pysecrets.token_urlsafe(24))
    return sf.to_bytes()


def render_times(config: Path, n: int) -> list[float]:
    from syncd.config import load_config
    from syncd.render.environment import render, secrets_dir

    cfg = load_config(config)
    tree = cfg.repo.path
    out = Path(str(config) + ".secrets")
    times = []
    for _ in range(n + 1):  # the first call imports cryptography: not counted here (see the cold case)
        t0 = time.perf_counter()
        rendered = render(cfg, lambda rel: (tree / rel).read_bytes(), secrets_dir(cfg, out))
        times.append(time.perf_counter() - t0)
    assert rendered.dropin
    return times[1:]


def cli_times(tree: Tree, args: list[str], n: int) -> list[float]:
    argv = [PYTHON, "-m", "syncd", "--config", tree.config, *args]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run(argv)
        times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> dict:
    args = parse_args(argv)
    n_render, n_cli, n_sync = (5, 3, 2) if args.quick else (20, 10, 6)
    env = Env()
    try:
        base = env.base / "secrets"
        base.mkdir()
        owner = f"{env.user.pw_name}:{env.user.pw_name}"
        key = base / "production.key"
        t0 = time.perf_counter()
        data = make_secrets_file(key, COUNT)
        seal_s = time.perf_counter() - t0
        origin = base / "origin.git"
        fast_import_repo(origin, 1000)
        commit_to_origin(origin, {SECRETS_REL: data.decode("ascii")}, "1000 secrets")
        run(["chown", "-R", owner, origin])
        extra = f'[env]\nsecrets = ["{SECRETS_REL}"]\nkey = "{key}"\n'
        plain = Tree(env, base, origin, "plain", settle="0")
        secret = Tree(env, base, origin, "secret", settle="0", extra_config=extra)
        try:
            plain.syncd("sync")
            secret.syncd("sync")
            r_plain, r_secret = render_times(plain.config, n_render), render_times(secret.config, n_render)
            c_plain, c_secret = cli_times(plain, ["render"], n_cli), cli_times(secret, ["render"], n_cli)
            s_plain, s_secret = [], []
            for i in range(n_sync):
                commit_to_origin(origin, {"VERSION": f"s{i}\n"})
                for tree, into in (
                    ((plain, s_plain), (secret, s_secret))
                    if i % 2
                    else ((secret, s_secret), (plain, s_plain))
                ):
                    t0 = time.perf_counter()
                    tree.syncd("sync", verbose=False)
                    into.append(time.perf_counter() - t0)
            # scope user: secrets_dir() is $XDG_CONFIG_HOME/syncd/secrets/<unit>/ (EnvironmentFile= delivery)
            envfile = Path(os.environ["XDG_CONFIG_HOME"]) / "syncd" / "secrets" / secret.unit / "environment"
            delivered = envfile.read_bytes().count(b"\n") if envfile.exists() else None
        finally:
            plain.close()
            secret.close()
    finally:
        env.close()
    rows = [
        ["render() in process (warm)", median(r_plain), median(r_secret), median(r_secret) - median(r_plain)],
        [
            "`syncd render` process (cold)",
            median(c_plain),
            median(c_secret),
            median(c_secret) - median(c_plain),
        ],
        [
            "`syncd sync` deploy, settle 0",
            median(s_plain),
            median(s_secret),
            median(s_secret) - median(s_plain),
        ],
    ]
    text = table([f"{COUNT} secrets", "without s", "with s", "added s"], rows)
    print(text)
    worst = max(r[3] for r in rows)
    verdict = "PASS" if worst < 0.2 else "FAIL"
    print(
        f"  goal: < 0.2 s added -> {verdict} (worst {worst:.3f} s); sealing {COUNT} values took {seal_s:.2f} s; "
        f"secrets file {len(data)} bytes; delivered lines {delivered}"
    )
    write_result(
        NAME,
        {
            "quick": args.quick,
            "count": COUNT,
            "file_bytes": len(data),
            "seal_s": seal_s,
            "delivered_lines": delivered,
            "goal_s": 0.2,
            "verdict": verdict,
            "table": text,
            "render_warm": {"without": r_plain, "with": r_secret},
            "render_cli_cold": {"without": c_plain, "with": c_secret},
            "sync": {"without": s_plain, "with": s_secret},
        },
    )
    return {"table": text}


if __name__ == "__main__":
    main()
