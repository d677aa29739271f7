"""[drain] and schedule.windows (issue 13): a ready deploy waits, with nothing moved, while a
transfer is in progress or outside the restart windows; `sync --now` deploys at once.

A "transfer in progress" is a real TCP connection established to drain.port on this host.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import threading

import pytest

from helpers import PYTHON
from helpers import wait_for
from test_daemon import daemon_for, schedule  # noqa: F401 - daemon_for is a fixture

from syncd.gate.windows import inside, next_opening, parse_window

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def closed_window() -> str:
    """A window on a day three days away: it cannot be open now, whatever the time of day."""
    return f"{DAYS[(dt.datetime.now().weekday() + 3) % 7]} 00:00-23:59"


class Transfer:
    """A listener on a free local port and one established connection to it (a study arriving)."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = self.server.getsockname()[1]
        self.client = socket.create_connection(("127.0.0.1", self.port))
        self.accepted, _ = self.server.accept()

    def end(self):
        for s in (self.client, self.accepted, self.server):
            s.close()


@pytest.fixture
def transfer():
    t = Transfer()
    yield t
    t.end()


def drain(port=None, command=None, max_wait="1h", on_timeout="deploy") -> str:
    lines = [f'max_wait = "{max_wait}"', f'on_timeout = "{on_timeout}"']
    if port:
        lines.append(f"port = {port}")
    if command:
        lines.append("command = " + json.dumps(command))
    return "\n[drain]\n" + "\n".join(lines) + "\n"


def unmoved(d, head, pid):
    assert d.head() == head
    assert d.running()["pid"] == pid and d.running()["version"] == "v1"


# -- windows, as text ---------------------------------------------------------------------------


def test_windows_are_weekly_wall_clock_ranges():
    monday_evening = dt.datetime(2026, 11, 30, 19, 30)  # a Monday
    assert parse_window("Mon-Fri 19:00-23:59").contains(monday_evening)
    assert parse_window("Mon-Fri 19:00-23:59").contains(monday_evening.replace(hour=23, minute=59))
    assert not parse_window("Mon-Fri 19:00-23:59").contains(monday_evening.replace(hour=18, minute=59))
    assert not parse_window("Sat-Sun 00:00-23:59").contains(monday_evening)
    assert parse_window("Fri-Mon 10:00-11:00").contains(monday_evening.replace(hour=10))  # wraps the week
    late = parse_window("Sun 22:00-02:00")  # crosses midnight into Monday
    assert late.contains(monday_evening.replace(hour=1, minute=59))
    assert not late.contains(monday_evening.replace(hour=2, minute=1))
    assert parse_window("* 03:00-04:00").contains(monday_evening.replace(hour=3))
    assert inside((), monday_evening)  # no windows: always
    assert next_opening(("Wed 19:00-20:00",), monday_evening) == dt.datetime(2026, 12, 2, 19, 0)


def test_windows_follow_the_wall_clock_across_a_dst_change():
    # Europe/Berlin springs forward on Sun 2026-03-29 at 02:00: 02:00-02:59 never happens that night.
    before = dt.datetime(2026, 3, 29, 1, 30)
    assert next_opening(("Sun 03:00-04:00",), before) == dt.datetime(2026, 3, 29, 3, 0)
    code = (
        "import datetime as dt; from syncd.gate.windows import inside, local_now; n = local_now(); "
        "print(inside((f'{n:%a} {n:%H}:00-{n:%H}:59',), n), n.utcoffset())"
    )
    for tz in ("Europe/Berlin", "America/New_York", "UTC"):
        out = subprocess.run(
            [PYTHON, "-c", code], capture_output=True, text=True, env=dict(os.environ, TZ=tz)
        )
        assert out.stdout.split()[0] == "True", (tz, out.stdout, out.stderr)  # the host's hour, not UTC's


@pytest.mark.parametrize("bad", ["Mon-Fri 19:00", "Mo 19:00-20:00", "Mon 25:00-26:00", "Mon 19:60-20:00", ""])
def test_bad_windows_name_the_key(workdir, bad):
    cfg = workdir / "bad.toml"
    cfg.write_text(
        f'[repo]\npath = "/opt/x"\n[service]\nunit = "x"\n[schedule]\nwindows = ["Sat 00:00-23:59", "{bad}"]\n'
    )
    proc = subprocess.run(
        [PYTHON, "-m", "syncd", "--config", str(cfg), "render"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert f'{cfg}: schedule.windows[1]: expected "DAYS HH:MM-HH:MM"' in proc.stderr


# -- a deploy outside the windows ---------------------------------------------------------------


def test_outside_the_windows_a_deploy_waits_and_sync_now_deploys(deployment):
    d = deployment()
    d.sync()
    head, pid = d.head(), d.running()["pid"]
    d.write_config(f'\n[schedule]\nwindows = ["{closed_window()}"]\n')
    new = d.commit({"VERSION": "v2\n"})
    out = d.syncd("sync", "--no-wait", check=3)
    assert "outside the restart windows" in out.stdout and "waiting" in out.stdout
    st = d.status()
    assert st["waiting"]["commit"] == new and "outside the restart windows" in st["waiting"]["cause"]
    assert st["result"] == "up-to-date"  # the last result stands while a deploy waits
    unmoved(d, head, pid)
    assert "waiting:" in d.syncd("status", check=0).stdout

    d.syncd("sync", "--now", check=0)
    assert d.head() == new and d.running()["version"] == "v2"
    st = d.status()
    assert st["waiting"] is None and st["result"] == "deployed"


def test_under_the_daemon_a_deploy_waits_for_the_window_says_so_and_sync_now_deploys(deployment, daemon_for):
    d = deployment()
    d.sync()
    head, pid = d.head(), d.running()["pid"]
    d.write_config(schedule(interval="0", watch="true") + f'windows = ["{closed_window()}"]\n')
    unit = daemon_for(d)
    unit.start()
    new = d.commit({"VERSION": "v2\n"})
    wait_for(lambda: (d.status()["waiting"] or {}).get("commit") == new, what="the deploy to wait")
    wait_for(lambda: "waiting to deploy" in unit.status_text(), what="STATUS= to say it waits")
    assert "outside the restart windows" in unit.status_text()
    unmoved(d, head, pid)

    d.syncd("sync", "--now", check=0)  # the waiting daemon does not hold the lock
    assert d.head() == new and d.running()["version"] == "v2"
    wait_for(
        lambda: "up to date" in unit.status_text() or "healthy" in unit.status_text(),
        what="the daemon to see the deploy",
    )
    assert d.status()["waiting"] is None


# -- drain by port ------------------------------------------------------------------------------


def test_a_transfer_in_progress_holds_the_deploy_until_it_ends(deployment, transfer):
    d = deployment()
    d.sync()
    head, pid = d.head(), d.running()["pid"]
    d.write_config(drain(port=transfer.port))
    new = d.commit({"VERSION": "v2\n"})
    out = d.syncd("sync", "--no-wait", check=3)
    assert f"1 connection established to port {transfer.port}" in out.stdout
    assert d.status()["waiting"]["busy_since"] is not None
    unmoved(d, head, pid)

    waiting_sync = subprocess.Popen(
        [PYTHON, "-m", "syncd", "--config", str(d.config), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read():
        for line in waiting_sync.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(line.startswith("-> waiting:") for line in lines), what="the sync to wait")
        unmoved(d, head, pid)
        transfer.end()  # the study has arrived
        assert waiting_sync.wait(timeout=120) == 0
    finally:
        waiting_sync.kill()
    reader.join(10)
    assert f"deployed: {new[:7]}" in lines[-1], lines
    assert d.running()["version"] == "v2"


def test_max_wait_then_deploy(deployment, transfer):
    d = deployment()
    d.sync()
    d.write_config(drain(port=transfer.port, max_wait="0s", on_timeout="deploy"))
    new = d.commit({"VERSION": "v2\n"})
    out = d.sync()
    assert f"deployed: {new[:7]}" in out.stdout
    assert "still busy after drain.max_wait" in out.stderr and 'on_timeout = "deploy"' in out.stderr
    assert d.running()["version"] == "v2"


def test_max_wait_then_skip_until_the_next_trigger(deployment, transfer):
    d = deployment()
    d.sync()
    head, pid = d.head(), d.running()["pid"]
    d.write_config(drain(port=transfer.port, max_wait="0s", on_timeout="skip"))
    new = d.commit({"VERSION": "v2\n"})
    out = d.syncd("sync", check=3)
    assert out.stdout.strip().splitlines()[-1].startswith("skipped:")
    assert "next trigger tries again" in out.stdout
    unmoved(d, head, pid)
    assert d.status()["waiting"]["skipped"] is True
    transfer.end()
    d.sync()  # the next trigger: idle now
    assert d.head() == new and d.status()["waiting"] is None


def test_sync_now_ignores_a_transfer(deployment, transfer):
    d = deployment()
    d.sync()
    d.write_config(drain(port=transfer.port))
    new = d.commit({"VERSION": "v2\n"})
    d.syncd("sync", "--now", check=0)
    assert d.head() == new


# -- drain by command ---------------------------------------------------------------------------


def test_drain_command_runs_as_the_owner_and_holds_while_it_exits_0(deployment, service_user, workdir):
    d = deployment()
    d.sync()
    head, pid = d.head(), d.running()["pid"]
    probe = workdir / "probe"
    probe.mkdir()
    os.chown(probe, service_user.pw_uid, service_user.pw_gid)
    flag = probe / "busy"
    flag.touch()
    d.write_config(
        drain(command=["/bin/sh", "-c", f"id -u > {probe}/uid; pwd > {probe}/cwd; test -e {flag}"])
    )
    d.commit({"VERSION": "v2\n"})
    out = d.syncd("sync", "--no-wait", check=3)
    assert "drain.command says the pipeline is busy" in out.stdout
    assert (probe / "uid").read_text().strip() == str(service_user.pw_uid)
    assert (probe / "cwd").read_text().strip() == str(d.tree)
    unmoved(d, head, pid)
    flag.unlink()
    d.sync()
    assert d.running()["version"] == "v2"


# -- a newer push while one waits ---------------------------------------------------------------


def test_a_newer_push_replaces_the_waiting_one(deployment, daemon_for, transfer):
    d = deployment()
    d.sync()
    head, pid = d.head(), d.running()["pid"]
    d.write_config(schedule(interval="0", watch="true") + drain(port=transfer.port))
    unit = daemon_for(d)
    unit.start()
    v2 = d.commit({"VERSION": "v2\n"})
    wait_for(lambda: (d.status()["waiting"] or {}).get("commit") == v2, what="v2 to wait")
    # STATUS= passes through the steps of each re-check ("deciding", ...) before it says why it waits.
    wait_for(lambda: f"port {transfer.port}" in unit.status_text(), what="STATUS= to name the busy port")
    v3 = d.commit({"VERSION": "v3\n"})
    wait_for(lambda: (d.status()["waiting"] or {}).get("commit") == v3, what="v3 to replace v2")
    unmoved(d, head, pid)
    transfer.end()
    wait_for(lambda: d.status()["deployed"] == v3, what="v3 deployed once the transfer ended")
    history = json.loads(d.syncd("history", "--json", check=0).stdout)
    assert [h["to"] for h in history if h["result"] == "deployed"][0] == v3
    assert v2 not in [h["to"] for h in history]
    assert d.running()["version"] == "v3"


def test_rollback_now_ignores_the_windows(deployment):
    d = deployment()
    d.sync()
    first = d.head()
    d.write_config(f'\n[schedule]\nwindows = ["{closed_window()}"]\n')
    d.commit({"VERSION": "v2\n"})
    d.syncd("sync", "--now", check=0)
    assert d.running()["version"] == "v2"
    d.syncd("rollback", "--now", check=0)
    assert d.head() == first and d.running()["version"] == "v1"
