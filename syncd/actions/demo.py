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

from syncd.errors import ToolError
from syncd.tools.git import Git
from syncd.tools.systemctl import Systemctl

APP = textwrap.dedent("""\
    import os, sys, time
    version = open("VERSION").read().strip()
    if version.startswith("broken"):
        sys.exit(f"pipeline {version}: crashed on start")
    print(f"pipeline {version} listening (GREETING={os.environ.get('GREETING')!r})", flush=True)
    while True:
        time.sleep(3600)
""")

DEVELOPER = "Dev <dev@example.org>"  # who pushes in the demo


def register(sub) -> None:
    p = sub.add_parser("demo", help="run syncd's main job on a throwaway repo and a real systemd unit")
    p.add_argument("--keep", action="store_true", help="keep the demo directory and unit afterwards")
    p.set_defaults(func=run)


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run(args) -> int:
    from syncd.tools import usermanager

    base = Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    manager = None
    if not usermanager.reachable():
        say("no systemd user manager reachable: starting a private one")
        manager = usermanager.start_private(base / "systemd")
        os.environ.update(manager.env)  # this process and the `syncd` it runs talk to that manager
    os.environ.setdefault("XDG_CONFIG_HOME", str(Path.home() / ".config"))
    systemctl = Systemctl("user")
    unit = f"syncd-demo-{os.getpid()}.service"
    try:
        return _demo(base, systemctl, unit)
    except ToolError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        systemctl.stop(unit)
        if not args.keep:
            (systemctl.unit_dir() / unit).unlink(missing_ok=True)
            shutil.rmtree(systemctl.dropin_dir(unit), ignore_errors=True)
            systemctl.run("daemon-reload", check=False)
            if manager:
                manager.stop()
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"\nkept {base} and {systemctl.unit_dir() / unit}")


def _demo(base: Path, systemctl: Systemctl, unit: str) -> int:
    origin, dev, tree = base / "origin.git", base / "dev", base / "pipeline"
    say(f"a pipeline repo: origin {origin}, a developer clone, the server's tree {tree}")
    # git as whoever runs the demo (the tools' fences: no hooks, no prompts), as a developer "Dev"
    here = Git(base, None, committer=DEVELOPER, no_user_config=True)
    here.init_bare(origin, "master")
    here.clone(str(origin), dev)
    developer = Git(dev, None, committer=DEVELOPER, no_user_config=True)
    developer.new_branch("master")
    (dev / "pipeline.py").write_text(APP)
    (dev / "VERSION").write_text("v1\n")
    (dev / "production.env").write_text("GREETING=hello from v1\n")

    def push(message: str, **files: str) -> None:
        for name, text in files.items():
            (dev / name).write_text(text)
        developer.commit_all(message)
        developer.push("origin", "HEAD:master")
        print(f"developer pushed: {message}")

    push("v1: first version")
    here.clone(str(origin), tree)
    Git(tree, None, committer=DEVELOPER, no_user_config=True).new_branch("local")
    systemctl.unit_dir().mkdir(parents=True, exist_ok=True)
    (systemctl.unit_dir() / unit).write_text(
        f"[Unit]\nDescription=syncd demo pipeline\n\n[Service]\n"
        f"ExecStart={sys.executable} {tree}/pipeline.py\nWorkingDirectory={tree}\n"
        "Restart=on-failure\nRestartSec=0.2\n"
    )
    systemctl.daemon_reload()
    systemctl.start(unit)
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
        return subprocess.run([sys.executable, "-m", "syncd", "--config", str(config), *argv]).returncode

    def show(*props: str) -> str:
        return "\n".join(f"{k}={v}" for k, v in systemctl.show(unit, *props).items())

    say("first sync: adopt what runs, install the drop-in")
    syncd("sync")
    say("a push: v2 is merged into `local`, the environment rewritten, the unit restarted and judged")
    push("v2: better pipeline", VERSION="v2\n", **{"production.env": "GREETING=hello from v2\n"})
    code = syncd("sync")
    print(show("Environment"))
    say("a broken push: v3 crashes on start, so syncd rolls all of it back to v2 and quarantines v3")
    push("v3: broken", VERSION="broken-v3\n")
    bad = syncd("sync")
    time.sleep(0.3)
    print(show("ActiveState", "SubState"))
    print(f"VERSION in the tree: {(tree / 'VERSION').read_text().strip()}")
    say("status and history")
    syncd("status")
    syncd("history")
    ok = code == 0 and bad == 1 and (tree / "VERSION").read_text() == "v2\n"
    say("demo " + ("succeeded: deployed v2, rolled back broken v3" if ok else "FAILED"))
    return 0 if ok else 1
