"""Reading plain dotenv files and merging environment sources (pure logic, no systemd)."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.errors import EnvError
from syncd.render.envfiles import merge_environment, read_env_file


def _read(tmp_path: Path, content: str | bytes, display: str = "deploy/prod.env"):
    path = tmp_path / "prod.env"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return read_env_file(path, display)


# ---- dotenv syntax --------------------------------------------------------------------------------


def test_plain_assignments_with_lines(tmp_path):
    assert _read(tmp_path, "A=1\nB=two words\n") == [("A", "1", 1), ("B", "two words", 2)]


def test_export_prefix(tmp_path):
    assert _read(tmp_path, "export X=1\nexport  Y=2\n") == [("X", "1", 1), ("Y", "2", 2)]


def test_single_quoted_is_literal(tmp_path):
    assert _read(tmp_path, "A='lit $HOME \\n %n \"q\"'\n") == [("A", 'lit $HOME \\n %n "q"', 1)]


def test_double_quoted_escapes(tmp_path):
    assert _read(tmp_path, 'A="a\\nb\\t\\"q\\" \\\\ $X"\n') == [("A", 'a\nb\t"q" \\ $X', 1)]


def test_comments_and_blank_lines_keep_line_numbers(tmp_path):
    text = "# header\n\n\n  A=1 # trailing comment\n\n# between\nB=x#not-a-comment\nC= # empty\n"
    assert _read(tmp_path, text) == [("A", "1", 4), ("B", "x#not-a-comment", 7), ("C", "", 8)]


def test_empty_values(tmp_path):
    assert _read(tmp_path, "A=\nB=''\nC=\"\"\n") == [("A", "", 1), ("B", "", 2), ("C", "", 3)]


def test_multiline_double_quoted_value(tmp_path):
    text = 'CERT="-----BEGIN-----\nabc\n-----END-----"\nNEXT=1\n'
    assert _read(tmp_path, text) == [("CERT", "-----BEGIN-----\nabc\n-----END-----", 1), ("NEXT", "1", 4)]


def test_unquoted_value_whitespace_trimmed(tmp_path):
    assert _read(tmp_path, "A =   spaced   \n") == [("A", "spaced", 1)]


def test_crlf_file(tmp_path):
    assert _read(tmp_path, b'A=1\r\nB="x\r\ny"\r\nC=3\r\n') == [
        ("A", "1", 1),
        ("B", "x\ny", 2),
        ("C", "3", 4),
    ]


def test_utf8_and_bom(tmp_path):
    assert _read(tmp_path, "\ufeffCITY=Ærø – 東京 🩻\n") == [("CITY", "Ærø – 東京 🩻", 1)]


def test_duplicate_names_kept_in_file_order(tmp_path):
    assert _read(tmp_path, "A=1\nA=2\n") == [("A", "1", 1), ("A", "2", 2)]


def test_empty_file(tmp_path):
    assert _read(tmp_path, "") == []
    assert _read(tmp_path, "# only a comment\n\n") == []


# ---- errors: file and line, the variable when known, never the value -------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(EnvError, match=r"^deploy/missing\.env: env file not found$"):
        read_env_file(tmp_path / "nope.env", "deploy/missing.env")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(EnvError, match=r"^deploy/dir: env file is a directory$"):
        read_env_file(tmp_path, "deploy/dir")


def test_invalid_utf8_names_file_and_line(tmp_path):
    with pytest.raises(EnvError) as err:
        _read(tmp_path, b"A=1\nPASSWORD=s3cr\xe9t\n")
    assert str(err.value).startswith("deploy/prod.env:2: not valid UTF-8")
    assert "s3cr" not in str(err.value)


def test_unterminated_quote_names_variable_not_value(tmp_path):
    with pytest.raises(EnvError) as err:
        _read(tmp_path, 'A=1\n\nPASSWORD="hunter2\nB=2\n')
    message = str(err.value)
    assert message.startswith("deploy/prod.env:3: PASSWORD: cannot parse")
    assert "hunter2" not in message


def test_text_after_quoted_value(tmp_path):
    with pytest.raises(EnvError) as err:
        _read(tmp_path, 'export TOKEN="abc" trailing-secret\n')
    assert str(err.value).startswith("deploy/prod.env:1: TOKEN: cannot parse")
    assert "abc" not in str(err.value) and "trailing-secret" not in str(err.value)


def test_unparsable_line_without_a_name(tmp_path):
    with pytest.raises(EnvError) as err:
        _read(tmp_path, "A=1\n=oops-value\n")
    assert str(err.value).startswith("deploy/prod.env:2: cannot parse")
    assert "oops-value" not in str(err.value)


@pytest.mark.parametrize(
    "line, name", [("A-B=1", "A-B"), ("1A=1", "1A"), ("A.B=1", "A.B"), ("'A B'=1", "A B"), ("ÄB=1", "ÄB")]
)
def test_invalid_names(tmp_path, line, name):
    with pytest.raises(EnvError) as err:
        _read(tmp_path, f"OK=1\n{line}\n")
    assert str(err.value).startswith(f"deploy/prod.env:2: invalid variable name {name!r}")


def test_name_without_equals(tmp_path):
    with pytest.raises(EnvError, match=r"^deploy/prod\.env:1: FOO: no '='"):
        _read(tmp_path, "FOO\n")


def test_value_systemd_would_refuse(tmp_path):
    with pytest.raises(EnvError) as err:
        _read(tmp_path, 'A=1\nKEY="bad\ufffebad"\n')
    assert str(err.value).startswith("deploy/prod.env:2: KEY: value contains the Unicode noncharacter U+FFFE")
    assert "bad" not in str(err.value).replace("KEY", "")


def test_nul_in_value(tmp_path):
    with pytest.raises(EnvError, match=r"^deploy/prod\.env:1: K: value contains a NUL"):
        _read(tmp_path, b"K=a\x00b\n")


# ---- precedence --------------------------------------------------------------------------------


def test_merge_later_wins_first_position_kept():
    files = [
        ("a.env", [("A", "a1", 1), ("B", "b1", 2), ("C", "c1", 3)]),
        ("b.env", [("B", "b2", 1), ("D", "d2", 2)]),
    ]
    secrets = [("s.env.enc", [("C", "c-secret", 1), ("E", "e-secret", 2)])]
    merged = merge_environment(files + secrets, {"A": "a-var", "F": "f-var"})
    assert merged == [
        ("A", "a-var"),
        ("B", "b2"),
        ("C", "c-secret"),
        ("D", "d2"),
        ("E", "e-secret"),
        ("F", "f-var"),
    ]


def test_merge_duplicates_within_one_file():
    assert merge_environment([("a.env", [("A", "1", 1), ("A", "2", 2)])], {}) == [("A", "2")]


def test_merge_empty():
    assert merge_environment([], {}) == []


def test_merge_empty_string_overrides():
    assert merge_environment([("a.env", [("A", "x", 1)])], {"A": ""}) == [("A", "")]


def test_merge_rejects_invalid_var_names():
    with pytest.raises(EnvError, match=r"^env\.vars: invalid variable name 'BAD-NAME'"):
        merge_environment([], {"BAD-NAME": "x"})


def test_read_then_merge(tmp_path):
    (tmp_path / "one.env").write_text("LOG_LEVEL=debug\nDB_HOST=db1\n")
    (tmp_path / "two.env").write_text("export DB_HOST='db2'\n")
    sources = [(d, read_env_file(tmp_path / d, d)) for d in ("one.env", "two.env")]
    assert merge_environment(sources, {"LOG_LEVEL": "info"}) == [("LOG_LEVEL", "info"), ("DB_HOST", "db2")]
