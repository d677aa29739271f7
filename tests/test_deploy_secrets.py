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

from helpers import PYTHON, git

SECRETS_FILE = "deploy/production.env.enc"

# The test app of conftest, plus: the files of $CREDENTIALS_DIRECTORY go into the report too.
CRED_APP = """\
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
"""

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
    proc = subprocess.run(
        [PYTHON, "-m", "syncd", "secrets", *args],
        capture_output=True,
        input=None if value is None else value.encode("utf-8"),
        stdin=subprocess.DEVNULL if value is None else None,
        timeout=60,
    )
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
        return f'\n[env]\nsecrets = ["{self.rel}"]\nkey = "{key or self.key}"\n{line}{extra}'


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
    raise AssertionError(
        f"the app never reported what was expected; last report: "
        f"{ {k: v for k, v in (last or {}).items() if k != 'env'} }"
    )


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


def deployed_with_secrets(
    deployment,
    values: dict[str, str],
    delivery: str | None = None,
    app: str | None = None,
    extra_config: str = "",
):
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
        if (str(path) == point or str(path).startswith(point.rstrip("/") + "/")) and len(point) >= len(
            best[4] if best else ""
        ):
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
    if any(f.startswith("shared:") for f in fields[6 : fields.index("-")]):
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
    values = {
        "DB_PASSWORD": "s3cret-db-" + pysecrets.token_hex(8),
        "API_TOKEN": "tok-" + pysecrets.token_hex(8),
    }
    d, s, report = deployed_with_secrets(deployment, values)
    for name, value in values.items():
        assert report["env"][name] == value
    path = secrets_dir(d) / "environment"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert os.lstat(path).st_uid == 0
    shown = d.show("Environment", "EnvironmentFiles")
    assert str(path) in shown["EnvironmentFiles"]
    everything = subprocess.run(
        ["systemctl", "--user", "show", d.unit], capture_output=True, text=True
    ).stdout
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
    values = {
        "DB_PASSWORD": "cred-" + pysecrets.token_hex(8),
        "CERT": "-----BEGIN-----\nabc\n-----END-----\n",
    }
    d, s, report = deployed_with_secrets(deployment, values, delivery="credentials", app=CRED_APP)
    assert report["creds_dir"], "no $CREDENTIALS_DIRECTORY in the service"
    assert report["creds"] == values
    for name, value in values.items():
        assert name not in report["env"]
        assert value not in json.dumps(report["env"])
        cred = secrets_dir(d) / "credentials" / name
        assert cred.read_text() == value
        assert mode(cred) == 0o600 and mode(cred.parent) == 0o700
    everything = subprocess.run(
        ["systemctl", "--user", "show", d.unit], capture_output=True, text=True
    ).stdout
    for value in values.values():
        assert value not in everything
    dropin = d.dropin.read_text()
    assert f"LoadCredential=DB_PASSWORD:{secrets_dir(d) / 'credentials' / 'DB_PASSWORD'}" in dropin
    assert mode(d.dropin) == 0o644 and values["DB_PASSWORD"] not in dropin


def test_switching_delivery_leaves_no_stale_plaintext_and_survives_a_restart_without_syncd(
    shared_credentials_mount, deployment
):
    values = {"DB_PASSWORD": "sw-" + pysecrets.token_urlsafe(24)}
    d, s, report = deployed_with_secrets(deployment, values, app=CRED_APP)
    steps = [
        ("credentials", ["credentials/DB_PASSWORD"], 0o644),
        ("environment", [], 0o600),
        ("environment-file", ["environment"], 0o644),
    ]
    for delivery, files, dropin_mode in steps:
        d.write_config(s.config(delivery))
        pid = d.running()["pid"]
        d.sync()
        report = restarted(d, pid, "v2")
        got = report["creds"] if delivery == "credentials" else report["env"]
        assert got.get("DB_PASSWORD") == values["DB_PASSWORD"], delivery
        present = sorted(str(p.relative_to(secrets_dir(d))) for p in all_files(secrets_dir(d)))
        assert present == files, f"{delivery}: stale secret files {present}"
        assert mode(d.dropin) == dropin_mode, delivery
        assert (values["DB_PASSWORD"] in d.dropin.read_text()) == (delivery == "environment"), delivery
        # As after a reboot: the unit starts with its secrets from what is on disk, no syncd involved.
        pid = d.running()["pid"]
        subprocess.run(["systemctl", "--user", "stop", d.unit], check=True)
        subprocess.run(["systemctl", "--user", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "--user", "start", d.unit], check=True)
        report = restarted(d, pid, "v2")
        got = report["creds"] if delivery == "credentials" else report["env"]
        assert got.get("DB_PASSWORD") == values["DB_PASSWORD"], f"{delivery}: lost on a cold start"


# -- 2. every kind of value, byte for byte, in each delivery mode --------------------------------


@pytest.mark.parametrize("delivery", ["environment-file", "environment", "credentials"])
def test_hard_values_round_trip_exactly(shared_credentials_mount, deployment, delivery):
    d, s, report = deployed_with_secrets(deployment, HARD_VALUES, delivery=delivery, app=CRED_APP)
    seen = report["creds"] if delivery == "credentials" else report["env"]
    for name, value in HARD_VALUES.items():
        assert name in seen, f"{name} did not reach the service ({delivery})"
        assert seen[name] == value, f"{name} changed on its way to the service ({delivery})"
    if delivery == "credentials":
        for name, value in HARD_VALUES.items():
            assert (secrets_dir(d) / "credentials" / name).read_bytes() == value.encode("utf-8")


def test_value_limits_depend_on_the_delivery(shared_credentials_mount, deployment):
    """An environment entry is limited (kernel: 128 KiB per string; systemd: no Unicode
    noncharacters); a credential is a file and is not. A refused value blocks the deploy naming
    the secrets file, line and variable."""
    big = ("0123456789abcdef" * 64 + "\n") * 200  # about 200 KiB
    odd = "a\ufffeb"
    d, s, report = deployed_with_secrets(
        deployment, {"BIG": big, "ODD": odd}, delivery="credentials", app=CRED_APP
    )
    assert report["creds"] == {"BIG": big, "ODD": odd}
    text = s.path.read_text()
    dropin, pid = d.dropin_bytes(), running_pid(d)
    d.write_config(s.config("environment-file"))
    out = d.sync(check=3)
    msg = out.stdout + out.stderr
    assert f"{s.rel}:{_line_no(text, 'BIG')}: BIG" in msg and "bytes" in msg, msg
    assert big[:40] not in msg
    assert d.dropin_bytes() == dropin and running_pid(d) == pid
    s.set({"BIG": "small"})
    d.commit({}, "smaller")
    out = d.sync(check=3)
    msg = out.stdout + out.stderr
    assert f"{s.rel}:{_line_no(text, 'ODD')}: ODD" in msg and "noncharacter" in msg, msg


# -- 3. precedence: env.files, then env.secrets, then env.vars ----------------------------------


def test_precedence_files_then_secrets_then_vars(deployment):
    secret_b = "secret-b-" + pysecrets.token_hex(8)
    secret_c = "secret-c-" + pysecrets.token_hex(8)
    d = deployment()
    d.sync()
    s = Secrets(d)
    s.set({"B": secret_b, "C": secret_c, "D": "only-secret-" + pysecrets.token_hex(4)})
    d.commit({"deploy/production.env": "A=from-file\nB=from-file\nC=from-file\n", "VERSION": "v2\n"})
    d.write_config(s.config(extra='files = ["deploy/production.env"]\n\n[env.vars]\nC = "from-vars"\n'))
    pid = d.running()["pid"]
    d.sync()
    env = restarted(d, pid, "v2")["env"]
    assert (env["A"], env["B"], env["C"]) == ("from-file", secret_b, "from-vars")
    # C is overridden by a plain var: it is plain now (visible in show), and no stale copy of the
    # secret value stays in the delivered file.
    delivered = (secrets_dir(d) / "environment").read_text()
    assert "B=" in delivered and "D=" in delivered
    assert "C=" not in delivered and secret_c not in delivered
    shown = d.show("Environment")["Environment"]
    assert "C=from-vars" in shown and "A=from-file" in shown
    assert secret_b not in shown and secret_c not in shown
    assert secret_c not in d.dropin.read_text()
    # Removing the override brings the secret back, through the file again.
    d.write_config(s.config(extra='files = ["deploy/production.env"]\n'))
    pid = d.running()["pid"]
    d.sync()
    env = restarted(d, pid, "v2")["env"]
    assert env["C"] == secret_c
    assert "C=from-file" not in d.show("Environment")["Environment"]
    assert secret_c in (secrets_dir(d) / "environment").read_text()


# -- 4. a failed deploy with changed secrets is undone from the previous commit -------------------


def plaintext_hits(root: Path, values) -> list[str]:
    """Files under root holding any of the values, plainly or inside a base64 string of a JSON file."""
    import base64
    import binascii

    hits = []
    needles = [v.encode("utf-8") for v in values if v]
    for path in all_files(root):
        data = path.read_bytes()
        blobs = [data]
        if path.suffix in (".json", ".jsonl"):
            for text in _json_strings(data):
                try:
                    blobs.append(base64.b64decode(text, validate=True))
                except (binascii.Error, ValueError):
                    pass
        if any(n in blob for n in needles for blob in blobs):
            hits.append(str(path))
    return hits


def _json_strings(data: bytes):
    docs = []
    try:
        docs = [json.loads(data)]
    except ValueError:
        for line in data.splitlines():
            try:
                docs.append(json.loads(line))
            except ValueError:
                pass
    stack = docs
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def toml_argv(argv: list[str]) -> str:
    return "[" + ", ".join(json.dumps(a) for a in argv) + "]"


@pytest.mark.parametrize("delivery", ["environment-file", "environment", "credentials"])
def test_failed_deploy_restores_previous_secret_values(shared_credentials_mount, deployment, delivery):
    old = {
        "DB_PASSWORD": "old-db-" + pysecrets.token_urlsafe(12),
        "TOKEN": "old-tok-" + pysecrets.token_urlsafe(12),
    }
    new = {
        "DB_PASSWORD": "new-db-" + pysecrets.token_urlsafe(12),
        "TOKEN": "new-tok-" + pysecrets.token_urlsafe(12),
    }
    d, s, report = deployed_with_secrets(deployment, old, delivery=delivery, app=CRED_APP)
    seen = (lambda r: r["creds"]) if delivery == "credentials" else (lambda r: {n: r["env"][n] for n in old})
    assert seen(report) == old
    delivered_before = {p.relative_to(secrets_dir(d)): p.read_bytes() for p in all_files(secrets_dir(d))}
    dropin_before = d.dropin_bytes()
    # A pre_restart hook holds the deploy after the new secrets are installed, so the state dir can be
    # searched while the journal exists.
    gate = d.base / "gate"
    gate.mkdir()
    os.chown(gate, d.user.pw_uid, d.user.pw_gid)
    hook = [
        "sh",
        "-c",
        f"touch {gate}/held; i=0; while [ ! -e {gate}/go ] && [ $i -lt 400 ]; do sleep 0.05; "
        f"i=$((i+1)); done",
    ]
    d.write_config(s.config(delivery, extra=f"\n[hooks]\npre_restart = [{toml_argv(hook)}]\n"))
    s.set(new)
    bad = d.commit({"VERSION": "broken-3\n"}, "new secrets and a broken app")
    pid = d.running()["pid"]
    proc = subprocess.Popen(
        [PYTHON, "-m", "syncd", "--config", str(d.config), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (gate / "held").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the pre_restart hook never ran"
            time.sleep(0.05)
        assert (d.state / d.config.stem / "journal.json").exists()
        # Mid-deploy: the new values are delivered, the state dir holds neither old nor new ones.
        assert plaintext_hits(d.state, [*old.values(), *new.values()]) == []
        delivered_to = [d.dropin.parent] + ([secrets_dir(d)] if secrets_dir(d).exists() else [])
        assert all(plaintext_hits(root, [v]) for v in new.values() for root in delivered_to[-1:])  # control
    finally:
        (gate / "go").touch()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "rolled-back" in out
    report = restarted(d, pid, "v2")
    assert seen(report) == old
    assert {
        p.relative_to(secrets_dir(d)): p.read_bytes() for p in all_files(secrets_dir(d))
    } == delivered_before
    assert d.dropin_bytes() == dropin_before
    assert mode(d.dropin) == (0o600 if delivery == "environment" else 0o644)
    assert plaintext_hits(d.state, [*old.values(), *new.values()]) == []
    for value in [*old.values(), *new.values()]:
        assert value not in out + err
    st = d.status()
    assert st["result"] == "rolled-back" and bad in st["quarantined"]


@pytest.mark.parametrize("delivery", ["environment-file", "environment"])
def test_killed_mid_deploy_the_next_start_re_renders_the_previous_secrets(deployment, delivery):
    old = {"DB_PASSWORD": "old-" + pysecrets.token_urlsafe(16)}
    new = {"DB_PASSWORD": "new-" + pysecrets.token_urlsafe(16)}
    d, s, _report = deployed_with_secrets(deployment, old, delivery=delivery)
    delivered_before = {p.relative_to(secrets_dir(d)): p.read_bytes() for p in all_files(secrets_dir(d))}
    dropin_before, head = d.dropin_bytes(), d.head()
    gate = d.base / "gate"
    gate.mkdir()
    os.chown(gate, d.user.pw_uid, d.user.pw_gid)
    hook = [
        "sh",
        "-c",
        f"touch {gate}/held; i=0; while [ ! -e {gate}/go ] && [ $i -lt 400 ]; do sleep 0.05; "
        f"i=$((i+1)); done",
    ]
    d.write_config(s.config(delivery, extra=f"\n[hooks]\npre_restart = [{toml_argv(hook)}]\n"))
    s.set(new)
    d.commit({"VERSION": "v3\n"}, "new secrets")
    proc = subprocess.Popen(
        [PYTHON, "-m", "syncd", "--config", str(d.config), "sync"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (gate / "held").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the pre_restart hook never ran"
            time.sleep(0.05)
        proc.kill()  # SIGKILL with the new secrets installed and the journal on disk
        proc.wait()
    finally:
        (gate / "go").touch()
    assert d.head() != head  # the deploy had moved the tree
    assert plaintext_hits(d.state, [*old.values(), *new.values()]) == []
    # The next sync undoes it first; an edit on the server then blocks it, so the undo alone is seen.
    with open(d.tree / "app.py", "a") as f:
        f.write("# hotfix on the server\n")
    out = d.sync(check=3)
    assert "uncommitted" in out.stdout + out.stderr
    assert d.head() == head
    assert {
        p.relative_to(secrets_dir(d)): p.read_bytes() for p in all_files(secrets_dir(d))
    } == delivered_before
    assert d.dropin_bytes() == dropin_before
    assert plaintext_hits(d.state, [*old.values(), *new.values()]) == []
    pid = d.running()["pid"]
    subprocess.run(["systemctl", "--user", "restart", d.unit], check=True)
    assert restarted(d, pid, "v2")["env"]["DB_PASSWORD"] == old["DB_PASSWORD"]


def test_failed_deploy_that_also_changed_the_delivery_mode_restores_the_previous_delivery(
    shared_credentials_mount, deployment
):
    values = {"DB_PASSWORD": "db-" + pysecrets.token_urlsafe(12)}
    d, s, _report = deployed_with_secrets(deployment, values, app=CRED_APP)
    delivered_before = {p.relative_to(secrets_dir(d)): p.read_bytes() for p in all_files(secrets_dir(d))}
    d.write_config(s.config("credentials"))  # the operator switches mode while a broken commit lands
    d.commit({"VERSION": "broken-1\n"})
    pid = d.running()["pid"]
    d.sync(check=1)
    assert {
        p.relative_to(secrets_dir(d)): p.read_bytes() for p in all_files(secrets_dir(d))
    } == delivered_before
    assert restarted(d, pid, "v2")["env"]["DB_PASSWORD"] == values["DB_PASSWORD"]
    assert d.status()["result"] == "rolled-back"


# -- 5. undecryptable or tampered secrets block the deploy and touch nothing ---------------------


def _line_no(text: str, name: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(name + "="))


def _replace_line(text: str, name: str, new: str) -> str:
    return "".join(new + "\n" if line.startswith(name + "=") else line + "\n" for line in text.splitlines())


def _copy(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(name + "=")).split("=", 1)[1]


def _flip(text: str, name: str) -> str:
    value = _copy(text, name)
    mid = len(value) // 2
    flipped = value[:mid] + ("A" if value[mid] != "A" else "B") + value[mid + 1 :]
    return _replace_line(text, name, f"{name}={flipped}")


def _swap(text: str, a: str, b: str) -> str:
    ca, cb = _copy(text, a), _copy(text, b)
    return _replace_line(_replace_line(text, a, f"{a}={cb}"), b, f"{b}={ca}")


def _truncate(text: str, name: str) -> str:
    line = f"{name}={_copy(text, name)}"
    return text[: text.index(line) + len(line) // 2]  # the file ends in the middle of the line


BLOCKED_CASES = {
    # label: (mutate committed text, config change, variable the message names, message fragment)
    "flipped byte": (lambda t: _flip(t, "TOKEN"), None, "TOKEN", "does not decrypt"),
    "swapped between names": (
        lambda t: _swap(t, "DB_PASSWORD", "TOKEN"),
        None,
        "DB_PASSWORD",
        "does not decrypt",
    ),
    "truncated line": (lambda t: _truncate(t, "TOKEN"), None, "TOKEN", ""),
    "unknown version": (
        lambda t: _replace_line(t, "TOKEN", "TOKEN=v7:" + _copy(t, "TOKEN")[3:]),
        None,
        "TOKEN",
        "v7",
    ),
    "plaintext pasted": (lambda t: t + "PASTED=" + PASTED + "\n", None, "PASTED", ""),
    "wrong key": (None, "other.key", "DB_PASSWORD", "not one of"),
    "key file missing": (None, "missing.key", "DB_PASSWORD", "missing.key"),
}
PASTED = "pasted-plain-" + pysecrets.token_urlsafe(16)


def test_bad_secrets_are_blocked_naming_file_line_and_variable(deployment):
    values = {
        "DB_PASSWORD": "db-" + pysecrets.token_urlsafe(24),
        "TOKEN": "tok-" + pysecrets.token_urlsafe(24),
    }
    d, s, _report = deployed_with_secrets(deployment, values)
    keygen(d.base / "keys" / "other.key")
    good = s.path.read_text()
    head, dropin = d.head(), d.dropin_bytes()
    delivered = (secrets_dir(d) / "environment").read_bytes()
    pid = running_pid(d)
    for n, (label, (mutate, key, name, fragment)) in enumerate(BLOCKED_CASES.items()):
        text = mutate(good) if mutate else good
        d.commit({s.rel: text, "VERSION": f"v3-{n}\n"}, f"case {label}")
        d.write_config(s.config(key=d.base / "keys" / key if key else None))
        out = d.sync(check=None)
        msg = out.stdout + out.stderr
        where = f"{s.rel}:{_line_no(good if name != 'PASTED' else text, name)}"
        assert out.returncode == 3, f"{label}: exit {out.returncode}\n{msg}"
        assert where in msg and name in msg and fragment in msg, (
            f"{label}: message lacks {where} {name} {fragment!r}:\n{msg}"
        )
        for secret in [*values.values(), PASTED]:
            assert secret not in msg, f"{label}: a secret value was printed"
        # Untouched: tree, branch, drop-in, delivered file, running process.
        assert d.head() == head, label
        assert (d.tree / "VERSION").read_text() == "v2\n", label
        assert git(d.tree, "status", "--porcelain") == "", label
        assert d.dropin_bytes() == dropin, label
        assert (secrets_dir(d) / "environment").read_bytes() == delivered, label
        assert running_pid(d) == pid, label
        st = d.status()
        assert st["result"] == "blocked" and where in st["reason"], label
        assert all(secret not in json.dumps(st) for secret in [*values.values(), PASTED]), label
    assert d.running()["env"]["TOKEN"] == values["TOKEN"]


# -- 6. a long random secret appears nowhere it should not ---------------------------------------


def _world_readable_hits(roots, needle: str) -> list[str]:
    hits = []
    for root in roots:
        if not root.exists():
            continue
        for path in all_files(root):
            st = os.lstat(path)
            if (
                stat.S_ISREG(st.st_mode)
                and st.st_mode & stat.S_IROTH
                and needle.encode() in path.read_bytes()
            ):
                hits.append(str(path))
    return hits


def test_a_long_random_secret_leaks_nowhere(deployment):
    secret = pysecrets.token_urlsafe(36)  # 48 url-safe characters
    later = pysecrets.token_urlsafe(36)
    d = deployment()
    outputs = []

    def run(*args, check=None):
        proc = d.syncd(*args, check=check)
        outputs.append((args, proc.stdout + proc.stderr))
        return proc

    run("-v", "sync", check=0)
    s = Secrets(d)
    s.set({"DB_PASSWORD": secret, "OTHER": "x"})
    d.commit({"VERSION": "v2\n"}, "a secret")
    d.write_config(s.config())
    pid = d.running()["pid"]
    run("-v", "sync", "--dry-run", check=0)
    run("-v", "sync", check=0)
    assert restarted(d, pid, "v2")["env"]["DB_PASSWORD"] == secret  # control: it is delivered
    assert secret in (secrets_dir(d) / "environment").read_text()
    for args in (
        ["status"],
        ["status", "--json"],
        ["render"],
        ["-v", "render"],
        ["history"],
        ["history", "--json"],
    ):
        run(*args, check=0)
    # A failing deploy that changes the secret, rolled back (the old one comes back).
    s.set({"DB_PASSWORD": later})
    d.commit({"VERSION": "broken-2\n"}, "broken, with a new secret")
    run("-v", "sync", check=1)
    assert restarted(d, pid, "v2")["env"]["DB_PASSWORD"] == secret
    # A blocked deploy: the secret's own line is damaged.
    d.commit({s.rel: _flip(s.path.read_text(), "DB_PASSWORD"), "VERSION": "v3\n"}, "damaged")
    run("-v", "sync", check=3)
    run("-v", "render", check=0)  # renders the tree's HEAD, which still has the good file
    for args in (["status"], ["status", "--json"], ["history"], ["history", "--json"]):
        run(*args, check=0)
    # A blocked deploy with a wrong key, and render with it.
    keygen(d.base / "keys" / "other.key")
    d.write_config(s.config(key=d.base / "keys" / "other.key"))
    run("-v", "sync", check=3)
    run("-v", "render", check=3)
    run("status", check=0)

    for args, text in outputs:
        for value in (secret, later):
            assert value not in text, f"`syncd {' '.join(args)}` printed a secret value"
    assert plaintext_hits(d.state, [secret, later]) == []
    unit_dir = d.unit_file.parent
    assert _world_readable_hits([d.tree, secrets_dir(d).parent, unit_dir, d.state], secret) == []
    assert _world_readable_hits([d.tree, secrets_dir(d).parent, unit_dir, d.state], later) == []
    everything = subprocess.run(
        ["systemctl", "--user", "show", d.unit], capture_output=True, text=True
    ).stdout
    assert secret not in everything and later not in everything
    cat = subprocess.run(["systemctl", "--user", "cat", d.unit], capture_output=True, text=True).stdout
    assert secret not in cat


# -- 7. render masks values; render and status warn before a lock-out ---------------------------


@pytest.mark.parametrize("delivery", ["environment-file", "environment", "credentials"])
def test_render_masks_secret_values(deployment, delivery):
    values = {
        "DB_PASSWORD": "pw-" + pysecrets.token_urlsafe(24),
        "MULTI": "l1-" + pysecrets.token_hex(8) + "\nline2 %$\"'",
    }
    d = deployment()
    d.sync()
    s = Secrets(d)
    s.set(values)
    d.commit({}, "secrets")
    d.sync()  # deploys the commit (no secrets configured yet)
    d.write_config(s.config(delivery, extra='\n[env.vars]\nPLAIN = "plain-visible"\n'))
    out = d.syncd("render", check=0).stdout
    for value in values.values():
        assert value not in out
        for part in value.splitlines():
            assert part not in out
    assert "DB_PASSWORD" in out and "MULTI" in out
    assert "plain-visible" in out  # plain values are shown
    if delivery == "environment":
        assert 'Environment="DB_PASSWORD=********"' in out
    assert "warning" not in out


def test_render_and_status_warn_when_the_server_key_is_not_a_recipient(deployment):
    d = deployment()
    d.sync()
    s = Secrets(d)
    staging = keygen(d.base / "keys" / "staging.key")
    secret = "only-staging-" + pysecrets.token_urlsafe(16)
    s.path.parent.mkdir(parents=True, exist_ok=True)
    # The developer created the file for the staging key only: production cannot open it.
    secrets_cli(
        "set", str(s.path), "DB_PASSWORD", "--recipient", staging, "--env", "production", value=secret
    )
    d.commit({}, "secrets for the wrong key")
    d.sync()  # the commit is deployed; secrets are not configured yet
    d.write_config(s.config())
    dropin, pid = d.dropin_bytes(), running_pid(d)
    render = d.syncd("render")
    text = render.stdout + render.stderr
    assert "not among its recipients" in text and s.rel in text and s.recipient in text, text
    st = d.status()
    assert any(s.rel in w and "not among its recipients" in w for w in st["warnings"]), st["warnings"]
    status_text = d.syncd("status", check=0).stdout
    assert "warning:" in status_text and "not among its recipients" in status_text
    out = d.sync(check=3)
    assert f"{s.rel}:5: DB_PASSWORD" in out.stdout + out.stderr and "not one of" in out.stdout + out.stderr
    assert d.dropin_bytes() == dropin and running_pid(d) == pid
    assert "not among its recipients" in d.syncd("status", check=0).stdout
    for text in (render.stdout, render.stderr, status_text, out.stdout, out.stderr, json.dumps(st)):
        assert secret not in text
    # Re-encrypted for production too (with the staging key, as the docs say): the warning goes away.
    secrets_cli(
        "recipients", str(s.path), "--add", s.recipient, "--key", str(d.base / "keys" / "staging.key")
    )
    d.commit({}, "add the production recipient")
    d.sync()
    assert d.status()["warnings"] == []
    assert "warning" not in d.syncd("render", check=0).stdout
    assert wait_report(d, lambda r: r["env"].get("DB_PASSWORD") == secret)
