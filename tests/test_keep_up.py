"""Keeping the pipeline up on a bad day (issue 11): start limits, full disks, unknown units, rollbacks
that stick, complete history, undo judged by the old health settings, and a daemon that does not
back off after a failed deploy. Each against the real user manager."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import APP, PYTHON, Deployment, git, systemctl
from helpers import wait_for, wait_version
from test_daemon import daemon_for, schedule, settled  # noqa: F401 - daemon_for is a fixture

# An app that runs like conftest's APP but exits (and keeps exiting) once a flag file exists:
# a version that starts healthy and crash-loops later, as a real pipeline does on bad input.
CRASHING_APP = """\
import json, os, sys, time
flag = os.environ["APP_CRASH_FLAG"]
version = open("VERSION").read().strip()
out = os.environ.get("APP_REPORT")
with open(out + ".tmp", "w") as f:
    json.dump({"version": version, "pid": os.getpid(), "env": {}}, f)
os.replace(out + ".tmp", out)
while not os.path.exists(flag):
    time.sleep(0.05)
sys.exit("crashing on purpose")
"""


def set_unit_lines(d, unit_section: str = "", service_section: str = "") -> None:
    """Add lines to the test unit's [Unit] and [Service] sections and reload the manager."""
    text = d.unit_file.read_text()
    text = text.replace("[Unit]\n", f"[Unit]\n{unit_section}", 1).replace(
        "[Service]\n", f"[Service]\n{service_section}", 1
    )
    d.unit_file.write_text(text)
    systemctl("daemon-reload")


def history(d) -> list[dict]:
    return json.loads(d.syncd("history", "--json", check=0).stdout)


def state_file(d, name: str):
    return d.state / d.config.stem / name


# -- (1) the unit's start limit never refuses a deploy's own restart -------------------------------


def test_a_fix_pushed_during_a_crash_loop_deploys(deployment):
    d = deployment()
    flag = d.base / "crash"
    set_unit_lines(d, "StartLimitIntervalSec=1h\nStartLimitBurst=3\n", f"Environment=APP_CRASH_FLAG={flag}\n")
    d.sync()
    d.commit({"app.py": CRASHING_APP, "VERSION": "v2\n"})
    d.sync()
    wait_version(d, "v2")
    flag.touch()  # v2 crash-loops until systemd gives up: failed, start limit hit
    # (On 252 the unit ends failed with Result=exit-code, the restart counter past the burst.)
    wait_for(lambda: d.show("ActiveState")["ActiveState"] == "failed", what="systemd to give up restarting")
    fixed = d.commit({"app.py": APP, "VERSION": "v3\n"}, "fix")
    out = d.syncd("-v", "sync", check=0)
    assert "reset-failed" in out.stderr and "start limit" in out.stderr, out.stderr
    assert d.head() == fixed and wait_version(d, "v3")
    assert d.status()["quarantined"] == []


def test_more_healthy_deploys_than_the_start_limit_allows(deployment):
    d = deployment()
    set_unit_lines(d, "StartLimitIntervalSec=1h\nStartLimitBurst=2\n")
    d.sync()
    for n in range(2, 5):  # the unit's start plus three deploys: more than the burst of 2
        sha = d.commit({"VERSION": f"v{n}\n"})
        d.sync()
        assert d.head() == sha and wait_version(d, f"v{n}")
    assert [h["result"] for h in history(d)] == ["deployed"] * 3


# -- (2) full disk, read-only state dir, unparsable state file --------------------------------------


@pytest.fixture
def small_state(deployment):
    """A deployment whose state.dir is a 1 MiB tmpfs of its own."""
    d = deployment()
    d.state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(d.state)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d.state)], check=False)


def assert_nothing_moved(d, head, out):
    assert d.head() == head and git(d.tree, "status", "--porcelain") == ""
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    assert not state_file(d, "journal.json").exists()
    quarantine = state_file(d, "quarantine.json")
    assert not quarantine.exists() or json.loads(quarantine.read_text()) == []


def test_full_state_disk_is_one_line_and_moves_nothing(small_state):
    d = small_state
    d.sync()
    head = d.head()
    pid = d.show("MainPID")["MainPID"]
    sha = d.commit({"VERSION": "v2\n"})
    filler = d.state / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # until ENOSPC
    out = d.sync(check=1)
    assert f"no space left on device: {state_file(d, 'journal.json')}" in out.stdout, out.stdout + out.stderr
    assert_nothing_moved(d, head, out)
    assert d.show("MainPID")["MainPID"] == pid  # not restarted
    # stdout's result line says it; whatever else is logged says the same, nothing more
    assert all("no space left on device" in line for line in out.stderr.splitlines() if line.strip()), (
        out.stderr
    )
    filler.unlink()
    d.sync()  # room again: the deploy goes through
    assert d.head() == sha and wait_version(d, "v2")


def test_read_only_state_dir_is_one_line_and_moves_nothing(small_state):
    d = small_state
    d.sync()
    head = d.head()
    sha = d.commit({"VERSION": "v2\n"})
    subprocess.run(["mount", "-o", "remount,ro", str(d.state)], check=True)
    out = d.sync(check=1)
    assert "read-only file system" in out.stdout and str(d.state) in out.stdout, out.stdout + out.stderr
    assert_nothing_moved(d, head, out)
    subprocess.run(["mount", "-o", "remount,rw", str(d.state)], check=True)
    d.sync()
    assert d.head() == sha


@pytest.mark.parametrize("name", ["status.json", "quarantine.json", "journal.json"])
def test_unparsable_state_file_is_one_line_and_kept(deployment, name):
    d = deployment()
    d.sync()
    head = d.head()
    d.commit({"VERSION": "v2\n"})
    broken = state_file(d, name)
    broken.write_text('{"deployed": "abc", trunc')
    out = d.sync(check=1)
    assert f"{broken}: cannot parse" in out.stdout + out.stderr, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert d.head() == head
    assert broken.read_text() == '{"deployed": "abc", trunc'  # nothing lost: left for the operator


# -- (3) a unit systemd does not know, or cannot load, is refused before anything moves -------------


@pytest.mark.parametrize("problem", ["unknown", "bad-setting"])
def test_unit_that_does_not_load_is_refused_before_anything_moves(deployment, problem):
    d = deployment()
    d.sync()
    head = d.head()
    if problem == "unknown":
        d.config.write_text(
            d.config.read_text().replace(f'unit = "{d.unit}"', 'unit = "pipeline-typo.service"')
        )
    else:
        set_unit_lines(d, service_section="ExecStart=\nExecStart=relative/path.py\n")
    d.commit({"VERSION": "v2\n"})
    out = d.sync(check=2)
    assert "service.unit" in out.stdout + out.stderr and str(d.config) in out.stdout + out.stderr
    assert d.head() == head
    assert d.status()["quarantined"] == [] and not state_file(d, "journal.json").exists()
    assert [h["result"] for h in history(d)] == []


# -- (5) history keeps every deploy that restarted the unit ----------------------------------------


def test_history_records_every_failed_deploy_even_with_the_same_reason(deployment):
    d = deployment()
    d.sync()
    flag = d.base / "refuse-to-start"
    set_unit_lines(d, service_section=f"ExecStartPre=/bin/sh -c '! test -e {flag}'\n")
    flag.touch()  # every start fails now, the old version's too: each deploy ends in error
    first = d.commit({"VERSION": "v2\n"})
    d.sync(check=1)
    second = d.commit({"VERSION": "v3\n"})
    d.sync(check=1)
    failed = [h for h in history(d) if h["result"] in ("rolled-back", "error")]
    assert [h["from"] for h in failed] == [second, first]  # newest first


# -- (6) the undo judges the previous version with the health settings it was deployed with ---------


def test_undo_judges_the_old_version_with_its_own_health_settings(deployment):
    d = deployment()
    d.sync()  # v1 deployed with no probe
    good = d.head()
    # The new version would listen on a port; the config moves the probe there, and v2 is broken.
    d.write_config(health='timeout = "3s"\nsettle = "0.5s"\ntcp = "127.0.0.1:9"')
    bad = d.commit({"VERSION": "broken-2\n"})
    out = d.sync(check=1)
    st = d.status()
    assert st["result"] == "rolled-back", out.stdout
    assert st["deployed"] == good and bad in st["quarantined"]


# -- (4) rollback sticks and (8) no back-off after a failed deploy, with the daemon running ----------


def test_rollback_sticks_with_the_daemon_running(deployment, daemon_for):
    d = deployment(extra_config=schedule(interval="0", watch="true"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    v1 = d.head()
    v2 = d.commit({"VERSION": "v2\n"})
    wait_for(lambda: d.status()["deployed"] == v2 and settled(d), what="v2 deployed")
    out = d.syncd("rollback", check=0)
    assert "paused" in out.stdout
    # Something the daemon must act on after whatever the rollback itself may have triggered:
    d.commit({"VERSION": "v3\n"})
    wait_for(lambda: "paused: push ignored" in unit.log_text(), what="the push to be ignored")
    assert d.head() == v1 and d.status()["deployed"] == v1
    assert wait_version(d, "v1")
    assert history(d)[0]["trigger"] == "rollback"


def test_pause_that_lands_while_the_daemon_waits_for_the_lock_is_honoured(deployment, daemon_for):
    d = deployment(extra_config=schedule(interval="0", watch="true"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    head = d.head()
    fd = os.open(state_file(d, "lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a CLI sync, say
        d.commit({"VERSION": "v2\n"})
        wait_for(lambda: "waiting for it" in unit.log_text(), what="the daemon to wait for the lock")
        d.syncd("pause", check=0)
    finally:
        os.close(fd)
    wait_for(
        lambda: "paused: push ignored" in unit.log_text() or "sync (push)" in unit.log_text(),
        what="the daemon to take the lock",
    )
    assert "paused: push ignored" in unit.log_text(), unit.log_text()
    assert d.head() == head


def test_no_back_off_after_a_failed_deploy(deployment, daemon_for):
    d = deployment(extra_config=schedule(interval="0", watch="true"))
    unit = daemon_for(d)
    unit.start()
    wait_for(lambda: settled(d), what="the first sync")
    flag = d.base / "refuse-to-start"
    set_unit_lines(d, service_section=f"ExecStartPre=/bin/sh -c '! test -e {flag}'\n")
    flag.touch()
    d.commit({"VERSION": "v2\n"})
    line = wait_for(
        lambda: [ln for ln in unit.log_text().splitlines() if "sync (" in ln and ": error: " in ln],
        timeout=40,
        what="the failed deploy",
    )[-1]
    assert "retry in" not in line and "sync failed" not in unit.log_text(), unit.log_text()
    flag.unlink()
    fixed = d.commit({"VERSION": "v3\n"})  # acted on at once: the watch, not a retry timer
    wait_for(
        lambda: d.status()["deployed"] == fixed and settled(d), timeout=40, what="the next push deployed"
    )


# -- (7) the unit's last lines from the failed start are in the reason -------------------------------
#
# A `systemd --user` started by hand has no journald behind it. This one gets its own: in a private
# mount namespace (its own /run, so its journal sockets and /run/log/journal are private) a
# systemd-journald runs, and the manager is started in a cgroup named like a real user manager's
# (<slice>/user@0.service), so journald files its units' lines under _SYSTEMD_USER_UNIT as on a
# server. syncd runs in that namespace (nsenter) and reads the journal with plain journalctl.

LOUD_BROKEN_APP = """\
import os, sys
for n in range(40):
    print("noise", n, flush=True)
print("connecting with DB_PASSWORD=" + os.environ.get("DB_PASSWORD", ""), flush=True)
raise RuntimeError("cannot reach the database")
"""


def _cgroup_root() -> Path:
    hybrid = Path("/sys/fs/cgroup/unified")
    return hybrid if (hybrid / "cgroup.procs").exists() else Path("/sys/fs/cgroup")


@pytest.fixture(scope="module")
def journald_manager():
    from syncd.tools.usermanager import reachable

    base = Path(tempfile.mkdtemp(prefix="syncd-jd-"))
    os.chmod(base, 0o755)
    runtime, config, logdir = base / "runtime", base / "config", base / "log"
    for path in (runtime, config / "systemd" / "user", logdir):
        path.mkdir(parents=True)
    os.chmod(runtime, 0o700)
    slice_dir = _cgroup_root() / f"syncd-test-{os.getpid()}.slice"
    env = {"XDG_RUNTIME_DIR": str(runtime), "XDG_CONFIG_HOME": str(config)}
    script = f"""set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/system /run/systemd/journal /run/log
mount --bind {logdir} /run/log
/lib/systemd/systemd-journald >{base}/journald.log 2>&1 &
echo $! >{base}/journald.pid
n=0; while [ ! -S /run/systemd/journal/stdout ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
mkdir -p {slice_dir}/user@0.service
echo $$ >{slice_dir}/user@0.service/cgroup.procs
exec /lib/systemd/systemd --user >{base}/manager.log 2>&1
"""
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=dict(os.environ, **env),
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: proc.poll() is None and reachable(dict(os.environ, **env)),
            timeout=30,
            what=f"the journald-backed manager (see {base})",
        )
        yield env, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        journald = base / "journald.pid"
        if journald.exists():
            subprocess.run(["kill", journald.read_text().strip()], check=False)
        wait_for(
            lambda: (
                not any(
                    (d / "cgroup.procs").read_text().strip()
                    for d in slice_dir.rglob("*")
                    if (d / "cgroup.procs").exists()
                )
            ),
            what="the test cgroups to empty",
        )
        for path in sorted(
            (p for p in slice_dir.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            path.rmdir()
        slice_dir.rmdir()
        shutil.rmtree(base, ignore_errors=True)


class NsDeployment(Deployment):
    """A Deployment whose syncd runs in the journald manager's mount namespace."""

    ns_pid = 0

    def syncd(self, *args: str, check: int | None = None, env: dict | None = None):
        proc = subprocess.run(
            [
                "nsenter",
                "-t",
                str(self.ns_pid),
                "-m",
                "--",
                PYTHON,
                "-m",
                "syncd",
                "--config",
                str(self.config),
                *args,
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, **(env or {})),
            timeout=300,
        )
        if check is not None:
            assert proc.returncode == check, (
                f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc


def test_failed_deploy_reason_has_the_units_last_lines_masked(
    journald_manager, service_user, workdir, monkeypatch
):
    from test_deploy_secrets import deployed_with_secrets

    env, pid = journald_manager
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    NsDeployment.ns_pid = pid
    made = []

    def deployment():
        (workdir / "j").mkdir()
        made.append(NsDeployment(workdir / "j", service_user))
        return made[-1]

    try:
        password = "pw-" + os.urandom(8).hex()
        d, _secrets, _report = deployed_with_secrets(deployment, {"DB_PASSWORD": password})
        bad = d.commit(
            {"app.py": LOUD_BROKEN_APP, "VERSION": "v3\n"}, "a version that cannot reach its database"
        )
        out = d.sync(check=1)
        st = d.status()
        assert st["result"] == "rolled-back" and bad in st["quarantined"]
        reason = st["reason"]
        assert "RuntimeError: cannot reach the database" in reason, reason
        assert "noise 39" in reason and "noise 20" not in reason  # the last lines, bounded
        assert "DB_PASSWORD=" in reason and password not in reason  # masked
        entry = history(d)[0]
        assert (
            entry["result"] == "rolled-back" and "RuntimeError: cannot reach the database" in entry["reason"]
        )
        assert password not in out.stdout + out.stderr
    finally:
        for d in made:
            d.close()
