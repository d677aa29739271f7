"""syncd at system scope on booted Debian 12 (systemd 252) and 13 (systemd 257), as an operator runs it.

The server is set up with docs/deploy.md's own commands, run as written; then a developer (a
non-root account) pushes over ssh and syncd.service deploys, a broken push is rolled back, the
server's `local` branch keeps its commits, a second service runs under syncd@NAME.service with
secrets in all three delivery modes, the machine is powered off and booted again, and the daemon
is SIGKILLed in the middle of a deploy. Tests run in order and share the machine.
"""

from __future__ import annotations

import hashlib
import json
import time

CAP_SETUID, CAP_SETGID, CAP_CHOWN = 7, 6, 0


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_guide_sets_up_push_to_deploy(server):
    """Sections 1-7 of docs/deploy.md, as written: alice's push is deployed by syncd.service."""
    server.guide(1, 2, 3, 4, 5, 6)
    m = server.m
    first = server.wait_settled()
    assert first["result"] in ("deployed", "up-to-date"), (
        first["reason"],
        m.run("journalctl -u syncd -n 30").stdout,
    )
    assert m.sh("systemctl is-active syncd.service pipeline.service").split() == ["active", "active"]
    # The environment syncd built (with uv, as the owner, from the server's own wheelhouse) runs it.
    assert first["environment"] and m.sh("readlink /opt/pipeline/venv").endswith(first["environment"])
    assert m.sh("stat -c %U /opt/pipeline/venv/bin/python") == "pipeline"
    server.guide(7)
    head = server.alice("git rev-parse HEAD")
    status = server.wait_result(head, ("deployed",))
    assert server.report()["version"] == "2"
    # The merge into `local` was made by syncd, as its own identity, and changed files are the owner's.
    assert m.sh("runuser -u pipeline -- git -C /opt/pipeline rev-parse --abbrev-ref HEAD") == "local"
    assert (
        m.sh(f"runuser -u pipeline -- git -C /opt/pipeline log -1 --format=%cn {status['deployed']}")
        == "syncd"
    )
    assert m.sh("stat -c %U:%G /opt/pipeline/VERSION") == "pipeline:pipelineadmin"
    # syncd.service asked systemd over the system bus (D-Bus), with no fall back to systemctl.
    assert "using systemctl" not in m.run("journalctl -u syncd.service --no-pager").stdout
    # The environment of [env] reached the process, through syncd's drop-in.
    env = server.report()["env"]
    assert env["AE_TITLE"] == digest("PIPELINE") and env["GREETING"] == digest("hello from the repository")
    assert "50-syncd.conf" in m.sh("systemctl show -p DropInPaths --value pipeline.service")


def test_syncd_service_can_run_git_as_the_owner(server):
    """What the shipped unit really grants under this PID 1: CAP_SETUID/SETGID/CHOWN, nothing of NNP's loss."""
    pid = server.main_pid("syncd.service")
    status = server.m.sh(f"cat /proc/{pid}/status")
    caps = {
        line.split(":")[0]: int(line.split()[1], 16) for line in status.splitlines() if line.startswith("Cap")
    }
    for name in ("CapPrm", "CapEff"):
        for bit in (CAP_SETUID, CAP_SETGID, CAP_CHOWN):
            assert caps[name] & (1 << bit), (
                f"{server.release}: {name}={caps[name]:#x} lacks capability bit {bit}"
            )
    assert "NoNewPrivs:\t1" in status  # the hardening is kept
    # And git as the owner really works from inside the service (the watch reads the remote's url).
    assert "Operation not permitted" not in server.m.run("journalctl -u syncd.service --no-pager").stdout


def test_broken_push_is_rolled_back_and_quarantined(server):
    good = server.status()["deployed"]
    bad = server.push("broken-3")
    status = server.wait_result(bad, ("rolled-back",))
    assert bad in status["quarantined"]
    assert status["deployed"] == good
    # The reason carries what the pipeline itself said as it died (its journal lines of that start).
    said = "cannot start (a broken release, on purpose)"
    assert said in status["reason"], status["reason"]
    assert said in server.history()[0]["reason"]
    assert server.report()["version"] == "2"
    assert server.m.sh("systemctl is-active pipeline.service") == "active"
    warnings = server.m.sh("journalctl -u syncd.service -p warning --no-pager")
    assert "roll" in warnings.lower(), warnings
    # The reason carries what the pipeline itself printed in the failed start (its journal, read
    # by invocation), so nobody needs `journalctl -u pipeline` to know why.
    assert "a broken release, on purpose" in status["reason"], status["reason"]
    assert "a broken release, on purpose" in server.history()[0]["reason"]
    # The fix (a revert) deploys again.
    fixed = server.alice(
        "git revert --no-edit HEAD >/dev/null && git push -q production master && git rev-parse HEAD"
    )
    server.wait_result(fixed, ("deployed",))
    assert server.report()["version"] == "2"


def test_local_branch_commits_are_kept(server):
    """A server-only commit on `local` (the tutorial's passwords) survives the merges of master."""
    m = server.m
    m.sh(
        "cd /opt/pipeline && echo 'GREETING=hello from the server' > deploy/production.env && "
        "runuser -u pipeline -- git commit -qam 'Server-only greeting'"
    )
    local_commit = m.sh("runuser -u pipeline -- git -C /opt/pipeline rev-parse HEAD")
    head = server.push("4")
    status = server.wait_result(head, ("deployed",))
    assert (
        m.run(
            f"runuser -u pipeline -- git -C /opt/pipeline merge-base --is-ancestor {local_commit} "
            f"{status['deployed']}"
        ).returncode
        == 0
    )
    report = server.report()
    assert report["version"] == "4"
    assert report["env"]["GREETING"] == digest("hello from the server")


def test_second_service_with_secrets_in_every_delivery_mode(server):
    """syncd@router.service beside syncd.service; secrets by environment-file, credentials, environment."""
    m = server.m
    # A second node from the same repository, on its own port, tracking master with no local branch.
    m.sh(
        "install -d -o pipeline -g pipelineadmin /opt/router && "
        "runuser -u pipeline -- git clone -q /srv/git/pipeline.git /opt/router"
    )
    # Enabled, not started: its port comes from the drop-in syncd@router writes at its first deploy.
    m.sh(
        "sed -e 's#/opt/pipeline#/opt/router#g' -e 's#^StateDirectory=pipeline#StateDirectory=router#' "
        "-e 's#^LogsDirectory=pipeline#LogsDirectory=router#' "
        "/usr/local/src/syncd/units/pipeline.service > /etc/systemd/system/router.service && "
        "systemctl daemon-reload && systemctl enable -q router.service"
    )
    # Section 8: the key, and alice's encrypted password; section 9: syncd@.service.
    server.guide(8)
    assert server.env["RECIPIENT"].startswith("syncd1:")
    server.guide(9)
    m.sh(
        "sed -e 's#/opt/pipeline#/opt/router#' -e 's#pipeline.service#router.service#' -e 's#104#11112#g' "
        "/usr/local/src/syncd/config-examples/pipeline-secrets.toml > /etc/syncd/router.toml && "
        "chmod 0644 /etc/syncd/router.toml && systemctl enable -q --now syncd@router.service"
    )
    config = "/etc/syncd/router.toml"
    head = server.alice("git rev-parse HEAD")
    server.wait_result(head, ("deployed", "up-to-date"), config=config)
    secret = digest("s3cret value")
    assert server.report("/var/lib/router")["env"]["DB_PASSWORD"] == secret
    assert "s3cret" not in m.sh("systemctl show router.service")
    assert m.sh("systemctl is-active syncd.service syncd@router.service").split() == ["active", "active"]

    for mode in ("credentials", "environment"):
        m.sh(
            f"sed -i 's/^secrets_delivery = .*/secrets_delivery = \"{mode}\"/' {config} && "
            "systemctl reload syncd@router.service"
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            report = server.report("/var/lib/router")
            got = (
                report["credentials"].get("DB_PASSWORD")
                if mode == "credentials"
                else report["env"].get("DB_PASSWORD")
            )
            if got == secret and server.status(config)["result"] == "deployed":
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"{mode}: secret not delivered: {report} {server.status(config)}")
        shown = m.sh("systemctl show -p Environment router.service")
        assert ("s3cret" in shown) == (mode == "environment")
    # The secret value is in no log and no status.
    assert "s3cret" not in m.run("journalctl --no-pager").stdout
    assert "s3cret" not in json.dumps(server.status(config)) + json.dumps(server.history(config))


def test_sigkill_mid_deploy_then_start(server):
    """The daemon is killed while it judges a new version; the next start finishes the job."""
    m = server.m
    before = server.history()
    head = server.push("5")
    # Wait until the deploy is under way (journal written, new version started: being judged), then
    # SIGKILL syncd. (Not as soon as the journal exists: a kill then may land in a git command.)
    deadline = time.monotonic() + 120
    while not (server.status()["in_flight"] and server.report()["version"] == "5"):
        assert time.monotonic() < deadline, server.status()
        time.sleep(0.05)
    m.sh("systemctl kill --signal=SIGKILL syncd.service")
    m.wait_for(
        '! systemctl is-active -q syncd.service || test "$(systemctl show -p NRestarts --value syncd)" -gt 0'
    )
    m.sh("systemctl start syncd.service")
    status = server.wait_result(head, ("deployed",))
    assert server.report()["version"] == "5"
    assert status["deployed"] and not status["in_flight"]
    assert len(server.history()) > len(before)
    # Killed as soon as the journal exists: the kill may land in a git command, whose .lock files
    # would stop every later git (the bed once saw .git/HEAD.lock do that); the next start removes them.
    head = server.push("6")
    while not server.status()["in_flight"]:
        assert time.monotonic() < deadline + 120, server.status()
        time.sleep(0.02)
    pid = m.sh("systemctl show -p MainPID --value syncd.service")
    m.sh("systemctl kill --signal=SIGKILL syncd.service")
    m.wait_for(f'test "$(systemctl show -p MainPID --value syncd.service)" != {pid}')
    m.sh("systemctl start syncd.service")
    server.wait_result(head, ("deployed",))
    assert server.report()["version"] == "6"
    assert not m.sh("find /opt/pipeline/.git -name '*.lock'")


def test_poweroff_and_boot_keeps_everything(server):
    status, history = server.status(), server.history()
    server.m.poweroff()
    server.m.boot()
    m = server.m
    m.wait_for("systemctl is-active -q pipeline.service syncd.service syncd@router.service")
    after = server.wait_settled()
    assert (after["deployed"], after["quarantined"]) == (status["deployed"], status["quarantined"])
    assert after["result"] in ("deployed", "up-to-date")  # the start sync found nothing new
    assert server.history()[: len(history)] == history
    assert server.report()["version"] == "6"
    assert m.sh("cat /opt/pipeline/VERSION") == "6"
