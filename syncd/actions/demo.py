"""`syncd demo`: syncd's main job on a throwaway repo and a real systemd unit, then clean up.

It makes an origin repo, a working tree and a tiny pipeline unit under the systemd user manager
(starting a private one where none runs), deploys a push, then a broken push that is rolled back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

APP = textwrap.dedent("""\
    import os, sys, time
    version = open("VERSION").read().strip()
    if version.startswith("broken"):
        sys.exit(f"pipeline {version}: crashed on start")
    print(f"pipeline {version} listening (GREETING={os.environ.get('GREETING')!r})", flush=True)
    while True:
        time.sleep(3600)
""")


def register(sub) -> None:
    p = sub.add_parser("demo", help="run syncd's main job on a throwaway repo and a real systemd unit")
    p.add_argument("--keep", action="store_true", help="keep the demo directory and unit afterwards")
    p.set_defaults(func=run)


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def sh(argv, cwd=None, env=None) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"demo: {' '.join(map(str, argv))} failed:\n{proc.stderr}")
    return proc.stdout.strip()


def run(args) -> int:
    from syncd.tools import usermanager

    base = Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    manager = None
    env = dict(os.environ)
    if not usermanager.reachable(env):
        say("no systemd user manager reachable: starting a private one")
        manager = usermanager.start_private(base / "systemd")
        env.update(manager.env)
    env.setdefault("XDG_CONFIG_HOME", str(Path.home() / ".config"))
    unit = f"syncd-demo-{os.getpid()}.service"
    unit_dir = Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user"
    try:
        return _demo(base, env, unit, unit_dir)
    finally:
        subprocess.run(["systemctl", "--user", "stop", unit], env=env, capture_output=True)
        if not args.keep:
            (unit_dir / unit).unlink(missing_ok=True)
            shutil.rmtree(unit_dir / f"{unit}.d", ignore_errors=True)
            subprocess.run(["systemctl", "--user", "daemon-reload"], env=env, capture_output=True)
            if manager:
                manager.stop()
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"\nkept {base} and {unit_dir / unit}")


def _demo(base: Path, env: dict, unit: str, unit_dir: Path) -> int:
    dev_env = dict(
        env,
        GIT_AUTHOR_NAME="Dev",
        GIT_AUTHOR_EMAIL="dev@example.org",
        GIT_COMMITTER_NAME="Dev",
        GIT_COMMITTER_EMAIL="dev@example.org",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(base),
    )
    origin, dev, tree = base / "origin.git", base / "dev", base / "pipeline"
    say(f"a pipeline repo: origin {origin}, a developer clone, the server's tree {tree}")
    sh(["git", "init", "-q", "--bare", "--initial-branch=master", str(origin)], env=dev_env)
    sh(["git", "clone", "-q", str(origin), str(dev)], env=dev_env)
    sh(["git", "checkout", "-q", "-b", "master"], cwd=dev, env=dev_env)
    (dev / "pipeline.py").write_text(APP)
    (dev / "VERSION").write_text("v1\n")
    (dev / "production.env").write_text("GREETING=hello from v1\n")

    def push(message: str, **files: str) -> None:
        for name, text in files.items():
            (dev / name).write_text(text)
        sh(["git", "add", "-A"], cwd=dev, env=dev_env)
        sh(["git", "commit", "-q", "-m", message], cwd=dev, env=dev_env)
        sh(["git", "push", "-q", "origin", "HEAD:master"], cwd=dev, env=dev_env)
        print(f"developer pushed: {message}")

    push("v1: first version")
    sh(["git", "clone", "-q", str(origin), str(tree)], env=dev_env)
    sh(["git", "checkout", "-q", "-b", "local"], cwd=tree, env=dev_env)
    unit_dir.mkdir(parents=True, exist_ok=True)
    (unit_dir / unit).write_text(
        f"[Unit]\nDescription=syncd demo pipeline\n\n[Service]\n"
        f"ExecStart={sys.executable} {tree}/pipeline.py\nWorkingDirectory={tree}\n"
        "Restart=on-failure\nRestartSec=0.2\n"
    )
    sh(["systemctl", "--user", "daemon-reload"], env=env)
    sh(["systemctl", "--user", "start", unit], env=env)
    config = base / "syncd.toml"
    config.write_text(
        textwrap.dedent(f'''\
        [repo]
        path = "{tree}"
        local_branch = "local"
        committer = "syncd demo <syncd@localhost>"

        [service]
        unit = "{unit}"
        scope = "user"

        [env]
        files = ["production.env"]
        vars = {{ LOG_LEVEL = "info" }}

        [health]
        timeout = "10s"
        settle = "1s"

        [state]
        dir = "{base / "state"}"
        ''')
    )
    print(f"unit {unit} running v1; config {config}")

    def syncd(*argv: str) -> int:
        print(f"$ syncd {' '.join(argv)}", flush=True)
        return subprocess.run(
            [sys.executable, "-m", "syncd", "--config", str(config), *argv], env=env
        ).returncode

    say("first sync: adopt what runs, install the drop-in")
    syncd("sync")
    say("a push: v2 is merged into `local`, the environment rewritten, the unit restarted and judged")
    push("v2: better pipeline", VERSION="v2\n", **{"production.env": "GREETING=hello from v2\n"})
    code = syncd("sync")
    print(sh(["systemctl", "--user", "show", unit, "-p", "Environment"], env=env))
    say("a broken push: v3 crashes on start, so syncd rolls all of it back to v2 and quarantines v3")
    push("v3: broken", VERSION="broken-v3\n")
    bad = syncd("sync")
    time.sleep(0.3)
    print(sh(["systemctl", "--user", "show", unit, "-p", "ActiveState", "-p", "SubState"], env=env))
    print(f"VERSION in the tree: {(tree / 'VERSION').read_text().strip()}")
    say("status and history")
    syncd("status")
    syncd("history")
    ok = code == 0 and bad == 1 and (tree / "VERSION").read_text() == "v2\n"
    say("demo " + ("succeeded: deployed v2, rolled back broken v3" if ok else "FAILED"))
    return 0 if ok else 1
