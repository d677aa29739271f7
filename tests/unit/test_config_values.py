"""The value parsers of syncd/config/values.py (one per kind of value, used by the config and by the
code that later uses the value), and the keys derived from the dataclasses."""

from __future__ import annotations

import grp
import pwd
from pathlib import Path

import pytest

from syncd.config import KEYS, SECTIONS, Config, load_config
from syncd.config.model import OPTIONAL_SECTIONS, SECTION_CLASSES
from syncd.config.sections import PARSERS
from syncd.config.values import (
    ENV_NAME_PATTERN,
    bad_ref_name,
    is_ae_title,
    is_env_name,
    parse_dicom_target,
    parse_host_port,
    parse_owner,
    web_url,
)
from syncd.errors import ConfigError
from syncd.records import fields

MINIMAL = '[repo]\npath = "/opt/pipeline"\n\n[service]\nunit = "pipeline.service"\n'


def config_error(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "syncd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    return info.value


def _unused_id(taken: set[int]) -> int:
    return next(n for n in range(61234, 65000) if n not in taken)


# --- host:port --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, host, port",
    [
        ("127.0.0.1:11112", "127.0.0.1", 11112),
        ("localhost:1", "localhost", 1),
        ("db.example.org:65535", "db.example.org", 65535),
        ("[::1]:104", "::1", 104),
        ("[fe80::1]:8080", "fe80::1", 8080),
        ("host:00080", "host", 80),
    ],
)
def test_host_port_good(text, host, port):
    assert parse_host_port(text) == (host, port)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "localhost",
        ":104",
        "host:",
        "host:0",
        "host:65536",
        "host:123456",
        "host:-1",
        "host:+80",
        "host:\u0661\u0660\u0664",  # Arabic-Indic digits
        "::1:104",  # IPv6 without brackets
        "[::1]",
        "[]:104",
        "[not-v6]:104",
        "my host:104",
        "a/b:104",
        "user@host:104",
        "host:104 ",
    ],
)
def test_host_port_bad(text):
    with pytest.raises(ValueError, match=r"expected .*port 1-65535; IPv6 as \[::1\]:port"):
        parse_host_port(text)


@pytest.mark.parametrize(
    "section, key, expected",
    [
        ("health", "tcp", '"host:port", e.g. "127.0.0.1:11112"'),
        ("notify", "smtp", '"host:port" of a mail relay'),
        ("metrics", "listen", '"address:port", e.g. "127.0.0.1:9469"'),
    ],
)
def test_host_port_keys_name_key_line_and_expectation(tmp_path, section, key, expected):
    err = config_error(tmp_path, MINIMAL + f'\n[{section}]\n{key} = "localhost:99999"\n')
    assert err.key == f"{section}.{key}"
    assert expected in str(err) and "port 1-65535" in str(err) and "(line 8)" in str(err)


# --- AE title and DICOM target -----------------------------------------------------------------------


@pytest.mark.parametrize("title", ["A", "PIPELINE", "ABCDEFGHIJKLMNOP", "MY AE", " X", "A@B", "a-b_c.d"])
def test_ae_title_good(title):
    assert is_ae_title(title)


@pytest.mark.parametrize(
    "title", ["", " ", " " * 16, "ABCDEFGHIJKLMNOPQ", "BACK\\SLASH", "TAB\tX", "DEL\x7f", "ÄE", None]
)
def test_ae_title_bad(title):
    assert not is_ae_title(title)


def test_dicom_target_good():
    assert parse_dicom_target("PIPELINE@127.0.0.1:11112") == ("PIPELINE", "127.0.0.1", 11112)
    assert parse_dicom_target("A@B@[::1]:104") == ("A@B", "::1", 104)  # the last "@" ends the title


@pytest.mark.parametrize(
    "text, message",
    [
        ("127.0.0.1:11112", "AETITLE@host:port"),
        ("@127.0.0.1:11112", "AE title '': expected 1 to 16"),
        ("ABCDEFGHIJKLMNOPQ@127.0.0.1:11112", "1 to 16 printable ASCII"),
        ("PIPE@127.0.0.1", "AETITLE@host:port.*port 1-65535.*got '127.0.0.1'"),
        ("PIPE@host:0", "port 1-65535"),
    ],
)
def test_dicom_target_bad(text, message):
    with pytest.raises(ValueError, match=message):
        parse_dicom_target(text)


def test_dicom_echo_key_names_key_and_line(tmp_path):
    err = config_error(tmp_path, MINIMAL + '\n[health]\ntimeout = 5\ndicom_echo = "BACK\\\\SLASH@h:104"\n')
    assert err.key == "health.dicom_echo" and "no backslash" in str(err) and "(line 9)" in str(err)


# --- owner --------------------------------------------------------------------------------------------


def test_owner_good():
    root_group = grp.getgrgid(0).gr_name
    assert parse_owner("root") == (0, pwd.getpwnam("root").pw_gid)
    assert parse_owner(f"root:{root_group}") == (0, 0)
    assert parse_owner("0") == (0, pwd.getpwuid(0).pw_gid)
    assert parse_owner("0:0") == (0, 0)
    uid = _unused_id({p.pw_uid for p in pwd.getpwall()})
    gid = _unused_id({g.gr_gid for g in grp.getgrall()})
    assert parse_owner(f"{uid}:{gid}") == (uid, gid)  # ids that name no account: taken as ids


@pytest.mark.parametrize(
    "owner, message",
    [
        ("", 'expected "user" or "user:group"'),
        (":root", 'expected "user" or "user:group"'),
        ("root:", 'expected "user" or "user:group"'),
        ("root:root:root", 'expected "user" or "user:group"'),
        ("no-such-user-syncd", "no user named 'no-such-user-syncd' on this host"),
        ("root:no-such-group-syncd", "no group named 'no-such-group-syncd' on this host"),
        ("\u0661", "no user named"),  # a digit, but not one anyone means as a uid
    ],
)
def test_owner_bad(owner, message):
    with pytest.raises(ValueError, match=message):
        parse_owner(owner)


def test_owner_uid_without_passwd_entry_needs_a_group():
    uid = _unused_id({p.pw_uid for p in pwd.getpwall()})
    with pytest.raises(ValueError, match=f'no passwd entry, so no primary group; write "{uid}:GID"'):
        parse_owner(str(uid))


def test_owner_key_names_key_and_line(tmp_path):
    err = config_error(tmp_path, MINIMAL + 'scope = "system"\nowner = "root:no-such-group-syncd"\n')
    assert err.key == "service.owner" and "no group named" in str(err) and "(line 7)" in str(err)


# --- environment variable names ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A", "_", "_X1", "LOG_LEVEL", "lower", "a1"])
def test_env_name_good(name):
    assert is_env_name(name)


@pytest.mark.parametrize("name", ["", "1A", "MY-VAR", "A B", "A=B", "É", "A\n", None, 1])
def test_env_name_bad(name):
    assert not is_env_name(name)


def test_env_name_pattern_is_the_same_rule():
    import re

    for name in ["A", "_X1", "1A", "MY-VAR", "A\n"]:
        assert (re.fullmatch(ENV_NAME_PATTERN, name) is not None) == is_env_name(name)


@pytest.mark.parametrize(
    "text, key, line",
    [
        ('[env]\nvars = { "MY-VAR" = "x" }\n', "env.vars.MY-VAR", 7),
        ('[env]\n\nrequired = ["OK", "1BAD"]\n', "env.required[1]", 8),
    ],
)
def test_env_name_keys_name_key_and_line(tmp_path, text, key, line):
    err = config_error(tmp_path, MINIMAL + text)
    assert err.key == key and "environment variable name" in str(err) and f"(line {line})" in str(err)


# --- web URLs and ref names -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/healthz", "https://[::1]/x", "https://h.example.org"])
def test_web_url_good(url):
    assert web_url(url)


@pytest.mark.parametrize(
    "url", ["", "ftp://h/x", "http:///x", "http://h:99999/", "http://h:port/", "http://[::1/x", "h:80"]
)
def test_web_url_bad(url):
    assert not web_url(url)


@pytest.mark.parametrize("section, key", [("health", "http"), ("notify", "webhook")])
def test_malformed_ipv6_url_is_a_config_error_not_a_traceback(tmp_path, section, key):
    # urlsplit raises ValueError("Invalid IPv6 URL") itself; it escaped load_config before.
    err = config_error(tmp_path, MINIMAL + f'\n[{section}]\n{key} = "http://[::1/healthz"\n')
    assert err.key == f"{section}.{key}" and "http:// or https:// URL" in str(err) and "(line 8)" in str(err)


@pytest.mark.parametrize("name", ["main", "release/1.0", "feature-x", "v1.2"])
def test_ref_name_good(name):
    assert bad_ref_name(name) is None


@pytest.mark.parametrize("name", ["", "-x", "HEAD", "a b", "a..b", "a.lock", "/a", "a/", "a.", ".a", "a@{1}"])
def test_ref_name_bad(name):
    assert bad_ref_name(name)


# --- keys come from the dataclasses -----------------------------------------------------------------------


def test_sections_and_keys_are_the_dataclass_fields():
    assert SECTIONS == tuple(f.name for f in fields(Config) if f.name != "source")
    for name, cls in SECTION_CLASSES.items():
        assert KEYS[name] == tuple(f.name for f in fields(cls))
    assert KEYS["health"] == ("timeout", "settle", "tcp", "http", "command", "dicom_echo")
    assert OPTIONAL_SECTIONS == {"python"}


def test_every_section_has_a_parser():
    assert set(PARSERS) == set(SECTIONS)


def test_every_key_is_read_by_its_section_parser():
    # The keys come from the fields: a field no parser reads would be accepted and silently ignored.
    import ast
    import inspect

    from syncd.config import sections

    for name in SECTIONS:
        source = inspect.getsource(getattr(sections, name))
        strings = {node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Constant)}
        missing = [key for key in KEYS[name] if key not in strings]
        assert not missing, f"[{name}]: keys never read by syncd/config/sections/{name}.py: {missing}"
