"""Health judgement against a real systemd user manager, and the probes against real peers."""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import uuid
from pathlib import Path

import pytest

from syncd.config import HealthConfig
from syncd.health import Snapshot, judge, take_snapshot
from syncd.health.judge import assess
from syncd.health.probes import check_command, check_http, check_tcp, parse_dicom_target, parse_host_port
from syncd.tools.systemctl import Systemctl

PYTHON = sys.executable

SLEEPER = "import time\ntime.sleep(3600)\n"

LISTENER = """\
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    s.accept()[0].close()
"""

HTTP_SERVER = """\
import http.server, sys
status = int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok\\n" if status < 400 else b"broken\\n")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

NOTIFY_READY = """\
import os, socket, time
address = os.environ["NOTIFY_SOCKET"]
if address.startswith("@"):
    address = "\\0" + address[1:]
time.sleep(0.2)
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(b"READY=1", address)
time.sleep(3600)
"""

DIE_SOON = """\
import os, signal, time
time.sleep(0.8)
os.kill(os.getpid(), signal.SIGKILL)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Units:
    """Writes unit files for one test under the user manager, and removes them afterwards."""

    def __init__(self, systemctl: Systemctl, tmp_path: Path, prefix: str):
        self.systemctl, self.tmp_path, self.prefix = systemctl, tmp_path, prefix
        self.names: list[str] = []

    def script(self, text: str) -> str:
        path = self.tmp_path / f"script-{len(self.names)}-{uuid.uuid4().hex[:6]}.py"
        path.write_text(text)
        return str(path)

    def add(self, service_section: str) -> str:
        name = f"{self.prefix}-{uuid.uuid4().hex[:8]}.service"
        (self.systemctl.unit_dir() / name).write_text(
            f"[Unit]\nDescription=syncd health test\n\n[Service]\n{service_section}\n"
        )
        self.systemctl.daemon_reload()
        self.names.append(name)
        return name

    def python(self, script_text: str, *args: str, extra: str = "") -> str:
        argv = " ".join([PYTHON, self.script(script_text), *args])
        return self.add(f"ExecStart={argv}\n{extra}")

    def cleanup(self) -> None:
        for name in self.names:
            self.systemctl.run("stop", name, check=False)
            self.systemctl.reset_failed(name)
            (self.systemctl.unit_dir() / name).unlink(missing_ok=True)
        if self.names:
            self.systemctl.daemon_reload()


@pytest.fixture(params=["dbus", "systemctl"])
def systemctl(user_manager, request):
    """Each judgement twice: watching the unit over D-Bus, and polling `systemctl show`."""
    over_dbus = request.param == "dbus"
    made = Systemctl("user", dbus=over_dbus)
    yield made
    if over_dbus:  # the D-Bus path really ran (no silent fallback to systemctl)
        assert made.dbus_unavailable is None, made.dbus_unavailable


@pytest.fixture
def units(systemctl, tmp_path, request):
    prefix = "health-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    made = Units(systemctl, tmp_path, prefix)
    yield made
    made.cleanup()


def restart_and_judge(systemctl, unit, health, **kwargs):
    systemctl.restart(unit)  # blocking: returns when the restart job finished
    after = take_snapshot(systemctl, unit)
    return judge(systemctl, unit, health, after=after, **kwargs)


FAST = dict(timeout=4.0, settle=1.0)


# --- unit state --------------------------------------------------------------------------------


def test_healthy_simple_unit(systemctl, units):
    unit = units.python(SLEEPER)
    messages: list[str] = []
    verdict = restart_and_judge(systemctl, unit, HealthConfig(**FAST), on_progress=messages.append)
    assert verdict.healthy, verdict.reason
    assert verdict.reason == "active and stable for 1s"
    assert any("settle" in m for m in messages)


def test_missing_binary_is_failed_although_restart_succeeds(systemctl, units, tmp_path):
    unit = units.add(f"ExecStart={tmp_path}/no-such-binary\n")
    # The trap this guards against: restart of a Type=simple unit "succeeds".
    assert systemctl.run("restart", unit, check=False).returncode == 0
    verdict = judge(systemctl, unit, HealthConfig(**FAST), after=take_snapshot(systemctl, unit))
    assert not verdict.healthy
    assert verdict.reason == "main process exited: Result=exit-code"


def test_early_exit_with_restart_on_failure_is_failed(systemctl, units):
    unit = units.add("ExecStart=/bin/sh -c 'sleep 0.3; exit 1'\nRestart=on-failure\nRestartSec=200ms\n")
    verdict = restart_and_judge(systemctl, unit, HealthConfig(**FAST))
    assert not verdict.healthy
    assert "auto-restart" in verdict.reason or "restarted by systemd" in verdict.reason


def test_restart_count_is_compared_with_the_value_after_the_restart_job(systemctl, units, tmp_path):
    # First run crashes once and is restarted by systemd (NRestarts 1); the marker makes later
    # runs healthy. Whether a manual restart resets NRestarts depends on the systemd version (252
    # resets it): either way the judge compares with the value after the restart job, never with 0
    # or with an older value, so the old crash is not blamed on the new deploy.
    marker = tmp_path / "crashed-once"
    unit = units.add(
        f"ExecStart=/bin/sh -c 'if [ ! -e {marker} ]; then touch {marker}; exit 1; fi; exec sleep 3600'\n"
        "Restart=on-failure\nRestartSec=100ms\n"
    )
    systemctl.restart(unit)
    for _ in range(100):  # let systemd's own restart happen before the manual one
        now = take_snapshot(systemctl, unit)
        if now.n_restarts >= 1 and now.sub_state == "running":
            break
        threading.Event().wait(0.1)
    else:
        pytest.fail("systemd did not restart the crashing unit")
    verdict = restart_and_judge(systemctl, unit, HealthConfig(**FAST))
    assert verdict.healthy, verdict.reason


def test_process_dying_during_settle_is_failed(systemctl, units):
    unit = units.python(DIE_SOON)
    verdict = restart_and_judge(systemctl, unit, HealthConfig(timeout=4.0, settle=3.0))
    assert not verdict.healthy
    assert verdict.reason == "main process exited: Result=signal"


def test_unit_stuck_activating_fails_at_the_deadline(systemctl, units):
    unit = units.add("Type=notify\nExecStart=/bin/sleep 3600\nTimeoutStartSec=60\n")
    # A blocking restart would wait for READY=1 (which never comes); the deploy uses a blocking
    # restart with its own timeout, the judge must still cope with a unit that is activating.
    systemctl.run("restart", "--no-block", unit)
    verdict = judge(
        systemctl, unit, HealthConfig(timeout=2.0, settle=1.0), after=take_snapshot(systemctl, unit)
    )
    assert not verdict.healthy
    assert verdict.reason == "still activating after 2s"


def test_notify_unit_sending_ready_is_healthy(systemctl, units):
    unit = units.python(NOTIFY_READY, extra="Type=notify\nTimeoutStartSec=10\n")
    verdict = restart_and_judge(systemctl, unit, HealthConfig(**FAST))
    assert verdict.healthy, verdict.reason


def test_oneshot_with_remain_after_exit_is_healthy(systemctl, units):
    unit = units.add("Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n")
    verdict = restart_and_judge(systemctl, unit, HealthConfig(**FAST))
    assert verdict.healthy, verdict.reason


def test_oneshot_without_remain_after_exit_is_failed(systemctl, units):
    unit = units.add("Type=oneshot\nExecStart=/bin/true\n")
    verdict = restart_and_judge(systemctl, unit, HealthConfig(**FAST))
    assert not verdict.healthy
    assert verdict.reason == "unit is inactive (Result=success)"


# --- probes through the judge ------------------------------------------------------------------


def test_tcp_probe_passes_when_the_unit_listens(systemctl, units):
    port = free_port()
    unit = units.python(LISTENER, str(port))
    verdict = restart_and_judge(systemctl, unit, HealthConfig(**FAST, tcp=f"127.0.0.1:{port}"))
    assert verdict.healthy, verdict.reason


def test_tcp_probe_refused_fails(systemctl, units):
    port = free_port()
    unit = units.python(SLEEPER)
    verdict = restart_and_judge(
        systemctl, unit, HealthConfig(timeout=2.0, settle=1.0, tcp=f"127.0.0.1:{port}")
    )
    assert not verdict.healthy
    assert verdict.reason == "tcp probe: connection refused"
    assert str(port) not in verdict.reason


def test_http_probe_200_passes(systemctl, units):
    port = free_port()
    unit = units.python(HTTP_SERVER, str(port), "200")
    verdict = restart_and_judge(
        systemctl, unit, HealthConfig(**FAST, http=f"http://127.0.0.1:{port}/healthz")
    )
    assert verdict.healthy, verdict.reason


def test_http_probe_500_fails(systemctl, units):
    port = free_port()
    unit = units.python(HTTP_SERVER, str(port), "500")
    verdict = restart_and_judge(
        systemctl, unit, HealthConfig(timeout=3.0, settle=1.0, http=f"http://127.0.0.1:{port}/healthz")
    )
    assert not verdict.healthy
    assert verdict.reason == "http probe: status 500"


def test_command_probe_runs_as_the_owner_in_the_tree_without_syncd_env(
    systemctl, units, tmp_path, service_user, monkeypatch
):
    monkeypatch.setenv("SYNCD_TEST_SECRET", "hunter2")
    tree = tmp_path / "tree"
    tree.mkdir()
    os.chmod(tmp_path, 0o755)
    check = (
        f'test "$(id -u)" = {service_user.pw_uid} && test "$(id -g)" = {service_user.pw_gid} '
        f'&& test "$(pwd)" = {tree} && test -z "$SYNCD_TEST_SECRET"'
    )
    unit = units.python(SLEEPER)
    verdict = restart_and_judge(
        systemctl,
        unit,
        HealthConfig(**FAST, command=("/bin/sh", "-c", check)),
        run_as=(service_user.pw_uid, service_user.pw_gid),
        cwd=tree,
    )
    assert verdict.healthy, verdict.reason


def test_command_probe_failing_fails(systemctl, units):
    unit = units.python(SLEEPER)
    verdict = restart_and_judge(
        systemctl, unit, HealthConfig(timeout=2.0, settle=1.0, command=("/bin/false",))
    )
    assert not verdict.healthy
    assert verdict.reason == "command probe: exited 1"


def test_dicom_echo_probe_through_the_judge(systemctl, units):
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="PIPELINE")
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        port = server.socket.getsockname()[1]
        unit = units.python(SLEEPER)
        verdict = restart_and_judge(
            systemctl, unit, HealthConfig(**FAST, dicom_echo=f"PIPELINE@127.0.0.1:{port}")
        )
        assert verdict.healthy, verdict.reason
    finally:
        server.shutdown()


# --- the probes on their own (no systemd) ------------------------------------------------------


def test_command_probe_timeout_kills_the_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    reason = check_command(["/bin/sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], 0.5)
    assert reason == "command probe: timed out after 0.5s"
    child = int(pidfile.read_text())
    for _ in range(50):
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        threading.Event().wait(0.05)
    else:
        pytest.fail("the probe's child outlived the timeout")


def test_command_probe_missing_binary(tmp_path):
    assert (
        check_command([str(tmp_path / "nope")], 1.0)
        == "command probe: cannot start (No such file or directory)"
    )


def test_http_probe_redirect_counts_as_healthy():
    import http.server

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert check_http(f"http://127.0.0.1:{server.server_address[1]}/", 2.0) is None
    finally:
        server.shutdown()
        server.server_close()


def test_http_probe_ignores_proxy_settings(monkeypatch):
    import http.server

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert check_http(f"http://127.0.0.1:{server.server_address[1]}/", 2.0) is None
    finally:
        server.shutdown()
        server.server_close()


def test_tcp_probe_malformed_target():
    assert check_tcp("no-port-here", 1.0) == "tcp probe: malformed target"


def test_parse_targets():
    assert parse_host_port("127.0.0.1:11112") == ("127.0.0.1", 11112)
    assert parse_host_port("[::1]:104") == ("::1", 104)
    assert parse_dicom_target("PIPELINE@127.0.0.1:11112") == ("PIPELINE", "127.0.0.1", 11112)
    for bad in ("127.0.0.1", "host:0", "host:70000", ":104", "::1:104"):
        with pytest.raises(ValueError):
            parse_host_port(bad)
    for bad in ("@host:104", "A_TITLE_THAT_IS_TOO_LONG@host:104", "BACK\\SLASH@host:104", "host:104"):
        with pytest.raises(ValueError):
            parse_dicom_target(bad)


# --- pure judgement rules (no systemd) ---------------------------------------------------------


def snap(active="active", sub="running", pid=100, restarts=0, invocation="a", result="success") -> Snapshot:
    return Snapshot(active, sub, pid, restarts, invocation, result)


def test_assess_compares_restarts_with_after_not_zero():
    after = snap(restarts=3)
    assert assess(snap(restarts=3), after, baseline=after).status == "up"
    found = assess(snap(restarts=4), after, baseline=after)
    assert (found.status, found.reason) == ("failed", "unit was restarted by systemd (NRestarts 3→4)")


def test_assess_auto_restart_reason():
    found = assess(
        snap(active="activating", sub="auto-restart", pid=0, restarts=1, result="exit-code"), snap()
    )
    assert found.reason == "unit entered auto-restart (NRestarts 0→1)"
    found = assess(snap(active="activating", sub="auto-restart", pid=0, result="exit-code"), snap())
    assert found.reason == "unit entered auto-restart (main process exited: Result=exit-code)"


def test_assess_identity_changes():
    base = snap()
    assert assess(snap(pid=101), base, baseline=base).reason == "main PID changed (100→101)"
    assert assess(snap(invocation="b"), base, baseline=base).reason == "unit was restarted (new invocation)"
    assert (
        assess(snap(active="deactivating", sub="stop-sigterm"), base, baseline=base, was_up=True).reason
        == "unit left the active state (deactivating/stop-sigterm)"
    )


def test_assess_waits_for_a_queued_start():
    assert assess(snap(active="inactive", sub="dead", pid=0), snap(), job_pending=True).status == "waiting"
    assert assess(snap(active="activating", sub="start"), snap()).status == "waiting"
    assert (
        assess(snap(active="failed", sub="failed", pid=0, result="timeout"), snap()).reason
        == "unit failed: Result=timeout"
    )
