"""systemctl, for one scope ("system" or "user"). Nothing here decides; it only asks and tells.

What a deploy asks on every run (show of the common properties, reset-failed, restart, and
watching a unit while it is judged) goes to systemd over D-Bus (syncd/tools/systemd_dbus.py): no
process per question, the restart job's result and the unit's changes as systemd announces them.
Where D-Bus cannot reach systemd (no bus, no jeepney), the same is done by running `systemctl`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from syncd import log
from syncd.errors import ToolError

if TYPE_CHECKING:
    from syncd.tools.systemd_dbus import Manager


_LOG = log.get("systemctl")
_told: list[str] = []  # the reason D-Bus was not used, said once per process


class Systemctl:
    def __init__(self, scope: str = "system", *, dbus: bool = True):
        self.scope = scope
        # Why D-Bus is not used (None while it is): set at the first failure to reach systemd.
        self.dbus_unavailable: str | None = None if dbus else "not asked for"
        self._bus: Manager | None = None

    def _manager(self) -> Manager | None:
        """The connection to systemd over D-Bus, opened at the first question; None when systemd
        cannot be reached that way (then systemctl does the work)."""
        if self.dbus_unavailable is not None:
            return None
        if self._bus is None:
            try:
                from syncd.tools import systemd_dbus
            except ImportError as exc:
                self._unreachable(f"jeepney cannot be imported: {exc}")
                return None
            try:
                self._bus = systemd_dbus.Manager(self.scope)
            except systemd_dbus.Unavailable as exc:
                self._unreachable(exc)
        return self._bus

    def _unreachable(self, why: Exception | str) -> None:
        self.dbus_unavailable = str(why)
        self.close()
        if not _told:
            _told.append(self.dbus_unavailable)
            _LOG.info("systemd not reached over D-Bus (%s): using systemctl", self.dbus_unavailable)

    def close(self) -> None:
        """Close the D-Bus connection, if one is open (it is also closed with this object)."""
        if self._bus is not None:
            self._bus.close()
            self._bus = None

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
        if props and self.dbus_unavailable is None:
            from syncd.tools.systemd_dbus import INTERFACE_OF, Unavailable

            if all(p in INTERFACE_OF for p in props) and (manager := self._manager()) is not None:
                try:
                    return manager.properties(unit, props)
                except Unavailable as exc:
                    self._unreachable(exc)
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
        """Returns when the restart job has finished; raises ToolError when it failed or was
        refused, subprocess.TimeoutExpired when it did not finish within `timeout`."""
        if (manager := self._manager()) is not None:
            from syncd.tools import systemd_dbus as dbus

            argv = self._argv("restart", unit)
            try:
                manager.restart(unit, 120 if timeout is None else timeout)
                return
            except dbus.Refused as exc:
                raise ToolError(argv, 1, f"Failed to restart {unit}: {exc.message or exc.name}") from None
            except dbus.JobFailed as exc:
                raise ToolError(argv, 1, str(exc)) from None
            except dbus.JobTimeout:
                raise subprocess.TimeoutExpired(argv, timeout or 120) from None
            except dbus.Unavailable as exc:
                # The connection broke before the job's result came: its fate is unknown, so it is
                # not queued a second time; the caller judges the unit.
                self._unreachable(exc)
                raise ToolError(argv, 1, f"lost systemd while restarting {unit}: {exc}") from None
        self.run("restart", unit, timeout=timeout)

    def start(self, unit: str) -> None:
        self.run("start", unit)

    def stop(self, unit: str) -> None:
        """Stop the unit; a unit that is not loaded is not an error."""
        self.run("stop", unit, check=False)

    def reset_failed(self, unit: str) -> None:
        if (manager := self._manager()) is not None:
            from syncd.tools import systemd_dbus as dbus

            try:
                manager.reset_failed(unit)
                return
            except dbus.Refused:
                return  # as with systemctl: nothing to reset (not loaded, not failed)
            except dbus.Unavailable as exc:
                self._unreachable(exc)
        self.run("reset-failed", unit, check=False)

    def watch(self, unit: str) -> UnitWatch:
        """Look at `unit` repeatedly (while it is judged): over D-Bus, woken as soon as systemd says
        it changed; else by running `systemctl show` each time."""
        manager = self._manager()
        rules: tuple[str, ...] = ()
        if manager is not None:
            from syncd.tools.systemd_dbus import Unavailable

            try:
                rules = manager.watch(unit)
            except Unavailable as exc:
                self._unreachable(exc)
                manager = None
        return UnitWatch(self, unit, manager, rules)

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


class UnitWatch:
    """One unit, looked at repeatedly: show() its properties, wait() until it changes or time passes."""

    def __init__(self, systemctl: Systemctl, unit: str, manager: Manager | None, rules: tuple[str, ...]):
        self.systemctl, self.unit, self._manager, self._rules = systemctl, unit, manager, rules

    @property
    def hears_changes(self) -> bool:
        """True when wait() returns as soon as systemd says the unit changed."""
        return self._manager is not None

    def show(self, *props: str) -> dict[str, str]:
        if self._manager is not None:
            from syncd.tools.systemd_dbus import Unavailable

            try:
                return self._manager.properties(self.unit, props)
            except Unavailable as exc:
                self._lost(exc)
        return self.systemctl.show(self.unit, *props)

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True when cut short because systemd said the unit changed."""
        if self._manager is not None:
            from syncd.tools.systemd_dbus import Unavailable

            try:
                return self._manager.wait_for_change(timeout)
            except Unavailable as exc:
                self._lost(exc)
                return True  # look again, with systemctl now
        time.sleep(timeout)
        return False

    def _lost(self, exc: Exception) -> None:
        self._manager = None
        self.systemctl._unreachable(exc)

    def close(self) -> None:
        if self._manager is not None:
            from syncd.tools.systemd_dbus import Unavailable

            try:
                self._manager.unsubscribe(*self._rules)
            except Unavailable as exc:
                self.systemctl._unreachable(exc)
            self._manager = None

    def __enter__(self) -> UnitWatch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
