"""`make demo` is one of the README's two commands: it must keep working at every commit."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_deploys_then_rolls_back_a_broken_push(tmp_path):
    # No user manager in reach: the demo starts its own private one, as on a fresh server.
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "demo succeeded: deployed v2, rolled back broken v3" in proc.stdout
    assert "GREETING=hello from v2" in proc.stdout  # the drop-in's environment, via systemctl show
    assert not list((tmp_path / "config" / "systemd" / "user").glob("syncd-demo-*"))  # cleaned up


def test_demo_ignores_the_git_config_of_whoever_runs_it(tmp_path):
    """A developer's ~/.gitconfig (commits signed with a key this machine cannot use, say) must not
    break the demo: its git is a throwaway developer's, not theirs."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = /bin/false\n")
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(home))
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "demo succeeded" in proc.stdout
