"""The daemon's parts on their own: sd_notify, single flight, schedule/backoff, ref watching.

No systemd here (see test_daemon.py for the daemon under a real user manager); real sockets,
real apscheduler threads, real inotify and real git.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import git
from syncd.daemon.notify import Notifier, one_line
from syncd.daemon.schedule import Schedule, backoff_delay, cron_trigger
from syncd.daemon.singleflight import SingleFlight
from syncd.daemon.watch import (
    LocalBranchTracker,
    RefWatcher,
    git_dir_of,
    local_path_of,
    read_ref,
    remote_url,
    targets_for,
)
from syncd.errors import ConfigError

NON_LATIN = "deploying 1a2b3c4 Ærø 東京"


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- sd_notify -----------------------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(2)
    yield str(path), sock
    sock.close()


def test_ready_with_non_latin_status_arrives_whole(notify_socket):
    path, sock = notify_socket
    env = {"NOTIFY_SOCKET": path}
    notifier = Notifier(env)
    assert "NOTIFY_SOCKET" not in env  # children (git, hooks) cannot speak for the daemon
    assert notifier.ready(status=NON_LATIN)
    msg = sock.recv(4096).decode("utf-8")
    assert msg.splitlines() == ["READY=1", f"STATUS={NON_LATIN}"]


def test_sdnotify_package_drops_such_a_datagram(notify_socket, monkeypatch):
    """Why notify.py exists: sdnotify 0.3.2 silently loses READY=1 next to a non-Latin status."""
    import sdnotify  # a test dependency (pyproject), so this never skips

    path, sock = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    sdnotify.SystemdNotifier().notify(f"READY=1\nSTATUS={NON_LATIN}")
    sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        sock.recv(4096)


def test_status_is_one_line_and_abstract_sockets_work():
    name = f"syncd-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.status("blocked: merge conflict in\nconfig.py\nREADY=1")
        assert sock.recv(4096).decode() == "STATUS=blocked: merge conflict in config.py READY=1\n"
        assert notifier.stopping()
        assert sock.recv(4096).decode() == "STOPPING=1\nSTATUS=stopping\n"
    finally:
        sock.close()
    assert len(one_line("x" * 5000)) == 400


def test_without_notify_socket_nothing_is_sent_and_watchdog_is_read():
    notifier = Notifier({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())})
    assert notifier.address is None and not notifier.ready("x")
    assert notifier.watchdog_interval == 20.0
    assert Notifier({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}).watchdog_interval is None


def test_a_vanished_manager_is_logged_not_raised(tmp_path):
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready("x") is False


# -- single flight -------------------------------------------------------------------------------


def test_triggers_during_a_run_coalesce_into_exactly_one_more():
    active, max_active, runs = [0], [0], []
    started = threading.Event()
    lock = threading.Lock()

    def job(reasons):
        with lock:
            active[0] += 1
            max_active[0] = max(max_active[0], active[0])
        runs.append(reasons)
        started.set()
        time.sleep(0.3)
        with lock:
            active[0] -= 1

    flight = SingleFlight(job).start()
    flight.trigger("start")
    assert started.wait(2)
    for n in range(10):
        flight.trigger("push" if n % 2 else "schedule")
    wait_for(lambda: flight.runs == 2 and not flight.running, what="two runs")
    time.sleep(0.4)
    assert flight.runs == 2
    assert runs == [["start"], ["schedule", "push"]]
    assert max_active[0] == 1
    flight.close()
    assert flight.join(2)


def test_a_raising_job_does_not_kill_the_worker():
    calls = []

    def job(reasons):
        calls.append(reasons)
        raise RuntimeError("boom")

    flight = SingleFlight(job).start()
    flight.trigger("a")
    wait_for(lambda: flight.runs == 1)
    flight.trigger("b")
    wait_for(lambda: flight.runs == 2)
    assert flight.alive()
    flight.close()
    assert flight.join(2)


# -- schedule ------------------------------------------------------------------------------------


def sched_cfg(interval=0.0, cron="", watch=False):
    return SimpleNamespace(interval=interval, cron=cron, watch=watch)


def test_backoff_is_exponential_and_capped():
    assert [backoff_delay(n, 1.0, cap=10) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert backoff_delay(3, 3600, cap=600) == 3600  # never shorter than the interval itself


def test_interval_polls_and_failures_back_off_until_a_sync_works():
    fired = []
    schedule = Schedule(sched_cfg(interval=0.2), fired.append, heartbeat=0.2).start()
    try:
        wait_for(lambda: fired.count("schedule") >= 2, what="two polls")
        assert schedule.healthy()
        assert schedule.next_run() is not None
        delay = schedule.record(ok=False, error="fetch: origin not found")
        assert 0.2 <= delay <= 0.25
        assert schedule.last_error == "fetch: origin not found"
        fired.clear()
        wait_for(lambda: "retry" in fired, what="a retry")
        assert "schedule" not in fired  # regular ticks wait while backing off
        delay2 = schedule.record(ok=False, error="fetch: origin not found")
        assert delay2 > delay
        retry_at = schedule.next_run()
        schedule.record(ok=True)
        assert schedule.failures == 0 and schedule.last_error is None
        assert schedule.next_run() != retry_at
        fired.clear()
        wait_for(lambda: "schedule" in fired, what="polling again")
    finally:
        schedule.shutdown()
    assert not schedule.healthy()


def test_cron_schedule_and_bad_cron_names_the_key():
    schedule = Schedule(sched_cfg(cron="*/5 * * * *"), lambda r: None, heartbeat=0.2).start()
    try:
        nxt = schedule.next_run()
        assert nxt is not None and nxt.minute % 5 == 0
        assert schedule.describe() == "cron '*/5 * * * *'"
    finally:
        schedule.shutdown()
    with pytest.raises(ConfigError) as err:
        cron_trigger("every five minutes", "/etc/syncd/x.toml")
    assert "/etc/syncd/x.toml" in str(err.value) and "schedule.cron" in str(err.value)


def test_no_polling_still_has_a_healthy_scheduler():
    schedule = Schedule(sched_cfg(interval=0), lambda r: None, heartbeat=0.2).start()
    try:
        assert not schedule.polling and schedule.next_run() is None
        time.sleep(0.5)
        assert schedule.healthy()
    finally:
        schedule.shutdown()


# -- watching refs -------------------------------------------------------------------------------


def test_local_path_of_remote_urls(tmp_path):
    host = socket.gethostname()
    assert local_path_of("/srv/git/p.git", tmp_path) == Path("/srv/git/p.git")
    assert local_path_of("../origin.git", tmp_path / "tree") == tmp_path / "tree" / "../origin.git"
    assert local_path_of("file:///srv/git/p%20x.git", tmp_path) == Path("/srv/git/p x.git")
    assert local_path_of(f"ssh://git@{host}/srv/git/p.git", tmp_path) == Path("/srv/git/p.git")
    assert local_path_of("localhost:/srv/git/p.git", tmp_path) == Path("/srv/git/p.git")
    assert local_path_of("git@github.com:team/p.git", tmp_path) is None
    assert local_path_of("https://example.org/p.git", tmp_path) is None
    assert local_path_of("file://otherhost/srv/p.git", tmp_path) is None


@pytest.fixture
def repos(tmp_path):
    origin, dev, tree = tmp_path / "origin.git", tmp_path / "dev", tmp_path / "tree"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=master", str(origin))
    git(tmp_path, "clone", "--quiet", str(origin), str(dev))
    git(dev, "checkout", "--quiet", "-b", "master")
    (dev / "f").write_text("1\n")
    git(dev, "add", "f")
    git(dev, "commit", "--quiet", "-m", "one")
    git(dev, "push", "--quiet", "origin", "master")
    git(tmp_path, "clone", "--quiet", str(origin), str(tree))
    git(tree, "checkout", "--quiet", "-b", "local")
    return SimpleNamespace(origin=origin, dev=dev, tree=tree)


def push(dev, text):
    (dev / "f").write_text(text)
    git(dev, "commit", "--quiet", "-am", text)
    git(dev, "push", "--quiet", "origin", "HEAD:master")
    return git(dev, "rev-parse", "HEAD")


def test_git_dirs_and_refs_are_read_without_git(repos):
    assert git_dir_of(repos.origin) == repos.origin
    assert git_dir_of(repos.tree) == repos.tree / ".git"
    assert git_dir_of(repos.tree.parent / "origin") == repos.origin  # git also tries NAME.git
    sha = git(repos.dev, "rev-parse", "HEAD")
    assert read_ref(repos.origin, "refs/heads/master") == sha
    git(repos.origin, "pack-refs", "--all")
    assert not (repos.origin / "refs/heads/master").exists()
    assert read_ref(repos.origin, "refs/heads/master") == sha
    assert read_ref(repos.origin, "refs/heads/nope") is None
    assert remote_url(repos.tree, "origin") == str(repos.origin)


def test_a_push_is_seen_and_noise_is_not(repos):
    cfg = SimpleNamespace(path=repos.tree, remote="origin", branch="master", local_branch="local")
    targets, notes = targets_for(cfg)
    assert [t.kind for t in targets] == ["remote", "local"] and notes == []
    seen = []
    watcher = RefWatcher(targets, seen.append).start()
    try:
        assert watcher.alive()
        push(repos.dev, "2\n")
        wait_for(lambda: "remote" in seen, what="the push to be seen")
        time.sleep(0.7)  # watchdog delays move events up to 0.5 s to pair them
        assert seen == ["remote"]  # one push, one trigger: lock/write/rename noise coalesced
        seen.clear()
        read_ref(repos.origin, "refs/heads/master")  # our own reads are not events
        git(repos.origin, "pack-refs", "--all")  # same value, new place: nothing to do
        time.sleep(0.8)
        assert seen == []
        (repos.tree / "g").write_text("x\n")
        git(repos.tree, "add", "g")
        git(repos.tree, "commit", "--quiet", "-m", "operator")
        wait_for(lambda: "local" in seen, what="the operator commit to be seen")
    finally:
        watcher.stop()


def test_a_recreated_origin_is_watched_again(repos, tmp_path):
    cfg = SimpleNamespace(path=repos.tree, remote="origin", branch="master", local_branch="local")
    seen = []
    watcher = RefWatcher(targets_for(cfg)[0], seen.append).start()
    try:
        moved = tmp_path / "away.git"
        repos.origin.rename(moved)
        watcher.check()
        subprocess.run(["cp", "-a", str(moved), str(repos.origin)], check=True)  # new inodes
        watcher.check()
        push(repos.dev, "3\n")
        wait_for(lambda: "remote" in seen, what="a push into the recreated origin")
    finally:
        watcher.stop()


def test_local_branch_tracker_tells_own_moves_from_operator_commits():
    ref = ["A"]
    fired = []
    tracker = LocalBranchTracker(lambda: ref[0], fired.append)
    tracker.moved()
    assert fired == []  # no change
    ref[0] = "B"
    tracker.moved()
    assert fired == ["local-commit"]  # an operator commit while idle
    fired.clear()
    # the sync merges upstream (B -> M) and deploys M: its own move, no loop
    tracker.sync_started()
    ref[0] = "M"
    tracker.moved()
    assert not tracker.sync_finished(deployed="M") and fired == []
    # a blocked sync leaves an undeployed commit where it was: no loop either
    tracker.sync_started()
    assert not tracker.sync_finished(deployed="B") and fired == []
    # a rollback puts the branch back where it started
    tracker.sync_started()
    ref[0] = "N"
    ref[0] = "M"
    assert not tracker.sync_finished(deployed="M") and fired == []
    # an operator commits while the sync runs: one more sync, never dropped
    tracker.sync_started()
    ref[0] = "M2"
    ref[0] = "C"
    tracker.moved()
    assert tracker.sync_finished(deployed="M2") and fired == ["local-commit"]


# -- what WATCHDOG=1 vouches for -------------------------------------------------------------------


def test_watchdog_health_follows_the_scheduler_and_the_worker():
    from syncd.config import HealthConfig, HooksConfig
    from syncd.daemon.loop import Daemon

    cfg = SimpleNamespace(hooks=HooksConfig(), health=HealthConfig(), python=None)
    daemon = Daemon(Path("/nonexistent.toml"), cfg, notifier=Notifier({}))
    assert not daemon._healthy()  # nothing armed yet
    daemon.schedule = Schedule(sched_cfg(interval=0), lambda r: None, heartbeat=0.2).start()
    daemon.flight = SingleFlight(lambda reasons: None).start()
    try:
        assert daemon._healthy()
        daemon.flight.close()
        assert daemon.flight.join(2)
        assert not daemon._healthy()  # the sync worker died: let systemd restart us
        daemon.flight = SingleFlight(lambda reasons: None).start()
        assert daemon._healthy()
    finally:
        daemon.schedule.shutdown()
    assert not daemon._healthy()  # the scheduler stopped dispatching
    daemon.flight.close()
