"""Where the config and the code that uses a value parsed it differently (issue 14): the config let
through what the user of the value refused, or the other way round. One parser each now."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from syncd.chown import parse_owner
from syncd.config import load_config
from syncd.errors import ConfigError
from syncd.health.probes import parse_host_port

MINIMAL = '[repo]\npath = "/opt/pipeline"\n\n[service]\nunit = "pipeline.service"\n'


def _unused_uid() -> int:
    taken = {p.pw_uid for p in pwd.getpwall()}
    return next(uid for uid in range(61234, 65000) if uid not in taken)


def _config_accepts(tmp_path: Path, text: str) -> bool:
    path = tmp_path / "syncd.toml"
    path.write_text(text)
    try:
        load_config(path)
        return True
    except ConfigError:
        return False


def test_numeric_owner_without_passwd_entry_is_refused_when_the_config_loads(tmp_path):
    # It loaded, and then every sync failed resolving the owner (no primary group to chown to).
    path = tmp_path / "syncd.toml"
    path.write_text(MINIMAL + f'owner = "{_unused_uid()}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "service.owner"
    assert "no passwd entry" in str(info.value) and "(line 6)" in str(info.value)


@pytest.mark.parametrize("owner", ["root", "root:root", "0", "0:0", "root:", ":root", "root:root:root", ""])
def test_config_and_chown_agree_on_the_owner(tmp_path, owner):
    try:
        parse_owner(owner)
        chown_accepts = True
    except ValueError:
        chown_accepts = False
    assert _config_accepts(tmp_path, MINIMAL + f'owner = "{owner}"\n') == chown_accepts


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1:104",
        "[::1]:104",
        "localhost:11112",
        "my host:104",
        "a/b:104",
        "user@host:104",
        "[not-v6]:104",
        "host:\u0661\u0660\u0664",  # Arabic-Indic digits: int() reads them, nobody means them
        "host:0",
        "::1:104",
    ],
)
def test_config_and_the_tcp_probe_agree_on_host_port(tmp_path, address):
    try:
        parse_host_port(address)
        probe_accepts = True
    except ValueError:
        probe_accepts = False
    assert _config_accepts(tmp_path, MINIMAL + f'[health]\ntcp = "{address}"\n') == probe_accepts
