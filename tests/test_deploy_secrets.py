"""Encrypted secrets through a whole deploy (issue 4, "Deploy"): real systemd user manager, real git,
keys and files made with the `syncd secrets` CLI exactly as a developer would, committed and pushed.

Each delivery mode end to end, every kind of value byte for byte, precedence, the undo of a failed
deploy (previous values back, nothing plaintext in the state dir), blocked cases that touch nothing,
and a long random secret that must appear nowhere it should not.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PYTHON, git

SECRETS_FILE = "deploy/production.env.enc"

# The test app of conftest, plus: the files of $CREDENTIALS_DIRECTORY go into the report too.
CRED_APP = '''\
import json, os, sys, time
version = open("VERSION").read().strip()
if version.startswith("broken"):
    sys.exit("broken version " + version)
out = os.environ.get("APP_REPORT")
creds = {}
where = os.environ.get("CREDENTIALS_DIRECTORY")
if where:
    for name in sorted(os.listdir(where)):
        with open(os.path.join(where, name), "rb") as f:
            creds[name] = f.read().decode("utf-8")
report = {"version": version, "pid": os.getpid(), "env": dict(os.environ), "creds": creds,
          "creds_dir": where}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(report, f)
os.replace(tmp, out)
while True:
    time.sleep(3600)
'''

HARD_VALUES = {
    "EMPTY": "",
    "SPACES": "  two leading, two trailing  ",
    "NEWLINES": "line1\nline2\n\nline4\n",
    "DOUBLE_QUOTES": 'say "hi"',
    "SINGLE_QUOTES": "it's 'quoted'",
    "BACKSLASHES": "C:\\path\\to\\n trailing\\",
    "PERCENT": "100% %h %n %i %%",
    "DOLLAR": "$HOME ${HOME} $$ $",
    "HASH": "# not a comment",
    "INNER_HASH": "a #b",
    "BACKTICK": "`uname` $(id)",
    "UTF8": "Grüße, 日本語, 🩻",
    "PEM": "-----BEGIN KEY-----\nMIIB\"x'y\\z\n-----END KEY-----\n",
    "BIG": "0123456789abcdef" * 4096,  # 64 KiB
}


# -- helpers ----------------------------------------------------------------------------------

def secrets_cli(*args: str, value: str | None = None, check: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([PYTHON, "-m", "syncd", "secrets", *args], capture_output=True,
                          input=None if value is None else value.encode("utf-8"),
                          stdin=subprocess.DEVNULL if value is None else None, timeout=60)
    if check is not None:
        assert proc.returncode == check, f"secrets {args[:2]} exit {proc.returncode}: {proc.stderr.decode()}"
    return proc


def keygen(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    return secrets_cli("keygen", "--out", str(path)).stdout.decode().strip()


class Secrets:
    """A production key on the 'server' and an encrypted file in the developer's clone."""

    def __init__(self, d, rel: str = SECRETS_FILE, label: str = "production"):
        self.d, self.rel, self.label = d, rel, label
        self.key = d.base / "keys" / "production.key"
        self.recipient = keygen(self.key)

    @property
    def path(self) -> Path:
        return self.d.dev / self.rel

    def set(self, values: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            extra = [] if self.path.exists() else ["--recipient", self.recipient, "--env", self.label]
            secrets_cli("set", str(self.path), name, *extra, value=value)

    def config(self, delivery: str | None = None, key: Path | None = None, extra: str = "") -> str:
        line = f'secrets_delivery = "{delivery}"\n' if delivery else ""
        return (f'\n[env]\nsecrets = ["{self.rel}"]\nkey = "{key or self.key}"\n{line}{extra}')


def wait_report(d, pred, timeout: float = 10.0) -> dict:
    """The newest report of the app once `pred(report)` holds (a restart rewrites it)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = d.running()
            if pred(last):
                return last
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"the app never reported what was expected; last report: "
                         f"{ {k: v for k, v in (last or {}).items() if k != 'env'} }")


def running_pid(d) -> str:
    return d.show("MainPID")["MainPID"]


def restarted(d, old_pid: int, version: str):
    return wait_report(d, lambda r: r["pid"] != old_pid and r["version"] == version)


def secrets_dir(d) -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "syncd" / "secrets" / d.unit


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def all_files(root: Path):
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            yield Path(dirpath) / name


def deployed_with_secrets(deployment, values: dict[str, str], delivery: str | None = None, app: str | None = None,
                          extra_config: str = ""):
    """A deployment whose first sync delivers `values` from a committed encrypted file."""
    d = deployment()
    wait_report(d, lambda r: r["version"] == "v1")
    d.sync()
    s = Secrets(d)
    s.set(values)
    files = {"VERSION": "v2\n"}
    if app:
        files["app.py"] = app
    d.commit(files, "secrets and v2")
    d.write_config(s.config(delivery, extra=extra_config))
    pid = d.running()["pid"]
    d.sync()
    report = restarted(d, pid, "v2")
    return d, s, report


def _mount_point_line(path: Path) -> list[str]:
    """The /proc/self/mountinfo fields of the mount that holds `path`."""
    best: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4]
        if (str(path) == point or str(path).startswith(point.rstrip("/") + "/")) and len(point) >= len(best[4] if best else ""):
            best = fields
    return best


@pytest.fixture
def shared_credentials_mount(user_manager):
    """systemd 252 builds a credentials dir as a ramfs in a child mount namespace and MS_MOVEs it into
    place; the move reaches the manager only through a *shared* mount. A systemd-booted host makes /
    rshared at boot, but this container's / is private, so without this the service would see an
    empty $CREDENTIALS_DIRECTORY. Give the test manager's credentials dir the host's propagation."""
    where = Path(user_manager.runtime_dir) / "credentials"
    where.mkdir(mode=0o755, exist_ok=True)
    fields = _mount_point_line(where)
    if any(f.startswith("shared:") for f in fields[6:fields.index("-")]):
        yield where  # already like a booted host
        return
    subprocess.run(["mount", "--bind", str(where), str(where)], check=True)
    subprocess.run(["mount", "--make-shared", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=False)


# -- 1. each delivery mode end to end -----------------------------------------------------------

def test_environment_file_delivery(deployment):
    values = {"DB_PASSWORD": "s3cret-db-" + pysecrets.token_hex(8), "API_TOKEN": "tok-" + pysecrets.token_hex(8)}
    d, s, report = deployed_with_secrets(deployment, values)
    for name, value in values.items():
        assert report["env"][name] == value
    path = secrets_dir(d) / "environment"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert os.lstat(path).st_uid == 0
    shown = d.show("Environment", "EnvironmentFiles")
    assert str(path) in shown["EnvironmentFiles"]
    everything = subprocess.run(["systemctl", "--user", "show", d.unit], capture_output=True, text=True).stdout
    dropin = d.dropin.read_text()
    for value in values.values():
        assert value not in shown["Environment"] and value not in everything
        assert value not in dropin
    assert mode(d.dropin) == 0o644  # holds only the file's path


def test_environment_delivery_puts_values_in_the_dropin(deployment):
    values = {"DB_PASSWORD": "visible-" + pysecrets.token_hex(8)}
    d, s, report = deployed_with_secrets(deployment, values, delivery="environment")
    assert report["env"]["DB_PASSWORD"] == values["DB_PASSWORD"]
    # The documented price of this mode: systemctl show lists the value.
    assert f"DB_PASSWORD={values['DB_PASSWORD']}" in d.show("Environment")["Environment"]
    assert mode(d.dropin) == 0o600
    assert not (secrets_dir(d) / "environment").exists()


def test_credentials_delivery(shared_credentials_mount, deployment):
    values = {"DB_PASSWORD": "cred-" + pysecrets.token_hex(8), "CERT": "-----BEGIN-----\nabc\n-----END-----\n"}
    d, s, report = deployed_with_secrets(deployment, values, delivery="credentials", app=CRED_APP)
    assert report["creds_dir"], "no $CREDENTIALS_DIRECTORY in the service"
    assert report["creds"] == values
    for name, value in values.items():
        assert name not in report["env"]
        assert value not in json.dumps(report["env"])
        cred = secrets_dir(d) / "credentials" / name
        assert cred.read_text() == value
        assert mode(cred) == 0o600 and mode(cred.parent) == 0o700
    everything = subprocess.run(["systemctl", "--user", "show", d.unit], capture_output=True, text=True).stdout
    for value in values.values():
        assert value not in everything
    dropin = d.dropin.read_text()
    assert f"LoadCredential=DB_PASSWORD:{secrets_dir(d) / 'credentials' / 'DB_PASSWORD'}" in dropin
    assert mode(d.dropin) == 0o644 and values["DB_PASSWORD"] not in dropin
