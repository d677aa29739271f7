"""`syncd run` as a Type=notify unit under a real systemd user manager, with real git pushes.

The daemon's unit is made from the shipped units/syncd.service (its Type, NotifyAccess,
watchdog, kill and restart settings) with ExecStart pointed at this checkout and the sandboxing
left out (the test trees live in /tmp, which PrivateTmp= would hide).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from helpers import PYTHON, Deployment, git, systemctl, wait_for

UNITS = Path(__file__).resolve().parent.parent / "units"
KEPT = {
    "Type",
    "NotifyAccess",
    "ExecReload",
    "TimeoutStartSec",
    "WatchdogSec",
    "Restart",
    "RestartSec",
    "RestartPreventExitStatus",
    "KillMode",
    "TimeoutStopSec",
}
NON_LATIN = "deploying 1a2b3c4 Ærø 東京"


def shipped_service_lines() -> list[str]:
    lines = []
    for line in (UNITS / "syncd.service").read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "WatchdogSec":
            line = "WatchdogSec=2"  # short, so every test also shows the pings keep a busy daemon alive
        if key in KEPT:
            lines.append(line)
    assert any(line == "Type=notify" for line in lines)
    return lines


class DaemonUnit:
    _count = 0

    def __init__(self, d: Deployment):
        DaemonUnit._count += 1
        self.d = d
        self.name = f"syncd-daemon-t{os.getpid()}-{DaemonUnit._count}.service"
        self.log = d.base / "daemon.log"
        unit_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"
        self.file = unit_dir / self.name
        env = " ".join(f"{k}={os.environ[k]}" for k in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"))
        self.file.write_text(
            "[Unit]\nDescription=syncd under test\n\n[Service]\n" + "\n".join(shipped_service_lines()) + "\n"
            f"ExecStart={PYTHON} -m syncd --config {d.config} run\n"
            f"Environment={env} PYTHONUNBUFFERED=1\n"
            f"StandardOutput=append:{self.log}\nStandardError=append:{self.log}\n"
        )
        systemctl("daemon-reload")

    def start(self, check=True):
        return systemctl("start", self.name, check=check)

    def stop(self):
        return systemctl("stop", self.name, check=False)

    def show(self, *props: str) -> dict:
        out = systemctl("show", self.name, *[f"-p{p}" for p in props]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def status_text(self) -> str:
        return self.show("StatusText")["StatusText"]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def daemon_json(self) -> dict:
        return json.loads((self.d.state / self.d.config.stem / "daemon.json").read_text())

    def close(self):
        self.stop()
        systemctl("reset-failed", self.name, check=False)
        self.file.unlink(missing_ok=True)


@pytest.fixture
def daemon_for():
    made = []

    def make(d):
        unit = DaemonUnit(d)
        made.append(unit)
        return unit

    yield make
    for unit in made:
        unit.close()
    systemctl("daemon-reload", check=False)


def running_version(d):
    return d.running()["version"]


def schedule(interval="0", watch="true"):
    return f"\n[schedule]\ninterval = {interval}\nwatch = {watch}\n"


def settled(d):
    st = d.status()
    return st if st["result"] in ("deployed", "up-to-date") else None


# -- sd_notify through a real manager -------------------------------------------------------------


def test_ready_with_a_non_latin_status_reaches_systemd(user_manager):
    name = f"syncd-notify-t{os.getpid()}.service"
    unit_file = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / name
    script = (
        "import time; from syncd.daemon.notify import Notifier; "
        f"Notifier().ready(status={NON_LATIN!r}); time.sleep(60)"
    )
    unit_file.write_text(
        f'[Service]\nType=notify\nNotifyAccess=main\nTimeoutStartSec=15\nExecStart={PYTHON} -c "{script}"\n'
    )
    try:
        systemctl("daemon-reload")
        systemctl("start", name)  # returns only after READY=1 (a dropped datagram would time out)
        out = systemctl("show", name, "-pActiveState", "-pStatusText").stdout
        assert "ActiveState=active" in out
        assert f"StatusText={NON_LATIN}" in out
    finally:
        systemctl("stop", name, check=False)
        unit_file.unlink(missing_ok=True)
        systemctl("daemon-reload", check=False)


# -- the daemon ------------------------------------------------------------------------------------


def test_active_after_ready_then_a_push_deploys_without_polling(
    user_manager, service_user, workdir, daemon_for
):
    # A non-Latin path ends up in READY's STATUS= (the watched origin): READY must still arrive.
    base = workdir / "Ærø東京"
    base.mkdir()
    d = Deployment(base, service_user, extra_config=schedule(interval="0", watch="true"))
    try:
        unit = daemon_for(d)
        unit.start()  # Type=notify: returns once READY=1 came, i.e. the triggers are armed
        assert unit.show("ActiveState")["ActiveState"] == "active"
        assert "watching remote" in unit.log_text()
        sha = d.commit({"VERSION": "v2\n"})  # the very next push after READY must be seen
        wait_for(lambda: running_version(d) == "v2", what="v2 to run")
        st = wait_for(lambda: settled(d) if d.status()["deployed"] == sha else None, what="status deployed")
        assert st["upstream"] == sha
        assert st["next_run"] is None  # polling is off
        # That push may have been picked up by the start sync; once idle, only the watch can see one.
        sha3 = d.commit({"VERSION": "v3\n"})
        wait_for(lambda: d.status()["deployed"] == sha3, what="v3 deployed")
        history = json.loads(d.syncd("history", "--json", check=0).stdout)
        assert any(h["to"] == sha3 and "push" in h.get("trigger", "") for h in history), history
        assert "healthy at" in unit.status_text() or "up to date at" in unit.status_text()
        assert unit.show("NRestarts", "ActiveState") == {"NRestarts": "0", "ActiveState": "active"}
        assert "WatchdogUSec=2s" in systemctl("show", unit.name, "-pWatchdogUSec").stdout
    finally:
        d.close()


def test_interval_polling_deploys(deployment, daemon_for):
    d = deployment(extra_config=schedule(interval="0.5", watch="false"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    assert d.status()["next_run"] is not None
    sha = d.commit({"VERSION": "v2\n"})
    wait_for(lambda: d.status()["deployed"] == sha, what="the poll to deploy")
    wait_for(lambda: running_version(d) == "v2", what="v2 to run")
    assert "watching" not in unit.log_text()


def test_ten_quick_pushes_and_a_cli_sync_never_overlap(deployment, daemon_for, service_user):
    marks = None

    def hooks(d):
        nonlocal marks
        marks = d.base / "marks"
        marks.mkdir()
        os.chown(marks, service_user.pw_uid, service_user.pw_gid)
        script = (
            f"if [ -e {marks}/busy ]; then echo overlap >> {marks}/overlaps; fi; "
            f"touch {marks}/busy; sleep 0.3; rm -f {marks}/busy; echo x >> {marks}/deploys"
        )
        return f'\n[hooks]\npre_restart = [["/bin/sh", "-c", "{script}"]]\n'

    d = deployment()
    d.write_config(hooks(d) + schedule(interval="0", watch="true"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    cli = []
    last = None
    for n in range(2, 12):
        last = d.commit({"VERSION": f"v{n}\n"}, message=f"v{n}")
        if n == 6:  # an operator's `syncd sync` in the middle: same lock, never at the same time
            t = threading.Thread(target=lambda: cli.append(d.sync(check=None)))
            t.start()
    t.join(120)
    wait_for(lambda: d.status()["deployed"] == last and settled(d), timeout=90, what="the last push deployed")
    wait_for(lambda: running_version(d) == "v11", what="v11 to run")
    assert cli and cli[0].returncode == 0, cli[0].stderr if cli else "cli sync did not finish"
    assert not (marks / "overlaps").exists()
    deploys = (marks / "deploys").read_text().count("x")
    history = json.loads(d.syncd("history", "--json", check=0).stdout)
    assert 1 <= deploys <= 10  # coalesced: never more deploys than pushes
    assert sum(1 for h in history if h["result"] == "deployed") == deploys
    assert unit.show("ActiveState", "NRestarts") == {"ActiveState": "active", "NRestarts": "0"}


def test_fetch_failure_backs_off_shows_the_error_and_recovers(deployment, daemon_for):
    d = deployment(extra_config=schedule(interval="0.5", watch="false"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    pid = d.show("MainPID")["MainPID"]
    away = d.base / "origin-away.git"
    d.origin.rename(away)
    try:
        st = wait_for(lambda: (lambda s: s if s["result"] == "error" else None)(d.status()), what="an error")
        assert st["reason"] and st["fetch_error"]
        info = wait_for(
            lambda: (lambda i: i if i["fetch_failures"] >= 2 else None)(unit.daemon_json()),
            what="two failed fetches",
        )
        assert info["next_run"] is not None and info["last_error"]
        assert "retry" in unit.status_text() and "error" in unit.status_text()
        assert d.show("MainPID")["MainPID"] == pid  # the service was left alone
        assert d.syncd("status", check=0).stdout.count("error") >= 1
    finally:
        away.rename(d.origin)
    sha = d.commit({"VERSION": "v2\n"})
    wait_for(lambda: d.status()["deployed"] == sha and settled(d), timeout=30, what="recovery")
    wait_for(lambda: unit.daemon_json()["fetch_failures"] == 0, what="backoff reset")
    assert d.status()["fetch_error"] is None
    wait_for(lambda: running_version(d) == "v2", what="v2 to run")


def test_sigterm_during_a_slow_hook_stops_cleanly_and_consistently(deployment, daemon_for):
    d = deployment(extra_config=schedule("0", "true"))
    d.sync()  # the first deploy (drop-in written) without the slow hook
    d.write_config('\n[hooks]\npre_restart = [["/bin/sleep", "30"]]\n' + schedule("0", "true"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    head = d.head()
    dropin = d.dropin_bytes()
    d.commit({"VERSION": "v2\n"})
    wait_for(lambda: "pre_restart" in unit.status_text(), what="the hook to run")
    unit.stop()  # SIGTERM (KillMode=mixed: to syncd only); returns when it exited
    props = unit.show("ActiveState", "Result", "ExecMainStatus")
    assert props == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, unit.log_text()
    assert d.head() == head
    assert (d.dropin_bytes()) == dropin
    assert git(d.tree, "status", "--porcelain") == ""
    assert not (d.tree / ".git" / "MERGE_HEAD").exists()
    assert not (d.state / d.config.stem / "journal.json").exists()
    assert running_version(d) == "v1"
    assert d.status()["quarantined"] == []  # stopping is not the commit's fault
    assert "stopped cleanly" in unit.log_text()


def test_sighup_keeps_the_old_config_when_the_new_one_is_broken(deployment, daemon_for):
    d = deployment(extra_config=schedule("0", "true"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    good = d.config.read_text()
    d.config.write_text(good.replace(f'path = "{d.tree}"', "path = 5"))
    systemctl("reload", unit.name)
    wait_for(lambda: "reload refused" in unit.log_text(), what="the reload to be refused")
    refused = [line for line in unit.log_text().splitlines() if "reload refused" in line][-1]
    assert str(d.config) in refused and "repo.path" in refused
    assert unit.show("ActiveState")["ActiveState"] == "active"
    sha = d.commit({"VERSION": "v2\n"})  # the old config's watch still works
    wait_for(
        lambda: running_version(d) == "v2", what="a deploy with the old config"
    )  # (status needs a good file)
    assert git(d.tree, "rev-parse", "HEAD") == sha
    d.config.write_text(good + '\n[env]\nvars = { GREETING = "hello Ærø" }\n')
    systemctl("reload", unit.name)
    wait_for(lambda: d.running()["env"].get("GREETING") == "hello Ærø", what="the new env.vars deployed")
    assert unit.show("ActiveState")["ActiveState"] == "active"


def test_pause_stops_automatic_deploys_and_resume_restarts_them(deployment, daemon_for):
    d = deployment(extra_config=schedule("0", "true"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    head = d.head()
    d.syncd("pause", check=0)
    wait_for(lambda: unit.status_text() == "paused", what="the daemon to notice the pause")
    d.commit({"VERSION": "v2\n"})
    wait_for(lambda: "paused: push ignored" in unit.log_text(), what="the push to be ignored")
    assert d.head() == head and running_version(d) == "v1"
    assert d.status()["paused"] is True  # a paused daemon still answers status
    d.syncd("resume", check=0)
    wait_for(lambda: running_version(d) == "v2", what="v2 after resume")
    assert d.status()["paused"] is False


def test_broken_config_at_start_fails_without_restart_loop(deployment, daemon_for):
    d = deployment()
    d.config.write_text(d.config.read_text() + '\n[schedule]\ninterval = "soon"\n')
    unit = daemon_for(d)
    assert unit.start(check=False).returncode != 0  # never READY, never active
    props = unit.show("ActiveState", "ExecMainStatus", "NRestarts")
    assert props == {"ActiveState": "failed", "ExecMainStatus": "2", "NRestarts": "0"}
    assert "schedule.interval" in unit.log_text()


def test_a_commit_made_on_the_server_is_deployed_once(deployment, daemon_for):
    d = deployment(local_branch="local", extra_config=schedule("0", "true"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    (d.tree / "VERSION").write_text("v1-local\n")
    git(d.tree, "commit", "--quiet", "-am", "operator: local config", user=d.user)
    local = d.head()
    wait_for(lambda: d.status()["deployed"] == local and settled(d), what="the operator's commit deployed")
    assert running_version(d) == "v1-local"
    sha = d.commit({"app.py": (d.dev / "app.py").read_text() + "# v2\n"})  # upstream merges over it
    wait_for(
        lambda: git(d.tree, "rev-parse", "HEAD^2", check=False) == sha and settled(d),
        what="the merge deployed",
    )
    assert git(d.tree, "rev-parse", "HEAD^1") == local  # the local commit is kept
    wait_for(lambda: unit.status_text().startswith("healthy at"), what="the daemon to go idle")

    def syncs():  # every reconcile logs one result line (an up-to-date one too)
        text = unit.log_text()
        return text.count("sync (") + text.count("up-to-date ")

    before = syncs()
    time.sleep(1.5)  # the merge moved the branch: that must not start a loop of syncs
    assert syncs() == before, unit.log_text()
    history = json.loads(d.syncd("history", "--json", check=0).stdout)
    assert [h["trigger"] for h in history if h["to"] == local] == ["local-commit"]
