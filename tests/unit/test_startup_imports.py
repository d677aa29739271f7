"""What `syncd sync` imports before its first step, so its start-up stays short (docs/benchmarks.md).

Each module imported costs every one-shot sync (a timer, a person) start-up time: what only some
configs or some results need is imported where it is used. These tests look at sys.modules in a
fresh interpreter, never at a clock.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The imports of `syncd --config X sync` up to its first step: the command line, the action, the
# config (loaded), the chain and its steps.
SYNC_START = """
import json, sys
from syncd.cli import build_parser
args = build_parser(["--config", sys.argv[1], "sync"]).parse_args(["--config", sys.argv[1], "sync"])
from syncd.config import load_config
cfg = load_config(sys.argv[1])
import syncd.deploy.chain
from syncd import gate
gate.configured(cfg)
from syncd import log
log.setup(verbose=False)
log.quiet_steps()  # `syncd sync` without -v
log.get("deploy").info("step %s done", "preflight")  # below the level: dropped
print(json.dumps(sorted(sys.modules)))
"""

# Needed only by some configs or some outcomes (or only by other commands): never before the first step.
NOT_AT_START = {
    "prometheus_client": "metrics.textfile / metrics.listen",
    "cryptography": "env.secrets",
    "dotenv": "env.files",
    "jeepney": "the restart (D-Bus)",
    "email": "notify.email",
    "http": "notify.webhook, health.http",
    "urllib.request": "notify.webhook",
    "ssl": "https probes and webhooks",
    "pynetdicom": "health.dicom_echo",
    "watchdog": "syncd run",
    "apscheduler": "syncd run, schedule.cron",
    "difflib": "a config error's suggestion",
    "shutil": "argparse's help width (cli.HelpFormatter finds it without shutil)",
    "base64": "the journal (binascii does it)",
    "syncd.environments": "[python]",
    "syncd.hooks": "hooks",
    "syncd.health": "the judge, after the restart",
    "syncd.notify": "a recorded result that notify.on names",
    "syncd.gate.drain": "[drain]",
    "syncd.gate.windows": "schedule.windows",
    "logging": "a line to log (syncd/log.py imports it for the first one)",
    "dataclasses": "nothing: syncd.records makes syncd's classes",
    "inspect": "nothing (the standard dataclasses imported it)",
}


def test_sync_imports_before_its_first_step_only_what_every_sync_needs(tmp_path):
    config = tmp_path / "syncd.toml"
    config.write_text(
        '[repo]\npath = "/opt/pipeline"\n\n[service]\nunit = "pipeline.service"\n\n'
        '[health]\ntcp = "127.0.0.1:104"\ntimeout = "30s"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-c", SYNC_START, str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    early = {name: why for name, why in NOT_AT_START.items() if name in loaded}
    assert not early, f"imported before sync's first step, though only needed for: {early}"


# The standard @dataclass compiles each class's methods at import (~1 ms a class); syncd.records does
# not. A module that needs what records lacks (__post_init__, order, slots) would be listed here.
STANDARD_DATACLASSES_ALLOWED: set[str] = set()


def test_syncd_classes_are_made_by_syncd_records():
    offenders = []
    for path in sorted((ROOT / "syncd").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in STANDARD_DATACLASSES_ALLOWED or relative == "syncd/records.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "dataclasses":
                offenders.append(relative)
            elif isinstance(node, ast.Import) and any(a.name == "dataclasses" for a in node.names):
                offenders.append(relative)
    assert not offenders, f"use `from syncd.records import dataclass, field` (start-up time): {offenders}"
