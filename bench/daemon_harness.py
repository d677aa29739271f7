"""Run `syncd run` under the benchmark's own sd_notify socket, so every STATUS= the daemon sends
("checking the tree", "deploying 1a2b3c4", "healthy at 1a2b3c4", "up to date at ...") arrives here
with a timestamp: an exact, non-polling clock for "the deploy started" and "judged healthy".
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from common import PYTHON


class NotifyListener:
    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            now = time.perf_counter()
            fields = dict(
                line.split("=", 1) for line in data.decode("utf-8", "replace").splitlines() if "=" in line
            )
            with self._cond:
                self.messages.append((now, fields))
                self._cond.notify_all()

    def wait_for(self, pred, after: float, timeout: float) -> tuple[float, dict] | None:
        """The first message received at or after `after` for which pred(fields) holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, fields in self.messages:
                    if t >= after and pred(fields):
                        return t, fields
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def statuses(self, after: float = 0.0) -> list[tuple[float, str]]:
        with self._cond:
            return [(t, f["STATUS"]) for t, f in self.messages if t >= after and "STATUS" in f]

    def close(self):
        self.sock.close()
        self.path.unlink(missing_ok=True)


class DaemonProcess:
    def __init__(self, config: Path, workdir: Path, verbose: bool = False):
        self.listener = NotifyListener(workdir / "notify.sock")
        self.log = open(workdir / "syncd-run.log", "wb")
        env = dict(os.environ, NOTIFY_SOCKET=str(self.listener.path))
        argv = [PYTHON, "-m", "syncd", "--config", str(config)] + (["-v"] if verbose else []) + ["run"]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self.log_path = workdir / "syncd-run.log"

    def wait_ready(self, timeout: float = 60.0) -> float:
        got = self.listener.wait_for(lambda f: f.get("READY") == "1", 0.0, timeout)
        if got is None:
            raise RuntimeError(f"syncd run sent no READY=1 in {timeout}s; log:\n{self.tail()}")
        return got[0] - self.started

    def wait_status(self, prefixes: tuple[str, ...], after: float, timeout: float = 60.0):
        return self.listener.wait_for(lambda f: f.get("STATUS", "").startswith(prefixes), after, timeout)

    def stat(self) -> dict:
        """RSS (KiB) and CPU seconds of the daemon itself and of its waited-for children (git...)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        utime, stime, cutime, cstime = (int(x) / tick for x in fields[11:15])
        return {
            "rss_kib": rss,
            "self_cpu_s": utime + stime,
            "children_cpu_s": cutime + cstime,
            "threads": int(
                next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:"))
            ),
        }

    def tail(self, n: int = 40) -> str:
        self.log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.listener.close()
        self.log.close()
        return self.proc.returncode
