"""systemctl, for one scope ("system" or "user"). Nothing here decides; it only asks and tells."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from syncd.errors import ToolError


class Systemctl:
    def __init__(self, scope: str = "system"):
        self.scope = scope

    def _argv(self, *args: str) -> list[str]:
        return ["systemctl", *(["--user"] if self.scope == "user" else []), *args]

    def run(
        self, *args: str, check: bool = True, timeout: float | None = 120
    ) -> subprocess.CompletedProcess[str]:
        argv = self._argv(*args)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise ToolError(argv, proc.returncode, proc.stderr)
        return proc

    def show(self, unit: str, *props: str) -> dict[str, str]:
        args = ["show", unit]
        for p in props:
            args += ["-p", p]
        out = self.run(*args).stdout
        result: dict[str, str] = {}
        for line in out.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                result[key] = value
        return result

    def daemon_reload(self) -> None:
        self.run("daemon-reload")

    def restart(self, unit: str, timeout: float | None = 120) -> None:
        """Returns when the restart job has finished; raises ToolError when it failed."""
        self.run("restart", unit, timeout=timeout)

    def start(self, unit: str) -> None:
        self.run("start", unit)

    def stop(self, unit: str) -> None:
        """Stop the unit; a unit that is not loaded is not an error."""
        self.run("stop", unit, check=False)

    def reset_failed(self, unit: str) -> None:
        self.run("reset-failed", unit, check=False)

    def reachable(self) -> str | None:
        """None when the manager answers, else why not (systemctl's own words)."""
        proc = self.run("is-system-running", check=False, timeout=30)
        state = proc.stdout.strip()
        if state in ("initializing", "starting", "running", "degraded", "maintenance"):
            return None
        return (proc.stderr.strip().splitlines() or [state or "no answer"])[-1]

    def enable_now(self, unit: str) -> None:
        self.run("enable", "--now", unit)

    def is_enabled(self, unit: str) -> bool:
        return self.run("is-enabled", "--quiet", unit, check=False).returncode == 0

    def is_active(self, unit: str) -> bool:
        return self.run("is-active", "--quiet", unit, check=False).returncode == 0

    def unit_dir(self) -> Path:
        """Where admin-made units and drop-ins live for this scope."""
        if self.scope == "user":
            base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
            return Path(base) / "systemd" / "user"
        return Path("/etc/systemd/system")

    def dropin_dir(self, unit: str) -> Path:
        return self.unit_dir() / f"{unit}.d"
