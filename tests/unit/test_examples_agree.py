"""The examples tell one story: units/pipeline.service and every config-examples/*.toml agree.

A new operator copies them side by side (docs/deploy.md); a port, AE title, path, user or unit name
that differs between them is a pipeline that never passes its health check.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncd.config import load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "config-examples").glob("*.toml"))


def unit_directives(name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (ROOT / "units" / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


@pytest.fixture
def load(tmp_path):
    def loader(example: Path):
        # The owner exists on a server; here the loader only needs a user and group that exist.
        text = example.read_text().replace('"pipeline:pipelineadmin"', '"root:root"')
        path = tmp_path / example.name
        path.write_text(text)
        return load_config(path), example.read_text()

    return loader


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_matches_the_example_unit(load, example):
    cfg, text = load(example)
    unit = unit_directives("pipeline.service")
    assert cfg.service.unit == "pipeline.service"
    assert str(cfg.repo.path) == unit["WorkingDirectory"]
    assert re.search(r'^owner = "([^"]+)"', text, re.M).group(1) == f"{unit['User']}:{unit['Group']}"
    assert unit["ExecStart"].startswith(f"{cfg.repo.path}/venv/bin/python ")
    port = cfg.env.vars["DICOM_PORT"]
    assert port == "104" and "CAP_NET_BIND_SERVICE" in unit["AmbientCapabilities"]  # < 1024 needs it
    probes = [p for p in (cfg.health.tcp, cfg.health.dicom_echo) if p]
    assert probes, "every example judges health by the pipeline's port"
    for probe in probes:
        assert probe.endswith(f":{port}"), f"{example.name}: probe {probe} is not the pipeline's port {port}"
    if cfg.health.dicom_echo:
        # DicomNode nodes refuse a called AE title that is not their own.
        assert cfg.health.dicom_echo.split("@")[0] == cfg.env.vars["AE_TITLE"]


def test_example_unit_lets_the_pipeline_write_somewhere():
    unit = unit_directives("pipeline.service")
    assert unit["ProtectSystem"] == "strict"
    assert unit["StateDirectory"] == "pipeline" and unit["LogsDirectory"] == "pipeline"


def commands(text: str) -> list[str]:
    """Each command of the ```sh blocks, continuation lines joined."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip() and not command.strip().startswith("#"):
                out.append(" ".join(command.split()))
    return out


def test_readme_install_commands_are_the_guides():
    """Every command of the README's install-by-hand section is one of docs/deploy.md's, which tests/booted runs."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### By hand", 1)[1].split("\n## ", 1)[0]
    guide = commands((ROOT / "docs" / "deploy.md").read_text())
    readme_commands = commands(section)
    assert readme_commands, "the README's install section shows the short form"
    missing = [c for c in readme_commands if c not in guide]
    assert not missing, f"README commands not in docs/deploy.md (so never run by tests/booted): {missing}"
