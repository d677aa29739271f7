"""Health probes: tcp connect, http GET, a command, a DICOM C-ECHO.

Each check takes a per-attempt timeout and returns None when it passed, or a short reason when it
did not. Reasons go to logs and status: they name the probe and what went wrong, never a URL, a
host, an argument or anything from the environment.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.parse import urlsplit

from syncd import runas
from syncd.config.values import parse_dicom_target, parse_host_port

# ssl and the DICOM client are imported by the probes that use them: each costs a `syncd sync`
# a few milliseconds of start-up, and most configs have neither an https nor a DICOM probe.

ATTEMPT_TIMEOUT = 2.0  # tcp and http: a healthy local service answers well within this
DICOM_ATTEMPT_TIMEOUT = 5.0


class Probe(NamedTuple):  # (not a dataclass: cheaper to make at import)
    name: str  # "tcp", "http", "command", "dicom_echo"
    check: Callable[[float], str | None]  # timeout -> None (passed) or a reason


def _oserror(e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(e, socket.gaierror):
        return "cannot resolve host"
    return e.strerror or type(e).__name__


def check_tcp(target: str, timeout: float) -> str | None:
    try:
        host, port = parse_host_port(target)
    except ValueError:
        return "tcp probe: malformed target"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"tcp probe: {_oserror(e)}"


MAX_STATUS_LINE = 8192  # all the probe reads of an answer: "HTTP/1.1 200 OK"


def check_http(url: str, timeout: float) -> str | None:
    """GET `url`; a 2xx or 3xx status passes (a redirect is an answer: not followed).

    The peer is the service, so it is not trusted to finish: `timeout` bounds the whole exchange
    (not each receive), only the status line is read (at most MAX_STATUS_LINE bytes), and no
    proxy is asked whatever *_proxy says.
    """
    import ssl

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "http probe: URL must be http or https"
    deadline = time.monotonic() + timeout
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname, port), timeout=timeout) as raw:
            sock = raw
            if parts.scheme == "https":
                _arm(raw, deadline)
                sock = ssl.create_default_context().wrap_socket(raw, server_hostname=parts.hostname)
            with sock:
                status = _status_of(sock, parts, deadline)
    except (socket.timeout, TimeoutError):
        return "http probe: timed out"
    except ssl.SSLError as e:
        return f"http probe: TLS failed ({e.reason or type(e).__name__})"
    except OSError as e:
        return f"http probe: {_oserror(e)}"
    except UnicodeError:
        return "http probe: URL must be ASCII (percent-encode the rest)"
    except ValueError as e:
        return f"http probe: {e}"
    if 200 <= status < 400:
        return None
    return f"http probe: status {status}"


def _arm(sock: socket.socket, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise socket.timeout()
    sock.settimeout(remaining)


def _status_of(sock: socket.socket, parts, deadline: float) -> int:
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.port:
        host += f":{parts.port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: syncd-health\r\nConnection: close\r\n\r\n"
    )
    _arm(sock, deadline)
    sock.sendall(request.encode("ascii", "strict"))
    answer = b""
    while b"\n" not in answer:
        if len(answer) > MAX_STATUS_LINE:
            raise ValueError("bad response (status line too long)")
        _arm(sock, deadline)
        chunk = sock.recv(MAX_STATUS_LINE + 1 - len(answer))
        if not chunk:
            raise ValueError("bad response (connection closed before a status line)")
        answer += chunk
    line = answer.split(b"\n", 1)[0].rstrip(b"\r").split(None, 2)
    if len(line) < 2 or not line[0].startswith(b"HTTP/") or not line[1].isdigit() or len(line[1]) != 3:
        raise ValueError("bad response (no HTTP status line)")
    return int(line[1])


def check_command(
    argv: tuple[str, ...] | list[str], timeout: float, *, run_as=None, cwd: Path | None = None
) -> str | None:
    """Run argv as run_as (an Identity, or (uid, gid)) in cwd; exit 0 passes.

    Output is discarded (it may hold secrets); a timeout kills everything the command started.
    """
    if not argv:
        return "command probe: empty command"
    try:
        proc = runas.spawn(runas.as_identity(run_as), argv, cwd=cwd)
    except OSError as e:
        return f"command probe: cannot start ({e.strerror or type(e).__name__})"
    except (ValueError, subprocess.SubprocessError) as e:
        return f"command probe: cannot start ({type(e).__name__})"
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        runas.kill(proc)
        return f"command probe: timed out after {timeout:g}s"
    if code == 0:
        return None
    if code < 0:
        return f"command probe: killed by signal {-code}"
    return f"command probe: exited {code}"


def check_dicom_echo(target: str, timeout: float) -> str | None:
    from syncd.health import dicom

    try:
        ae_title, host, port = parse_dicom_target(target)
    except ValueError:
        return "dicom echo: malformed target"
    try:
        dicom.c_echo(ae_title, host, port, timeout=timeout)
    except dicom.EchoFailed as e:
        return f"dicom echo: {e}"
    return None


def probes_for(health, *, run_as=None, cwd: Path | None = None) -> list[Probe]:
    """The probes a HealthConfig asks for, each a check(timeout) with its per-attempt cap applied."""
    probes: list[Probe] = []
    if health.tcp:
        probes.append(Probe("tcp", lambda t: check_tcp(health.tcp, min(t, ATTEMPT_TIMEOUT))))
    if health.http:
        probes.append(Probe("http", lambda t: check_http(health.http, min(t, ATTEMPT_TIMEOUT))))
    if health.command:
        # A self-check may legitimately take a while: it gets whatever time is left.
        probes.append(Probe("command", lambda t: check_command(health.command, t, run_as=run_as, cwd=cwd)))
    if health.dicom_echo:
        probes.append(
            Probe("dicom_echo", lambda t: check_dicom_echo(health.dicom_echo, min(t, DICOM_ATTEMPT_TIMEOUT)))
        )
    return probes
