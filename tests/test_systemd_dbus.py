"""syncd/tools/systemd_dbus.py behind Systemctl: the same answers as `systemctl`, against a real
private `systemd --user` (its bus at $XDG_RUNTIME_DIR/bus), and systemctl when D-Bus is out of reach."""

from __future__ import annotations

import subprocess
import threading
import uuid

import pytest

from syncd.errors import ToolError
from syncd.health.judge import PROPERTIES
from syncd.tools import systemd_dbus
from syncd.tools.systemctl import Systemctl

SHOWN = PROPERTIES + ("Job", "LoadState", "LoadError", "NeedDaemonReload")


@pytest.fixture
def units(user_manager):
    sc = Systemctl("user", dbus=False)
    names: list[str] = []

    def add(service: str, name: str | None = None) -> str:
        name = name or f"dbus-test-{uuid.uuid4().hex[:8]}.service"
        (sc.unit_dir() / name).write_text(f"[Unit]\nDescription=syncd D-Bus test\n\n[Service]\n{service}\n")
        sc.daemon_reload()
        names.append(name)
        return name

    yield add
    for name in names:
        sc.run("stop", name, check=False)
        sc.reset_failed(name)
        (sc.unit_dir() / name).unlink(missing_ok=True)
    sc.daemon_reload()


def both() -> tuple[Systemctl, Systemctl]:
    return Systemctl("user"), Systemctl("user", dbus=False)


def test_show_answers_as_systemctl_does(units):
    over_dbus, plain = both()
    running = units("ExecStart=/bin/sleep 3600\n")
    plain.restart(running)
    failed = units("ExecStart=/bin/false\n")
    plain.run("start", failed, check=False)
    template = units("ExecStart=/bin/sleep 3600\n", name=f"dbus-test-{uuid.uuid4().hex[:6]}@.service")
    instance = template.replace("@", "@a-b\\x2dc")
    for unit in (running, failed, instance, "no-such-unit-here.service"):
        assert over_dbus.show(unit, *SHOWN) == plain.show(unit, *SHOWN), unit
    assert over_dbus.dbus_unavailable is None, over_dbus.dbus_unavailable
    assert over_dbus.show(failed, "Result", "ActiveState") == {"Result": "exit-code", "ActiveState": "failed"}


def test_a_property_dbus_does_not_map_is_asked_of_systemctl(units):
    over_dbus, plain = both()
    unit = units("ExecStart=/bin/sleep 3600\n")
    assert over_dbus.show(unit, "FragmentPath", "ActiveState") == plain.show(
        unit, "FragmentPath", "ActiveState"
    )


def test_restart_waits_for_the_job_and_reports_its_failure(units):
    sc = Systemctl("user")
    good = units("ExecStart=/bin/sleep 3600\n")
    before = sc.show(good, "InvocationID")["InvocationID"]
    sc.restart(good)
    after = sc.show(good, "ActiveState", "SubState", "InvocationID")
    assert after["ActiveState"] == "active" and after["InvocationID"] != before

    bad = units("ExecStartPre=/bin/false\nExecStart=/bin/sleep 3600\n")
    with pytest.raises(ToolError) as failed:
        sc.restart(bad)
    assert "result: failed" in failed.value.stderr

    with pytest.raises(ToolError) as missing:
        sc.restart("no-such-unit-here.service")
    assert "not found" in missing.value.stderr
    assert sc.dbus_unavailable is None, sc.dbus_unavailable


def test_restart_that_does_not_finish_in_time_times_out(units):
    sc = Systemctl("user")
    never_ready = units("Type=notify\nExecStart=/bin/sleep 3600\nTimeoutStartSec=60\n")
    with pytest.raises(subprocess.TimeoutExpired):
        sc.restart(never_ready, timeout=1)
    assert sc.dbus_unavailable is None, sc.dbus_unavailable


def test_a_watch_wakes_when_the_unit_changes(units):
    sc = Systemctl("user")
    unit = units("ExecStart=/bin/sleep 3600\n")
    sc.restart(unit)
    with sc.watch(unit) as watch:
        assert watch.hears_changes
        first = watch.show("InvocationID")["InvocationID"]
        threading.Thread(target=Systemctl("user", dbus=False).restart, args=(unit,)).start()
        # True: cut short by systemd's signal (a timeout would return False)
        assert watch.wait(60) is True
        for _ in range(600):
            now = watch.show("ActiveState", "InvocationID")
            if now["ActiveState"] == "active" and now["InvocationID"] != first:
                break
            watch.wait(0.1)
        else:
            pytest.fail(f"the restart by someone else was not seen: {now}")


def test_without_a_bus_everything_goes_through_systemctl(units, monkeypatch, tmp_path):
    monkeypatch.setattr(systemd_dbus, "bus_address", lambda scope: str(tmp_path / "no-bus-here"))
    sc = Systemctl("user")
    unit = units("ExecStart=/bin/sleep 3600\n")
    sc.reset_failed(unit)
    sc.restart(unit)
    assert sc.dbus_unavailable is not None and "no-bus-here" in sc.dbus_unavailable
    assert sc.show(unit, "ActiveState") == {"ActiveState": "active"}
    with sc.watch(unit) as watch:
        assert not watch.hears_changes
        assert watch.show("SubState") == {"SubState": "running"}
        assert watch.wait(0.01) is False


def test_a_bus_without_systemd_on_it_is_unavailable(units, monkeypatch, tmp_path):
    # A bus where nobody owns org.freedesktop.systemd1: the answer comes from the bus, not from
    # systemd, so syncd falls back to systemctl instead of reporting an error.
    address = tmp_path / "bus"
    config = tmp_path / "bus.conf"
    config.write_text(
        "<!DOCTYPE busconfig PUBLIC '-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN'"
        " 'http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd'>\n"
        f"<busconfig><type>custom</type><listen>unix:path={address}</listen>"
        "<policy context='default'><allow send_destination='*' eavesdrop='true'/>"
        "<allow eavesdrop='true'/><allow own='*'/><allow user='*'/></policy></busconfig>\n"
    )
    daemon = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert daemon.stdout is not None
        daemon.stdout.readline()  # listening
        monkeypatch.setattr(systemd_dbus, "bus_address", lambda scope: str(address))
        sc = Systemctl("user")
        unit = units("ExecStart=/bin/sleep 3600\n")
        assert sc.show(unit, "LoadState") == {"LoadState": "loaded"}
        assert sc.dbus_unavailable is not None and "not on the bus" in sc.dbus_unavailable
    finally:
        daemon.kill()
        daemon.wait()


def test_a_bus_that_never_answers_is_left_for_systemctl(units, monkeypatch, tmp_path):
    """A bus socket that accepts and then says nothing (a stalled bus daemon) costs one connect
    timeout, once: the deploy goes on through systemctl, which reaches systemd its own way."""
    import socket

    address = tmp_path / "stalled-bus"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(address))
    listener.listen(8)  # connections queue in the backlog; nobody ever answers them
    try:
        monkeypatch.setattr(systemd_dbus, "bus_address", lambda scope: str(address))
        sc = Systemctl("user")
        unit = units("ExecStart=/bin/sleep 3600\n")
        sc.restart(unit)
        assert sc.dbus_unavailable is not None and "stalled-bus" in sc.dbus_unavailable
        assert sc.show(unit, "ActiveState") == {"ActiveState": "active"}
    finally:
        listener.close()
