"""The one atomic writer (syncd/fsutil.py) and the secrets file writer built on it."""

from __future__ import annotations

import os
import stat

import pytest

from syncd import fsutil
from syncd.secrets.files import write_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_replaces_with_exactly_the_mode_asked_for_whatever_the_umask(tmp_path):
    path = tmp_path / "status.json"
    path.write_bytes(b"old")
    old_umask = os.umask(0o077)
    try:
        fsutil.atomic_write(path, b"new", 0o644)
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"new"
    assert _mode(path) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]  # no temp file left


def test_atomic_write_that_fails_keeps_the_old_bytes_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "status.json"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        fsutil.atomic_write(path, "not bytes", 0o600)  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]


def test_write_json_round_trips(tmp_path):
    fsutil.write_json(tmp_path / "x.json", {"b": [1, 2], "a": None}, 0o600)
    assert fsutil.read_json(tmp_path / "x.json") == {"a": None, "b": [1, 2]}
    assert _mode(tmp_path / "x.json") == 0o600
    assert fsutil.read_json(tmp_path / "missing.json", []) == []


def test_secrets_file_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "production.secrets"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o640


def test_a_new_secrets_file_gets_0666_minus_the_umask(tmp_path):
    old_umask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.secrets", b"ciphertext")
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "new.secrets") == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["new.secrets"]
