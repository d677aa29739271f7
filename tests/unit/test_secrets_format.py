"""The secrets file format and the API the deploy uses (pure logic: no systemd needed)."""

from __future__ import annotations

import secrets as pysecrets
from pathlib import Path

import pytest

from syncd.errors import SecretsError, UsageError
from syncd.secrets import (
    format as fmt,
    key_recipient,
    load_file,
    plain,
    read_secrets,
    recipients_of,
    seal_value,
)
from syncd.secrets.files import write_atomic
from syncd.secrets.keys import decode_recipient, generate_key_file

VALUES = {
    "EMPTY": "",
    "SPACES": "  padded  ",
    "NEWLINES": "line1\nline2\n\nline4\n",
    "QUOTES": "it's \"quoted\" ''",
    "BACKSLASH": "C:\\dir\\n\\\\ end\\",
    "PERCENT": "100% %h %%",
    "DOLLAR": "$HOME ${X} `id`",
    "HASH": "# not a comment #",
    "CRLF": "a\r\nb",
    "UTF8": "Grüße 日本語 🙂",
    "BIG": pysecrets.token_urlsafe(48 * 1024)[: 64 * 1024].ljust(64 * 1024, "x"),
}


@pytest.fixture
def keys(tmp_path):
    """Two key pairs: production (p) and recovery (r)."""
    made = {}
    for label in ("p", "r", "other"):
        path = tmp_path / f"{label}.key"
        made[label] = (path, generate_key_file(path))
    return made


def make_file(path: Path, env: str, recipients: list[str], values: dict[str, str]) -> Path:
    secrets = fmt.new_file(str(path), env, recipients)
    for name, value in values.items():
        seal_value(secrets, name, value)
    write_atomic(path, secrets.to_bytes())
    return path


def line_of(path: Path, name: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith(name + "="):
            return number
    raise AssertionError(name)


def assert_rejected(
    path: Path,
    key: Path,
    number: int,
    name: str | None,
    *,
    display: str = "deploy/x.env.enc",
    secret: str | None = None,
) -> str:
    with pytest.raises(SecretsError) as info:
        read_secrets(path, key, display=display)
    message = str(info.value)
    assert message.startswith(f"{display}:{number}:"), message
    if name:
        assert f": {name}:" in message, message
    if secret:
        assert secret not in message
    return message


# ---- round trips --------------------------------------------------------------------------


def test_every_kind_of_value_round_trips_for_each_recipient(tmp_path, keys):
    path = make_file(tmp_path / "f.enc", "production", [keys["p"][1], keys["r"][1]], VALUES)
    for label in ("p", "r"):
        got = read_secrets(path, keys[label][0])
        assert got == VALUES
        assert list(got) == list(VALUES)  # file order


def test_key_file_mode_and_recipient(keys):
    path, recipient = keys["p"]
    assert path.stat().st_mode & 0o777 == 0o600
    assert key_recipient(path) == recipient
    assert len(decode_recipient(recipient)) == 32
    with pytest.raises(UsageError, match="already exists"):
        generate_key_file(path)  # never overwrites


def test_recipients_of_lists_header_in_order(tmp_path, keys):
    path = make_file(tmp_path / "f.enc", "staging", [keys["r"][1], keys["p"][1]], {"A": "1"})
    assert recipients_of(path) == [keys["r"][1], keys["p"][1]]


def test_put_changes_only_the_touched_line(tmp_path, keys):
    path = make_file(tmp_path / "f.enc", "production", [keys["p"][1]], {"A": "1", "B": "2", "C": "3"})
    before = path.read_bytes().splitlines(keepends=True)
    secrets = load_file(path)
    seal_value(secrets, "B", "changed")
    after = secrets.to_bytes().splitlines(keepends=True)
    assert len(after) == len(before)
    diff = [i for i, (x, y) in enumerate(zip(before, after)) if x != y]
    assert diff == [line_of(path, "B") - 1]
    secrets.remove("A")
    assert secrets.to_bytes() == b"".join(line for i, line in enumerate(after) if i != line_of(path, "A") - 1)


def test_unchanged_file_serializes_to_identical_bytes(tmp_path, keys):
    path = make_file(tmp_path / "f.enc", "production", [keys["p"][1]], {"A": "1"})
    data = path.read_bytes() + b"# a trailing comment without newline"
    assert fmt.parse(data, "x").to_bytes() == data


def test_crlf_checkout_still_reads(tmp_path, keys):
    path = make_file(tmp_path / "f.enc", "production", [keys["p"][1]], {"A": "x y", "B": ""})
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert read_secrets(path, keys["p"][0]) == {"A": "x y", "B": ""}


def test_plain_text_round_trips_every_value():
    assert plain.parse(plain.dump(VALUES)) == VALUES
    assert plain.parse('A=rest of line  \n# c\n\nB="x\\"y\\\\"\n') == {"A": "rest of line  ", "B": 'x"y\\'}
    for bad, where in (
        ('A="open\n', 1),
        ("nonsense\n", 1),
        ('\nA="\\q"\n', 2),
        ("A=1\nA=2\n", 2),
        ('A="x" tail\n', 1),
        ("1A=x\n", 1),
    ):
        with pytest.raises(plain.PlainError) as info:
            plain.parse(bad)
        assert info.value.line == where


# ---- rejections: file, line and variable named, value never shown -------------------------

SECRET = "s3cr3t-" + pysecrets.token_hex(24)


@pytest.fixture
def prod(tmp_path, keys):
    return make_file(
        tmp_path / "prod.env.enc",
        "production",
        [keys["p"][1], keys["r"][1]],
        {"FIRST": "one", "DB_PASSWORD": SECRET, "LAST": "three"},
    )


def test_wrong_key_is_rejected(prod, keys):
    message = assert_rejected(prod, keys["other"][0], line_of(prod, "FIRST"), "FIRST", secret=SECRET)
    assert "not one of" in message and str(keys["other"][0]) in message


def test_missing_or_garbage_key_is_rejected(prod, tmp_path):
    assert_rejected(prod, tmp_path / "absent.key", line_of(prod, "FIRST"), "FIRST")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("SYNCD-SECRET-KEY-1:abc\n")
    assert_rejected(prod, garbage, line_of(prod, "FIRST"), "FIRST")


def _rewrite_line(path: Path, name: str, change) -> None:
    lines = path.read_text().splitlines(keepends=True)
    number = line_of(path, name)
    lines[number - 1] = change(lines[number - 1])
    path.write_text("".join(lines))


def test_flipped_byte_is_rejected(prod, keys):
    def flip(line: str) -> str:
        name, _, rest = line.partition("=")
        i = len(rest) // 4  # inside the first sealed copy (the production key's)
        return f"{name}={rest[:i]}{'A' if rest[i] != 'A' else 'B'}{rest[i + 1 :]}"

    _rewrite_line(prod, "DB_PASSWORD", flip)
    assert_rejected(prod, keys["p"][0], line_of(prod, "DB_PASSWORD"), "DB_PASSWORD", secret=SECRET)
    # the recovery key's copy is intact: it still opens, so the damage is exactly located
    assert read_secrets(prod, keys["r"][0])["DB_PASSWORD"] == SECRET


def test_ciphertexts_swapped_between_names_are_rejected(prod, keys):
    first = prod.read_text().splitlines()[line_of(prod, "FIRST") - 1].partition("=")[2]
    secret = prod.read_text().splitlines()[line_of(prod, "DB_PASSWORD") - 1].partition("=")[2]
    _rewrite_line(prod, "FIRST", lambda line: f"FIRST={secret}\n")
    _rewrite_line(prod, "DB_PASSWORD", lambda line: f"DB_PASSWORD={first}\n")
    assert_rejected(prod, keys["p"][0], line_of(prod, "FIRST"), "FIRST", secret=SECRET)


def test_value_moved_to_another_environment_is_rejected(prod, keys, tmp_path):
    staging = make_file(tmp_path / "staging.env.enc", "staging", [keys["p"][1], keys["r"][1]], {"X": "1"})
    moved = prod.read_text().splitlines()[line_of(prod, "DB_PASSWORD") - 1]
    staging.write_text(staging.read_text() + moved + "\n")
    assert_rejected(staging, keys["p"][0], line_of(staging, "DB_PASSWORD"), "DB_PASSWORD", secret=SECRET)


def test_truncated_line_is_rejected_wherever_it_is_cut(prod, keys):
    original = prod.read_text()
    number = line_of(prod, "DB_PASSWORD")
    line = original.splitlines()[number - 1]
    for cut in range(len("DB_PASSWORD="), len(line), 7):
        lines = original.splitlines(keepends=True)
        lines[number - 1] = line[:cut] + "\n"
        prod.write_text("".join(lines))
        assert_rejected(prod, keys["p"][0], number, "DB_PASSWORD", secret=SECRET)
    # a file cut in the middle of its last line
    prod.write_text(original[: original.index("LAST=") + 30])
    assert_rejected(prod, keys["p"][0], line_of(prod, "LAST"), "LAST")


def test_unknown_version_is_rejected(prod, keys):
    _rewrite_line(prod, "DB_PASSWORD", lambda line: line.replace("=v1:", "=v7:"))
    message = assert_rejected(prod, keys["p"][0], line_of(prod, "DB_PASSWORD"), "DB_PASSWORD")
    assert "unknown version 'v7'" in message


def test_plaintext_pasted_into_the_file_is_rejected_without_echo(prod, keys):
    _rewrite_line(prod, "DB_PASSWORD", lambda line: f"DB_PASSWORD={SECRET}\n")
    assert_rejected(prod, keys["p"][0], line_of(prod, "DB_PASSWORD"), "DB_PASSWORD", secret=SECRET)
    _rewrite_line(prod, "DB_PASSWORD", lambda line: f"DB_PASSWORD=v1:{SECRET}\n")
    assert_rejected(prod, keys["p"][0], line_of(prod, "DB_PASSWORD"), "DB_PASSWORD", secret=SECRET)


def test_malformed_line_is_rejected_without_echo(prod, keys):
    number = line_of(prod, "DB_PASSWORD")
    _rewrite_line(prod, "DB_PASSWORD", lambda line: SECRET + "\n")
    message = assert_rejected(prod, keys["p"][0], number, None, secret=SECRET)
    assert "malformed" in message


def test_invalid_variable_name_is_rejected(prod, keys):
    number = line_of(prod, "LAST")
    _rewrite_line(prod, "LAST", lambda line: "9LAST" + line[4:])
    assert "invalid variable name" in assert_rejected(prod, keys["p"][0], number, None)


def test_duplicate_name_is_rejected(prod, keys):
    text = prod.read_text()
    dup = text.splitlines()[line_of(prod, "FIRST") - 1]
    prod.write_text(text + dup + "\n")
    message = assert_rejected(prod, keys["p"][0], len(text.splitlines()) + 1, "FIRST")
    assert "duplicate" in message


def test_header_problems_are_rejected(prod, keys):
    text = prod.read_text()
    prod.write_text(text.replace("#: syncd-secrets 1", "#: syncd-secrets 2"))
    assert_rejected(prod, keys["p"][0], 1, None)
    prod.write_text(text.replace("#: env production\n", ""))
    with pytest.raises(SecretsError, match="no '#: env LABEL' line"):
        read_secrets(prod, keys["p"][0])
    prod.write_text(text.replace("#: recipient syncd1:", "#: recipient syncd2:", 1))
    assert_rejected(prod, keys["p"][0], 3, None)
    prod.write_text(text.replace("#: env production\n", "#: env production\n#: flavour x\n"))
    assert "unknown '#:' directive" in assert_rejected(prod, keys["p"][0], 3, None)


def test_recipient_removed_from_header_only_is_rejected(prod, keys):
    """Hand-editing the header without re-encrypting leaves copies that no longer line up."""
    text = prod.read_text()
    prod.write_text(text.replace(f"#: recipient {keys['r'][1]}\n", ""))
    assert "sealed copies" in assert_rejected(prod, keys["p"][0], line_of(prod, "FIRST"), "FIRST")
