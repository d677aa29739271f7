"""sd_notify(3) in a few lines of stdlib: READY, STATUS, WATCHDOG, STOPPING, RELOADING.

Why not the `sdnotify` package: its 0.3.2 release encodes each message as latin-1 and, with
debug off, swallows the exception, so one non-Latin character in a status line (a commit subject,
a path) silently drops the WHOLE datagram, READY=1 included, and systemd then times the start
out. The protocol is one UTF-8 datagram of KEY=VALUE lines to $NOTIFY_SOCKET; that is all this
does. Values are forced onto one line, and a failure to send is logged, never raised: a daemon
must not die because its supervisor went away.
"""

from __future__ import annotations

import os
import socket
import time

from syncd import log
from syncd.terminal import printable

STATUS_MAX = 400  # characters: systemctl status shows one line; keep datagrams small


def one_line(text: str, limit: int = STATUS_MAX) -> str:
    """A value safe for KEY=VALUE framing: no newlines (they would start a new key), bounded."""
    text = printable(" ".join(str(text).split()))  # `systemctl status` shows it on a terminal
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _address(value: str) -> str | bytes:
    if value.startswith("@"):  # abstract namespace socket
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """Talks to the service manager; does nothing when not run by one (no $NOTIFY_SOCKET).

    The socket name is taken out of the environment (unset_environment) so hooks, git and probes
    started by the daemon cannot speak for it (NotifyAccess=main enforces the same).
    """

    def __init__(self, environ: dict | None = None, *, unset_environment: bool = True):
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        self.watchdog_usec = _watchdog_usec(env)
        if unset_environment:
            for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                env.pop(key, None)
        self._sock: socket.socket | None = None
        self._log = log.get("daemon")

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between required WATCHDOG=1 pings, or None when systemd wants none."""
        return self.watchdog_usec / 1e6 if self.watchdog_usec else None

    def send(self, **fields: str | int) -> bool:
        """Send one datagram `KEY=VALUE\\n...`; True when it was handed to the manager."""
        if not self.address:
            return False
        payload = "".join(f"{key}={one_line(value)}\n" for key, value in fields.items())
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(payload.encode("utf-8", "replace"), _address(self.address))
            return True
        except OSError as exc:
            self._log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        fields: dict = {"READY": 1}
        if status is not None:
            fields["STATUS"] = status
        return self.send(**fields)

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING=1, STATUS=status)

    def reloading(self, status: str = "reloading configuration") -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(RELOADING=1, STATUS=status, MONOTONIC_USEC=usec)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_usec(env) -> int | None:
    """WATCHDOG_USEC, honoured only when WATCHDOG_PID is unset or names this process."""
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    return usec or None
