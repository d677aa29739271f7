"""[metrics]: the textfile node_exporter reads, and GET /metrics under `syncd run` (issue 13)."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import PYTHON
from receivers import SilentPeer

SPEC_METRICS = {
    "syncd_deploys_total",
    "syncd_last_result_timestamp_seconds",
    "syncd_deployed_info",
    "syncd_paused",
    "syncd_quarantined_commits",
    "syncd_deploy_duration_seconds",
    "syncd_fetch_errors_total",
}


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = {k: v for k, v in s.labels.items() if k != "unit"}
            out[(s.name, tuple(sorted(labels.items())))] = s.value
    return out


def wait_for(predicate, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except OSError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def test_the_textfile_has_the_spec_metrics_with_help_and_changes_as_deploys_happen(deployment, workdir):
    d = deployment()
    textfile = workdir / "syncd-pipeline.prom"
    d.write_config(f'\n[metrics]\ntextfile = "{textfile}"\n')
    d.sync()
    first = textfile.read_text()
    fams = families(first)
    sample_names = {s.name for f in fams.values() for s in f.samples} | {
        n + "_total" for n, f in fams.items() if f.type == "counter"
    }
    assert SPEC_METRICS <= sample_names | set(fams)
    for family in fams.values():
        assert len(family.documentation) > 30, family.name  # HELP a person understands
        assert all(s.labels.get("unit") == d.unit for s in family.samples)
    before = samples(first)
    assert len([k for k in before if k[0] == "syncd_deployed_info"]) == 1
    assert before[("syncd_deployed_info", (("commit", d.head()),))] == 1
    assert before[("syncd_paused", ())] == 0
    assert before[("syncd_deploys_total", (("result", "up-to-date"),))] == 1
    assert oct(textfile.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in workdir.iterdir() if p.name.startswith(".")]  # no temp file left behind

    new = d.commit({"VERSION": "v2\n"})
    d.sync()
    after = samples(textfile.read_text())
    assert after[("syncd_deploys_total", (("result", "deployed"),))] == 1
    assert ("syncd_deployed_info", (("commit", new),)) in after
    assert len([k for k in after if k[0] == "syncd_deployed_info"]) == 1  # only what runs now
    assert after[("syncd_deploy_duration_seconds", ())] > 0
    assert after[("syncd_last_result_timestamp_seconds", (("result", "deployed"),))] > 0

    bad = d.commit({"VERSION": "broken-v3\n"})
    d.sync(check=1)
    after_bad = samples(textfile.read_text())
    assert after_bad[("syncd_deploys_total", (("result", "rolled-back"),))] == 1
    assert after_bad[("syncd_quarantined_commits", ())] == 1
    assert ("syncd_deployed_info", (("commit", new),)) in after_bad and bad != new

    d.syncd("pause", check=0)
    assert samples(textfile.read_text())[("syncd_paused", ())] == 1


def test_a_failed_fetch_is_counted(deployment, workdir):
    d = deployment()
    textfile = workdir / "syncd.prom"
    d.write_config(f'\n[metrics]\ntextfile = "{textfile}"\n')
    d.sync()
    d.origin.rename(d.origin.with_name("gone.git"))
    d.sync(check=1)
    assert samples(textfile.read_text())[("syncd_fetch_errors_total", ())] == 1


def test_metrics_answers_under_syncd_run(deployment, workdir):
    d = deployment()
    free = SilentPeer()
    port = free.port
    free.close()
    d.write_config(f'\n[schedule]\ninterval = 0\nwatch = false\n\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    log = open(workdir / "run.log", "w")
    proc = subprocess.Popen(
        [PYTHON, "-m", "syncd", "--config", str(d.config), "run"],
        stdout=log,
        stderr=log,
        env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
    )
    try:

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                text = answer.read().decode()
            return text if "syncd_deployed_info{" in text else None

        text = wait_for(scrape, "GET /metrics with the deployed commit")
        got = samples(text)
        assert got[("syncd_deployed_info", (("commit", d.head()),))] == 1
        assert not any(name.startswith(("process_", "python_")) for name, _ in got)  # syncd's own registry
    finally:
        proc.terminate()
        assert proc.wait(60) == 0
        log.close()


@pytest.mark.parametrize(
    "bad, expected",
    [
        ('textfile = "/var/lib/x/syncd.txt"', 'only files ending in ".prom"'),
        ('textfile = "relative.prom"', "absolute path"),
        ('listen = "9469"', '"address:port"'),
    ],
)
def test_bad_metrics_keys_name_the_key(workdir, bad, expected):
    cfg = workdir / "bad.toml"
    cfg.write_text(f'[repo]\npath = "/opt/x"\n[service]\nunit = "x"\n[metrics]\n{bad}\n')
    proc = subprocess.run(
        [PYTHON, "-m", "syncd", "--config", str(cfg), "render"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert f"{cfg}: metrics." in proc.stderr and expected in proc.stderr


def test_process_metrics_only_when_asked():
    from types import SimpleNamespace

    from prometheus_client import generate_latest

    from syncd.metrics.collect import registry_for

    def cfg(process):
        return SimpleNamespace(
            service=SimpleNamespace(unit="p.service"),
            state_dir=Path("/nonexistent"),
            metrics=SimpleNamespace(process=process),
        )

    assert b"process_" not in generate_latest(registry_for(cfg(False)))
    assert b"process_cpu_seconds_total" in generate_latest(registry_for(cfg(True)))
