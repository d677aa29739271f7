"""Start a private systemd user manager where none runs (containers, CI, the demo).

systemd only runs as a user manager when /run/systemd/system exists (its "booted with
systemd" marker) and XDG_RUNTIME_DIR is a private 0700 directory. Units, drop-ins,
daemon-reload, restart, show and Type=notify then behave as on a server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from syncd.records import dataclass
from pathlib import Path


def _state(env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["systemctl", "--user", "is-system-running"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return proc.stdout.strip()


def reachable(env: dict[str, str] | None = None) -> bool:
    return _state(dict(os.environ if env is None else env)) in ("running", "degraded")


@dataclass
class UserManager:
    runtime_dir: Path
    config_home: Path
    process: subprocess.Popen[bytes] | None  # None when we reuse a manager someone else started

    @property
    def env(self) -> dict[str, str]:
        return {"XDG_RUNTIME_DIR": str(self.runtime_dir), "XDG_CONFIG_HOME": str(self.config_home)}

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_private(base: Path, timeout: float = 30.0) -> UserManager:
    """Start `systemd --user` with its own runtime and config dirs under `base`."""
    systemd = shutil.which("systemd") or "/lib/systemd/systemd"
    Path("/run/systemd/system").mkdir(parents=True, exist_ok=True)
    runtime = base / "runtime"
    config = base / "config"
    runtime.mkdir(parents=True, exist_ok=True)
    os.chmod(runtime, 0o700)
    (config / "systemd" / "user").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(config))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    log = open(base / "systemd-user.log", "ab")
    proc = subprocess.Popen(
        [systemd, "--user"], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"systemd --user exited {proc.returncode}; see {base}/systemd-user.log")
        if reachable(env):
            return UserManager(runtime, config, proc)
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"systemd --user did not become ready in {timeout:.0f}s; see {base}/systemd-user.log")
