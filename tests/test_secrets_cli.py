"""`python -m syncd secrets ...` in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.secrets import plain, read_secrets

PYTHON = sys.executable
SECRET = "LONG-" + pysecrets.token_urlsafe(64)


def cli(*args, stdin: bytes | None = None, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("VISUAL", "EDITOR")}
    full_env.update(env or {})
    return subprocess.run(
        [PYTHON, "-m", "syncd", "secrets", *map(str, args)],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=full_env,
        cwd=cwd,
    )


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def keygen(path: Path) -> str:
    proc = ok(cli("keygen", "--out", path))
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("syncd1:")
    return lines[0]


@pytest.fixture
def world(tmp_path):
    """Two keys (production, recovery) and a file with three values sealed to both."""
    keys = tmp_path / "keys"
    keys.mkdir()
    w = {
        "p_key": keys / "prod.key",
        "r_key": keys / "recovery.key",
        "file": tmp_path / "repo" / "prod.env.enc",
    }
    w["file"].parent.mkdir()
    w["p"], w["r"] = keygen(w["p_key"]), keygen(w["r_key"])
    ok(
        cli(
            "set",
            w["file"],
            "A",
            "alpha",
            "--env",
            "production",
            "--recipient",
            w["p"],
            "--recipient",
            w["r"],
        )
    )
    ok(cli("set", w["file"], "B", "bravo"))
    ok(cli("set", w["file"], "C", "charlie"))
    return w


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def line_index(path: Path, name: str) -> int:
    return next(i for i, line in enumerate(lines(path)) if line.startswith(name.encode() + b"="))


def changed_lines(before: list[bytes], after: list[bytes]) -> list[int]:
    assert len(before) == len(after)
    return [i for i, (x, y) in enumerate(zip(before, after)) if x != y]


# ---- keygen --------------------------------------------------------------------------------


def test_keygen_prints_only_the_recipient_and_refuses_to_overwrite(tmp_path):
    key = tmp_path / "k.key"
    recipient = keygen(key)
    assert key.stat().st_mode & 0o777 == 0o600
    assert recipient in key.read_text()
    before = key.read_bytes()
    proc = cli("keygen", "--out", key)
    assert proc.returncode == 2 and b"refusing to overwrite" in proc.stderr and proc.stdout == b""
    assert key.read_bytes() == before


# ---- set / unset / show -------------------------------------------------------------------


def test_set_needs_only_the_public_recipient(tmp_path):
    key = tmp_path / "elsewhere" / "prod.key"
    key.parent.mkdir()
    recipient = keygen(key)
    key.rename(tmp_path / "server-only.key")  # the developer has no private key at all
    file = tmp_path / "prod.env.enc"
    ok(cli("set", file, "DB_PASSWORD", SECRET, "--env", "production", "--recipient", recipient))
    proc = ok(cli("set", file, "API_TOKEN", stdin=SECRET.encode() + b"\n"))
    assert SECRET.encode() not in proc.stdout + proc.stderr
    assert SECRET.encode() not in file.read_bytes()
    assert read_secrets(file, tmp_path / "server-only.key") == {
        "DB_PASSWORD": SECRET,
        "API_TOKEN": SECRET + "\n",
    }


def test_set_from_stdin_keeps_exact_bytes(world):
    value = "multi\nline \"q\" 'q' $x %h # \\ Grüße  \n"
    proc = ok(cli("set", world["file"], "PEM", stdin=value.encode()))
    assert proc.stdout == b""
    shown = ok(cli("show", world["file"], "PEM", "--key", world["p_key"])).stdout
    assert shown == value.encode()


def test_set_replaces_only_its_line_and_appends_new_names(world):
    before = lines(world["file"])
    ok(cli("set", world["file"], "B", "new bravo"))
    after = lines(world["file"])
    assert changed_lines(before, after) == [line_index(world["file"], "B")]
    ok(cli("set", world["file"], "D", "delta"))
    assert lines(world["file"])[:-1] == after and lines(world["file"])[-1].startswith(b"D=v1:")
    assert read_secrets(world["file"], world["r_key"]) == {
        "A": "alpha",
        "B": "new bravo",
        "C": "charlie",
        "D": "delta",
    }


def test_set_keeps_the_file_mode(world):
    os.chmod(world["file"], 0o640)
    ok(cli("set", world["file"], "B", "x"))
    assert world["file"].stat().st_mode & 0o777 == 0o640


def test_unset_removes_only_its_line(world):
    before = lines(world["file"])
    index = line_index(world["file"], "B")
    ok(cli("unset", world["file"], "B"))
    assert lines(world["file"]) == before[:index] + before[index + 1 :]
    proc = cli("unset", world["file"], "B")
    assert proc.returncode == 2 and b"no variable B" in proc.stderr


def test_show_all_prints_reparseable_text(world):
    ok(cli("set", world["file"], "Q", 'a "quoted"\nvalue\\'))
    out = ok(cli("show", world["file"], "--key", world["p_key"])).stdout.decode()
    assert plain.parse(out) == {"A": "alpha", "B": "bravo", "C": "charlie", "Q": 'a "quoted"\nvalue\\'}


def test_set_rejects_bad_input(world, tmp_path):
    for args, needle in (
        (("set", world["file"], "1BAD", "x"), b"invalid variable name"),
        (("set", tmp_path / "new.enc", "A", "x"), b"--recipient"),
        (
            ("set", tmp_path / "new.enc", "A", "x", "--env", "prod", "--recipient", "syncd1:nope"),
            b"bad recipient",
        ),
        (("set", world["file"], "A", "x", "--env", "staging"), b"not 'staging'"),
        (
            ("set", world["file"], "A", "x", "--recipient", keygen(tmp_path / "third.key")),
            b"recipients FILE --add",
        ),
    ):
        before = world["file"].read_bytes()
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in proc.stderr, proc.stderr
        assert world["file"].read_bytes() == before
    assert not (tmp_path / "new.enc").exists()


# ---- recipients ---------------------------------------------------------------------------


def test_recipients_list_add_remove(world, tmp_path):
    listed = ok(cli("recipients", world["file"])).stdout.decode().split()
    assert listed == [world["p"], world["r"]]
    staging_key = tmp_path / "staging.key"
    staging = keygen(staging_key)
    before = lines(world["file"])
    ok(cli("recipients", world["file"], "--add", staging, "--key", world["p_key"]))
    after = lines(world["file"])
    # the header gains one line; every value line is re-sealed, comments stay
    assert len(after) == len(before) + 1 and f"#: recipient {staging}\n".encode() in after
    assert read_secrets(world["file"], staging_key) == {"A": "alpha", "B": "bravo", "C": "charlie"}

    proc = ok(cli("recipients", world["file"], "--remove", world["p"], "--key", world["r_key"]))
    assert b"rotate" in proc.stderr
    assert ok(cli("recipients", world["file"])).stdout.decode().split() == [world["r"], staging]
    denied = cli("show", world["file"], "--key", world["p_key"])
    assert denied.returncode == 2 and b"not one of" in denied.stderr and b"alpha" not in denied.stdout
    for key in (world["r_key"], staging_key):
        assert read_secrets(world["file"], key) == {"A": "alpha", "B": "bravo", "C": "charlie"}

    for args in (("--remove", world["p"]), ("--add", staging), ("--remove", world["r"], "--remove", staging)):
        proc = cli("recipients", world["file"], *args, "--key", world["r_key"])
        assert proc.returncode == 2, args
    assert cli("recipients", world["file"], "--add", world["p"]).returncode == 2  # no --key


# ---- edit ---------------------------------------------------------------------------------

EDITOR = """\
import json, os, sys
path = sys.argv[-1]
with open(os.environ["EDIT_RECORD"], "w") as out:
    json.dump({"path": path, "mode": os.stat(path).st_mode & 0o777,
               "dir_mode": os.stat(os.path.dirname(path)).st_mode & 0o777,
               "text": open(path).read()}, out)
if os.environ.get("EDIT_NEW"):
    with open(path, "w") as f:
        f.write(open(os.environ["EDIT_NEW"]).read())
sys.exit(int(os.environ.get("EDIT_EXIT", "0")))
"""


@pytest.fixture
def editor(tmp_path):
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    record = tmp_path / "record.json"

    def run(file, key, new_text: str | None = None, exit_code: int = 0):
        env = {"EDITOR": f"{PYTHON} {script}", "EDIT_RECORD": str(record), "EDIT_EXIT": str(exit_code)}
        if new_text is not None:
            (tmp_path / "new.txt").write_text(new_text)
            env["EDIT_NEW"] = str(tmp_path / "new.txt")
        proc = cli("edit", file, "--key", key, env=env)
        seen = json.loads(record.read_text())
        assert seen["mode"] == 0o600 and seen["dir_mode"] == 0o700
        assert not os.path.exists(seen["path"]) and not os.path.exists(os.path.dirname(seen["path"]))
        return proc, seen

    return run


def test_edit_rewrites_only_changed_lines(world, editor):
    ok(cli("set", world["file"], "M", "keep\nme"))
    before = lines(world["file"])
    new = plain.dump({"A": "alpha", "B": "bravo edited", "M": "keep\nme", "E": "echo"})
    proc, seen = editor(world["file"], world["p_key"], new)
    assert proc.returncode == 0, proc.stderr
    assert plain.parse(seen["text"]) == {"A": "alpha", "B": "bravo", "C": "charlie", "M": "keep\nme"}
    after = lines(world["file"])
    b, c = line_index_in(before, "B"), line_index_in(before, "C")
    expected_same = [line for i, line in enumerate(before) if i not in (b, c)]
    assert [line for line in after if not line.startswith((b"B=", b"E="))] == expected_same
    assert after[-1].startswith(b"E=") and after[b].startswith(b"B=") and after[b] != before[b]
    assert read_secrets(world["file"], world["r_key"]) == {
        "A": "alpha",
        "B": "bravo edited",
        "M": "keep\nme",
        "E": "echo",
    }


def line_index_in(content: list[bytes], name: str) -> int:
    return next(i for i, line in enumerate(content) if line.startswith(name.encode() + b"="))


def test_edit_without_changes_leaves_bytes_alone(world, editor):
    before = world["file"].read_bytes()
    proc, _ = editor(world["file"], world["p_key"])
    assert proc.returncode == 0 and world["file"].read_bytes() == before


def test_edit_parse_error_or_editor_failure_changes_nothing(world, editor):
    before = world["file"].read_bytes()
    proc, _ = editor(world["file"], world["p_key"], f'A="{SECRET}\n')  # unclosed quote
    assert proc.returncode == 2 and b"unchanged" in proc.stderr and b"line 1" in proc.stderr
    assert SECRET.encode() not in proc.stdout + proc.stderr
    proc, _ = editor(world["file"], world["p_key"], plain.dump({"A": "zzz"}), exit_code=1)
    assert proc.returncode == 2 and b"editor exited" in proc.stderr
    assert world["file"].read_bytes() == before


# ---- failures never print a secret --------------------------------------------------------


def test_failing_commands_never_print_the_secret(world, tmp_path, editor):
    ok(cli("set", world["file"], "LONG", SECRET))
    wrong = tmp_path / "wrong.key"
    keygen(wrong)
    tampered = tmp_path / "tampered.env.enc"
    text = world["file"].read_text()
    long_line = next(line for line in text.splitlines() if line.startswith("LONG="))
    tampered.write_text(
        text.replace(long_line, long_line[:40] + ("A" if long_line[40] != "A" else "B") + long_line[41:])
    )
    swapped = tmp_path / "swapped.env.enc"
    a_line = next(line for line in text.splitlines() if line.startswith("A="))
    swapped.write_text(text.replace(long_line, "LONG=" + a_line[2:]).replace(a_line, "A=" + long_line[5:]))
    plaintext = tmp_path / "plain.env.enc"
    plaintext.write_text(text.replace(long_line, f"LONG={SECRET}"))
    failing = [
        cli("show", world["file"], "--key", wrong),
        cli("show", world["file"], "LONG", "--key", wrong),
        cli("show", tampered, "--key", world["p_key"]),
        cli("show", swapped, "--key", world["p_key"]),
        cli("show", plaintext, "--key", world["p_key"]),
        cli("show", world["file"], "--key", tmp_path / "missing.key"),
        cli("set", world["file"], "BAD-NAME", SECRET),
        cli("set", world["file"], "BAD-NAME", stdin=SECRET.encode()),
        cli("set", tmp_path / "absent.enc", "X", SECRET),
        cli("edit", world["file"], "--key", wrong),
        cli("recipients", world["file"], "--add", keygen(tmp_path / "x.key"), "--key", wrong),
    ]
    for proc in failing:
        assert proc.returncode == 2, proc.args
        assert SECRET.encode() not in proc.stdout + proc.stderr, proc.args
        assert proc.stderr.strip(), proc.args
    tampered_msg = failing[2].stderr.decode()
    assert f"{tampered}:{text.splitlines().index(long_line) + 1}: LONG:" in tampered_msg
    swapped_msg = failing[3].stderr.decode()
    assert f"{swapped}:{text.splitlines().index(a_line) + 1}: A:" in swapped_msg


def test_set_creates_a_file_with_only_a_recipient(tmp_path):
    """The spec's form: `secrets set FILE NAME VALUE --recipient R`; the label defaults to the file name."""
    key = tmp_path / "server.key"
    recipient = cli("keygen", "--out", key).stdout.decode().strip()
    enc = tmp_path / "production.env.enc"
    proc = cli("set", enc, "TOKEN", "abc", "--recipient", recipient)
    assert proc.returncode == 0, proc.stderr
    assert "#: env production" in enc.read_text()
    assert cli("show", enc, "TOKEN", "--key", key).stdout == b"abc"


def test_rewriting_a_secrets_file_as_root_keeps_its_owner_and_mode(tmp_path, service_user):
    """`syncd secrets set` run as root in a developer's checkout leaves no root-owned file behind."""
    from syncd.secrets.files import write_atomic

    path = tmp_path / "production.secrets"
    path.write_bytes(b"old")
    os.chown(path, service_user.pw_uid, service_user.pw_gid)
    os.chmod(path, 0o640)
    write_atomic(path, b"new")
    st = os.stat(path)
    assert path.read_bytes() == b"new"
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (service_user.pw_uid, service_user.pw_gid, 0o640)
