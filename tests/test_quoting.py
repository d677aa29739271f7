"""Drop-in quoting: pure escaping rules, then a real round trip through a systemd user manager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.errors import EnvError
from syncd.render.quoting import (
    HEADER,
    LONG_LINE_MAX,
    check_env_value,
    environment_line,
    quote_value,
    render_dropin,
    validate_env_name,
)

# Values that must reach the service exactly (the list, plus the awkward corners).
ROUND_TRIP = {
    "SPACES": "a b  c",
    "LEADING_TRAILING": "  padded  ",
    "SINGLE_QUOTES": "it's 'quoted'",
    "DOUBLE_QUOTES": 'say "hi" "',
    "BACKSLASHES": r"C:\path\to\x41\n\\share",
    "TRAILING_BACKSLASH": "ends with \\",
    "ONLY_BACKSLASH": "\\",
    "PERCENT": "100% %% %",
    "SPECIFIER": "%n %i %h %%n",
    "DOLLAR": "$HOME $ $$",
    "BRACED": "${X} ${HOME:-default} $(id)",
    "NEWLINES": "line1\nline2\n\nline4\n",
    "CRLF": "dos\r\nline",
    "TABS": "\tcol1\tcol2\t",
    "UTF8": "Ærø – 東京 🩻",
    "EMPTY": "",
    "HASH_SEMICOLON": "# not a comment ; nor this",
    "EQUALS": "a=b=c",
    "CONTROL": "".join(chr(c) for c in range(1, 32)) + "\x7f",
    "C1_AND_LATIN1": "\x80\x85\x9f\xa0\xff",
    "ALL_ASCII": "".join(chr(c) for c in range(1, 128)),
    "BIG": ("0123456789abcdef" * 64 * 100),  # 100 KiB
    "lower_case_name": "x",
    "_UNDERSCORE": "y",
}


# ---- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A", "_", "_A1", "LOG_LEVEL", "lower", "a1_B2"])
def test_valid_names(name):
    assert validate_env_name(name)


@pytest.mark.parametrize("name", ["", "1A", "A-B", "A.B", "A B", "A=B", "Ä", "A\n", "A\x00", "$A", None, 5])
def test_invalid_names(name):
    assert not validate_env_name(name)


# ---- escaping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, quoted",
    [
        ("plain", "plain"),
        ("", ""),
        ("%", "%%"),
        ("%n", "%%n"),
        ("\\", "\\\\"),
        ('"', '\\"'),
        ("'", "'"),
        ("\n", "\\n"),
        ("\t", "\\t"),
        ("\r", "\\x0d"),
        ("\x1b[0m", "\\x1b[0m"),
        ("\x7f", "\\x7f"),
        ("$X ${Y}", "$X ${Y}"),
        ("Ærø 東京 🩻", "Ærø 東京 🩻"),
        ("%\\", "%%\\\\"),  # `%` is doubled, the backslash escaped; neither touches the other
    ],
)
def test_quote_value(value, quoted):
    assert quote_value(value) == quoted


def test_environment_line_shape():
    assert environment_line("A", 'x "y" 5%') == 'Environment="A=x \\"y\\" 5%%"'
    assert environment_line("EMPTY", "") == 'Environment="EMPTY="'


@pytest.mark.parametrize("value", list(ROUND_TRIP.values()), ids=list(ROUND_TRIP))
def test_line_is_one_line_of_printable_text(value):
    line = environment_line("V", value)
    assert "\n" not in line and "\r" not in line
    assert not any(ord(c) < 32 or ord(c) == 0x7F for c in line)
    # The only unescaped double quotes are the two that delimit the word.
    body = line[len('Environment="') : -1]
    unescaped = body.replace("\\\\", "").replace('\\"', "")
    assert '"' not in unescaped


def _c_unescape_then_specifiers(line: str) -> str:
    """A model of systemd's reading of our (always double-quoted) line, to cross-check the escaper."""
    body = line[len('Environment="') : -1]
    out, i = [], 0
    simple = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt == "x":
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(simple[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    text, result, i = "".join(out), [], 0
    while i < len(text):
        if text[i] == "%":
            assert text[i + 1] == "%", "a lone specifier would be expanded"
            result.append("%")
            i += 2
        else:
            result.append(text[i])
            i += 1
    name, _, value = "".join(result).partition("=")
    return value


@pytest.mark.parametrize("value", list(ROUND_TRIP.values()), ids=list(ROUND_TRIP))
def test_model_round_trip(value):
    assert _c_unescape_then_specifiers(environment_line("V", value)) == value


# ---- what systemd would refuse -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, what",
    [
        ("a\x00b", "NUL"),
        ("\ufdd0", "U+FDD0"),
        ("x\ufdefy", "U+FDEF"),
        ("\ufffe", "U+FFFE"),
        ("\uffff", "U+FFFF"),
        ("\U0001fffe", "U+1FFFE"),
        ("\U0010ffff", "U+10FFFF"),
        ("\ud800", "surrogate"),
        ("ok\udcff", "surrogate"),
    ],
)
def test_rejected_characters(value, what):
    with pytest.raises(EnvError) as err:
        check_env_value("SECRET_NAME", "hunter2" + value, source="deploy/prod.env:7")
    message = str(err.value)
    assert "deploy/prod.env:7" in message and "SECRET_NAME" in message and what in message
    assert "hunter2" not in message


@pytest.mark.parametrize("value", ["\ufdcf", "\ufdf0", "\ufffd", "\U0001fffd", "\U0001f9bb", "\ue000"])
def test_neighbours_of_noncharacters_accepted(value):
    check_env_value("A", value)


def test_invalid_name_rejected_with_source():
    with pytest.raises(EnvError, match=r"env\.vars: invalid variable name 'A-B'"):
        check_env_value("A-B", "v", source="env.vars")


def test_value_too_long_for_execve():
    page = os.sysconf("SC_PAGESIZE")
    check_env_value("A", "x" * (32 * page - 3))  # "A=" + value + NUL is exactly the limit
    with pytest.raises(EnvError) as err:
        check_env_value("A", "x" * (32 * page - 2), source="env.vars")
    assert "env.vars: A:" in str(err.value) and "xxxx" not in str(err.value)


def test_line_too_long_for_systemd(monkeypatch):
    # Escaping makes control characters 4x longer; the line limit must be judged after escaping.
    import syncd.render.quoting as quoting

    monkeypatch.setattr(quoting, "_max_exec_string", lambda: 10 * LONG_LINE_MAX)
    prefix = len('Environment="A=') + 1
    check_env_value("A", "y" * (LONG_LINE_MAX - 1 - prefix))  # line of LONG_LINE_MAX - 1 bytes: read
    with pytest.raises(EnvError, match="1048576 bytes or more"):
        check_env_value("A", "y" * (LONG_LINE_MAX - prefix))
    with pytest.raises(EnvError, match="escaped Environment= line"):
        check_env_value("A", "\x01" * (LONG_LINE_MAX // 4))


def test_100k_value_accepted():
    check_env_value("BIG", ROUND_TRIP["BIG"])


# ---- the drop-in ---------------------------------------------------------------------------------


def test_render_dropin_layout():
    data = render_dropin([("B", "2"), ("A", "1 %")], ["EnvironmentFile=/run/syncd/x.env"])
    assert (
        data
        == (
            f'{HEADER}\n[Service]\nEnvironment="B=2"\nEnvironment="A=1 %%"\n'
            "EnvironmentFile=/run/syncd/x.env\n"
        ).encode()
    )
    assert HEADER == "# Managed by syncd: this file is rewritten on every deploy; edits here are lost."


def test_render_dropin_empty():
    assert render_dropin([]) == f"{HEADER}\n[Service]\n".encode()


def test_render_dropin_rejects_bad_pairs():
    with pytest.raises(EnvError, match="1BAD"):
        render_dropin([("1BAD", "x")])
    with pytest.raises(EnvError, match="NUL"):
        render_dropin([("A", "\x00")])
    with pytest.raises(ValueError):
        render_dropin([], ["Environment=A\nB=1"])


# ---- the real thing ------------------------------------------------------------------------------

DUMP = """\
import json, os, sys
with open(sys.argv[1] + ".tmp", "w", encoding="utf-8") as f:
    json.dump(dict(os.environ), f, ensure_ascii=True)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
"""


def _systemctl(*args):
    return subprocess.run(
        ["systemctl", "--user", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def test_round_trip_through_systemd(user_manager, tmp_path):
    os.chmod(tmp_path, 0o755)
    unit = "syncd-test-quoting.service"
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    out = tmp_path / "env.json"
    assert " " not in f"{sys.executable}{script}{out}" and "%" not in f"{sys.executable}{script}{out}"
    unit_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"
    (unit_dir / unit).write_text(f"[Service]\nType=oneshot\nExecStart={sys.executable} {script} {out}\n")
    dropin_dir = unit_dir / f"{unit}.d"
    dropin_dir.mkdir(exist_ok=True)
    (dropin_dir / "50-syncd.conf").write_bytes(render_dropin(list(ROUND_TRIP.items())))
    try:
        assert _systemctl("daemon-reload").returncode == 0
        started = _systemctl("start", unit)
        assert started.returncode == 0, started.stderr
        seen = json.loads(out.read_text(encoding="utf-8"))
        for name, value in ROUND_TRIP.items():
            assert name in seen, f"{name} did not reach the service"
            assert seen[name] == value, f"{name}: {seen[name][:80]!r} != {value[:80]!r}"
        shown = _systemctl("show", "-p", "Environment", unit)
        assert shown.returncode == 0
        for name in ROUND_TRIP:
            assert f"{name}=" in shown.stdout, f"{name} missing from systemctl show -p Environment"
    finally:
        _systemctl("stop", unit)
        (dropin_dir / "50-syncd.conf").unlink()
        dropin_dir.rmdir()
        (unit_dir / unit).unlink()
        _systemctl("daemon-reload")
