"""environment_file_bytes against systemd itself: a real unit under the user manager reads the
file through EnvironmentFile= and dumps its environment; every value must come back byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from syncd.secrets import environment_file_bytes

HARD_VALUES = {
    "EMPTY": "",
    "SPACES": "  two leading, two trailing  ",
    "ONLY_SPACE": " ",
    "DOUBLE_QUOTES": 'say "hi"',
    "SINGLE_QUOTES": "it's 'quoted'",
    "LONE_DOUBLE": '"',
    "LONE_SINGLE": "'",
    "BACKSLASHES": r"C:\path\to\n\t\\double",
    "TRAILING_BACKSLASH": "ends with\\",
    "BACKSLASH_NEWLINE": "before\\\nafter",
    "PERCENT": "100% %h %n %%",
    "DOLLAR": "$HOME ${HOME} $$ $",
    "BACKTICK": "`uname` and $(id)",
    "HASH": "# not a comment",
    "INNER_HASH": "a #b",
    "NEWLINES": "line1\nline2\n\nline4\n",
    "LEADING_NEWLINE": "\nx",
    "CRLF": "a\r\nb\r",
    "TAB": "\tx\t",
    "EQUALS": "a=b==c",
    "SEMICOLON": "a;b",
    "UTF8": "Grüße, 日本語, émoji 🙂",
    "BIG": ("0123456789abcdef" * 4096),  # 64 KiB
    "PEM": "-----BEGIN KEY-----\nMIIB\"x'y\\z\n-----END KEY-----\n",
}

DUMP = "import json, os, sys\njson.dump(dict(os.environ), open(sys.argv[1], 'w'))\n"


def systemctl_user(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["systemctl", "--user", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def test_environment_file_is_escaped_as_documented():
    data = environment_file_bytes({"A": 'x"y\\z`w$v\nq%#'})
    assert data.endswith(b'A="x\\"y\\\\z\\`w\\$v\nq%#"\n')


def test_environment_file_rejects_bad_names_and_nul():
    with pytest.raises(ValueError):
        environment_file_bytes({"1BAD": "x"})
    with pytest.raises(ValueError):
        environment_file_bytes({"GOOD": "a\0b"})


def test_environment_file_round_trips_through_a_real_unit(user_manager, tmp_path):
    os.chmod(tmp_path, 0o755)
    env_file = tmp_path / "secrets.env"
    env_file.write_bytes(environment_file_bytes(HARD_VALUES))
    os.chmod(env_file, 0o600)
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    out = tmp_path / "env.json"
    unit = f"syncd-secrets-envdump-{uuid.uuid4().hex[:8]}.service"
    unit_path = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / unit
    unit_path.write_text(
        f"[Service]\nType=oneshot\nEnvironmentFile={env_file}\nExecStart={sys.executable} {script} {out}\n"
    )
    try:
        assert systemctl_user("daemon-reload").returncode == 0
        started = systemctl_user("start", unit)
        assert started.returncode == 0, started.stderr + systemctl_user("status", unit).stdout
        seen = json.loads(out.read_text())
    finally:
        unit_path.unlink()
        systemctl_user("daemon-reload")
    for name, value in HARD_VALUES.items():
        assert name in seen, f"{name} missing from the service environment"
        assert seen[name] == value, f"{name} changed on its way through EnvironmentFile="
