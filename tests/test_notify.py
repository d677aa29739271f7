"""[notify] end to end: a real deploy, a real unit, loopback webhook and SMTP receivers (issue 13).

Only the results listed in notify.on reach a person; each carries the spec's fields; no secret
value ever does; a receiver that never answers costs at most notify.timeout (shown by behaviour:
the deploy completes, a warning is logged, a counter goes up).
"""

from __future__ import annotations

import os
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from receivers import SilentPeer, SmtpReceiver, WebhookReceiver
from test_deploy_secrets import Secrets, restarted, wait_report
from test_keep_up import journald_manager  # noqa: F401 - a fixture: a user manager with a journald

FIELDS = {"event", "unit", "host", "from", "to", "reason", "time", "duration_s"}
SECRET = "pa55-W0rd-that-must-never-travel"
# A broken version that prints its environment's secret before it dies (its journal holds it).
LEAKY_BROKEN_APP = """\
import os, sys
print("starting with DB_PASSWORD=" + os.environ.get("DB_PASSWORD", ""), flush=True)
sys.exit("broken on purpose; password was " + os.environ.get("DB_PASSWORD", ""))
"""


@pytest.fixture
def webhook():
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp():
    r = SmtpReceiver()
    yield r
    r.close()


def notify_config(on: list[str], webhook=None, smtp=None, timeout="5s", extra="") -> str:
    lines = [f"on = {on!r}".replace("'", '"'), f'timeout = "{timeout}"']
    if webhook:
        lines.append(f'webhook = "{webhook}"')
    if smtp:
        lines += ['email = ["pipeline-team@example.org"]', f'smtp = "{smtp}"']
    return "\n[notify]\n" + "\n".join(lines) + "\n" + extra


def metrics_of(path) -> dict:
    """{(sample name, frozenset(labels)): value} from a Prometheus text file."""
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_only_the_results_in_on_are_told_with_their_fields_and_no_secret(deployment, webhook, smtp):
    d = deployment()
    wait_report(d, lambda r: r["version"] == "v1")
    d.sync()
    s = Secrets(d)
    s.set({"DB_PASSWORD": SECRET})
    d.write_config(s.config() + notify_config(["rolled-back", "error"], webhook.url, smtp.address))
    pid = d.running()["pid"]
    good = d.commit({"VERSION": "v2\n"}, "v2 with a password")
    d.sync()  # deployed: not in `on`
    restarted(d, pid, "v2")
    assert webhook.received == [] and smtp.messages == []

    bad = d.commit({"VERSION": "broken-v3\n", "app.py": LEAKY_BROKEN_APP}, "v3 crashes")
    out = d.sync(check=1)
    assert "rolled-back" in out.stdout

    assert len(webhook.received) == 1 and len(smtp.messages) == 1
    body = webhook.received[0]
    assert webhook.content_types == ["application/json"]
    assert FIELDS | {"log_tail"} <= set(body)
    assert body["event"] == "rolled-back"
    assert body["unit"] == d.unit
    assert body["from"] == bad and body["to"] == good and body["running"] == good
    assert isinstance(body["log_tail"], list) and isinstance(body["duration_s"], (int, float))
    assert "journalctl -u" in body["what_to_do"]
    assert good[:7] in body["text"] and "What to do" in body["text"]

    mail = smtp.messages[0]
    assert mail["To"] == "pipeline-team@example.org"
    assert d.unit in mail["Subject"] and "rolled back" in mail["Subject"]
    text = mail.get_content()
    for needle in (f"Running now:   {good}", "What to do:", body["reason"]):
        assert needle in text
    everything = repr(webhook.received) + mail.as_string()
    assert SECRET not in everything
    assert "s3cr3t-token" not in d.syncd("status", "--json").stdout


def test_a_blocked_deploy_is_told_once_not_at_every_sync(deployment, webhook):
    d = deployment()
    d.write_config(notify_config(["blocked"], webhook.url))
    d.sync()
    (d.tree / "VERSION").write_text("edited on the server\n")
    d.commit({"VERSION": "v2\n"})
    d.sync(check=3)
    d.sync(check=3)  # the same block again: history folds it, and so do notifications
    assert [b["event"] for b in webhook.received] == ["blocked"]
    body = webhook.received[0]
    assert "uncommitted changes" in body["reason"] and "log_tail" not in body
    assert body["running"] == d.head()
    assert "commit it on the local branch" in body["what_to_do"]
    assert f"git -C {d.tree} commit" in body["what_to_do"]  # this server's tree, not the tutorial's


def test_deployed_is_told_when_asked(deployment, webhook, smtp):
    d = deployment()
    d.write_config(notify_config(["deployed"], webhook.url, smtp.address))
    d.sync()  # the first sync adopts what runs: nothing deployed, nothing told
    new = d.commit({"VERSION": "v2\n"})
    d.sync()
    assert [(b["event"], b["to"]) for b in webhook.received] == [("deployed", new)]
    assert len(smtp.messages) == 1 and "deployed and healthy" in smtp.messages[0]["Subject"]


@pytest.mark.parametrize("transport", ["webhook", "email"])
def test_a_receiver_that_never_answers_costs_the_timeout_and_changes_nothing(deployment, transport, workdir):
    peer = SilentPeer()
    try:
        d = deployment()
        textfile = workdir / f"syncd-{transport}.prom"
        target = (
            {"webhook": f"http://{peer.address}/hook"} if transport == "webhook" else {"smtp": peer.address}
        )
        d.write_config(
            notify_config(["deployed"], timeout="1s", **target) + f'\n[metrics]\ntextfile = "{textfile}"\n'
        )
        d.sync()
        new = d.commit({"VERSION": "v2\n"})
        out = d.sync()  # exit 0: deployed, whatever the receiver does
        assert out.stdout.strip().splitlines()[-1].startswith(f"deployed: {new[:7]}")
        assert d.status()["result"] == "deployed"
        warnings = [line for line in out.stderr.splitlines() if line.startswith("warning: notification by")]
        assert len(warnings) == 1, out.stderr
        assert "1s" in warnings[0] or "timed out" in warnings[0] or "timeout" in warnings[0]
        assert "hook" not in warnings[0].split("127.0.0.1", 1)[1]  # the URL's path is not logged
        metrics = metrics_of(textfile)
        assert (
            metrics[
                ("syncd_notifications_failed_total", frozenset({("unit", d.unit), ("transport", transport)}))
            ]
            == 1
        )
    finally:
        peer.close()


def test_a_refused_connection_is_one_warning_and_a_counter(deployment, workdir):
    d = deployment()
    textfile = workdir / "syncd.prom"
    closed = SilentPeer()
    address = closed.address
    closed.close()  # nothing listens there any more: connection refused
    d.write_config(
        notify_config(["deployed"], webhook=f"http://{address}/x") + f'\n[metrics]\ntextfile = "{textfile}"\n'
    )
    d.sync()
    d.commit({"VERSION": "v2\n"})
    out = d.sync()
    assert [line for line in out.stderr.splitlines() if "notification" in line] == [
        line
        for line in out.stderr.splitlines()
        if line.startswith("warning: notification by webhook to 127.0.0.1")
    ]
    assert len([line for line in out.stderr.splitlines() if "notification" in line]) == 1
    assert (
        metrics_of(textfile)[
            ("syncd_notifications_failed_total", frozenset({("unit", d.unit), ("transport", "webhook")}))
        ]
        == 1
    )


def test_sendmail_delivers_the_same_message(deployment, workdir):
    d = deployment()
    spool = workdir / "spool"
    fake = workdir / "sendmail"
    fake.write_text(f'#!/bin/sh\n[ "$1 $2" = "-t -oi" ] || exit 64\ncat > {spool}\n')
    fake.chmod(0o755)
    d.write_config(f'\n[notify]\non = ["deployed"]\nemail = ["team@example.org"]\nsendmail = "{fake}"\n')
    d.sync()
    new = d.commit({"VERSION": "v2\n"})
    d.sync()
    import email
    import email.policy

    mail = email.message_from_bytes(spool.read_bytes(), policy=email.policy.default)
    assert mail["To"] == "team@example.org" and mail["Auto-Submitted"] == "auto-generated"
    assert f"Running now:   {new}" in mail.get_content()


def test_the_event_masks_every_secret_value():
    from syncd.notify import Event, mask

    secrets = ("hunter2-long", "hunter2")
    event = Event(
        event="rolled-back",
        unit="p.service",
        host="h",
        from_="a" * 40,
        to="b" * 40,
        running="b" * 40,
        reason=mask("unhealthy: said hunter2-long", secrets),
        time="t",
        duration_s=1.0,
        log_tail=[mask("pw=hunter2 and hunter2-long", secrets)],
    )
    body = repr(event.payload())
    assert "hunter2" not in body and "pw=******** and ********" in body


def test_what_to_do_is_what_troubleshooting_says():
    import re
    from pathlib import Path

    from syncd.notify.advice import ADVICE

    doc = (
        (Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md").read_text().replace("`", "")
    )
    for _pattern, advice in ADVICE:
        assert advice in doc, advice
    assert re.search(r"\| nothing: the next sync deploys again \|", doc)


@pytest.mark.parametrize(
    "bad, expected",
    [
        (
            'on = ["rolled_back"]',
            "notify.on[0]: expected one of 'deployed', 'rolled-back', 'blocked', 'error'",
        ),
        ('webhook = "ftp://x/hook-token-123"', "notify.webhook: expected an http:// or https:// URL"),
        ('email = ["team"]', "notify.email[0]: expected an address"),
        ('email = ["team@example.org"]', "notify.email: needs a way to send"),
        ('smtp = "localhost"', 'notify.smtp: expected "host:port"'),
        (
            'smtp = "localhost:25"\nsendmail = "/usr/sbin/sendmail"',
            "notify.sendmail: notify.smtp and notify.sendmail",
        ),
        ('timeout = "0s"', "notify.timeout: must be longer than 0"),
    ],
)
def test_bad_notify_keys_name_the_key_and_never_echo_the_webhook(workdir, bad, expected):
    from helpers import PYTHON

    cfg = workdir / "bad.toml"
    cfg.write_text(f'[repo]\npath = "/opt/x"\n[service]\nunit = "x"\n[notify]\n{bad}\n')
    proc = subprocess.run(
        [PYTHON, "-m", "syncd", "--config", str(cfg), "render"], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert "hook-token-123" not in proc.stderr


def test_the_log_tail_of_a_failed_start_reaches_the_event_masked():
    """The seam the judge fills (ctx.log_tail): whatever the unit printed, secret values are masked."""
    from types import SimpleNamespace

    from syncd.deploy.report import make_event

    cfg = SimpleNamespace(
        service=SimpleNamespace(unit="p.service", owner="pipeline:pipelineadmin"),
        repo=SimpleNamespace(path="/srv/p"),
    )
    ctx = SimpleNamespace(
        cfg=cfg,
        rendered=SimpleNamespace(secret_values=(SECRET,)),
        log_tail=[f"starting with DB_PASSWORD={SECRET}", "Traceback ..."],
    )
    event = make_event(ctx, "rolled-back", f"unhealthy: {SECRET}", "a" * 40, "b" * 40, "b" * 40, 2.0)
    body = event.payload()
    assert body["log_tail"] == ["starting with DB_PASSWORD=********", "Traceback ..."]
    assert SECRET not in repr(body)
    assert "journalctl -u p -n 50" in body["what_to_do"]


def test_the_webhook_gets_the_failed_starts_last_lines_masked(
    journald_manager, service_user, workdir, monkeypatch, webhook, smtp
):
    """With a journald behind the unit (test_keep_up's manager), log_tail holds the crash, never the value."""
    from test_deploy_secrets import deployed_with_secrets
    from test_keep_up import LOUD_BROKEN_APP, NsDeployment

    env, pid = journald_manager
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    NsDeployment.ns_pid = pid
    made = []

    def deployment():
        (workdir / "n").mkdir()
        made.append(NsDeployment(workdir / "n", service_user))
        return made[-1]

    try:
        password = "pw-" + os.urandom(8).hex()
        d, _secrets, _report = deployed_with_secrets(
            deployment,
            {"DB_PASSWORD": password},
            extra_config=notify_config(["rolled-back"], webhook.url, smtp.address),
        )
        d.commit({"app.py": LOUD_BROKEN_APP, "VERSION": "v3\n"}, "a version that cannot reach its database")
        d.sync(check=1)
        assert [b["event"] for b in webhook.received] == ["rolled-back"]
        tail = webhook.received[0]["log_tail"]
        assert tail and tail[-1].startswith("RuntimeError: cannot reach the database"), tail
        assert "connecting with DB_PASSWORD=********" in tail
        mail = smtp.messages[0].get_content()
        assert "RuntimeError: cannot reach the database" in mail
        assert password not in repr(webhook.received) + smtp.messages[0].as_string()
    finally:
        for d in made:
            d.close()
