"""The one helper that runs programs as the tree's owner (syncd/runas.py): exactly the owner's
ids, groups, no capabilities and a minimal environment, whichever way it starts the program; a
program that cannot start is an OSError, as subprocess says it."""

from __future__ import annotations

import os
import subprocess

import pytest

from syncd import runas


@pytest.fixture(autouse=True)
def _as_root():
    if os.geteuid() != 0:
        pytest.fail("runas tests need root (they switch to a real system user)")


@pytest.fixture(params=["setpriv", "fork"])
def who(request, service_user, monkeypatch):
    """Both ways of becoming the owner: util-linux's setpriv (vforked), or Python's fork when the
    system has no setpriv."""
    if request.param == "fork":
        monkeypatch.setattr(runas, "_setpriv", lambda: None)
    else:
        assert runas._setpriv(), "util-linux's setpriv is on every Debian"
    return runas.identity_for(service_user.pw_uid, service_user.pw_gid)


def _status(text: str) -> dict[str, list[str]]:
    return {k: v.split() for k, _, v in (line.partition(":") for line in text.splitlines())}


def _expect_owner(status: dict[str, list[str]], who: runas.Identity) -> None:
    assert status["Uid"] == [str(who.uid)] * 4  # real, effective, saved, filesystem: no way back
    assert status["Gid"] == [str(who.gid)] * 4
    assert sorted(map(int, status["Groups"])) == sorted(set(who.groups))
    for caps in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(status[caps][0], 16) == 0, caps


def test_run_gives_the_owner_ids_groups_and_no_capabilities(who, workdir):
    done = runas.run(who, ["cat", "/proc/self/status"], cwd=workdir, timeout=10)
    assert done.returncode == 0
    _expect_owner(_status(done.stdout.decode()), who)


def test_spawn_gives_the_owner_ids_groups_and_no_capabilities(who, workdir):
    out = workdir / "status"
    with open(out, "wb") as sink:
        proc = runas.spawn(who, ["cat", "/proc/self/status"], cwd=workdir, stdout=sink)
        assert proc.wait(10) == 0
    _expect_owner(_status(out.read_text()), who)


def test_the_environment_is_minimal_and_the_session_new(who, workdir, monkeypatch):
    monkeypatch.setenv("GIT_DIR", "/root/elsewhere")
    monkeypatch.setenv("SYNCD_SECRET_LOOKING", "x")
    done = runas.run(who, ["sh", "-c", "env; echo sid=$(ps -o sid= -p $$)"], cwd=workdir, timeout=10)
    lines = done.stdout.decode().split()
    names = {line.split("=", 1)[0] for line in lines if "=" in line} - {"sid", "PWD", "SHLVL", "_"}
    assert names == {"PATH", "HOME", "LANG", "USER", "LOGNAME"}
    sid = next(line for line in lines if line.startswith("sid="))
    assert sid != f"sid={os.getsid(0)}"


def test_a_program_that_does_not_exist_is_an_oserror(who, workdir):
    with pytest.raises(FileNotFoundError):
        runas.run(who, ["no-such-program-here"], cwd=workdir, timeout=10)
    with pytest.raises(FileNotFoundError):
        runas.run(who, [str(workdir / "missing.sh")], cwd=workdir, timeout=10)
    with pytest.raises(FileNotFoundError):
        runas.spawn(who, ["no-such-program-here"], cwd=workdir)


def test_a_program_the_owner_may_not_execute_is_a_permission_error(who, workdir):
    script = workdir / "root-only.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o700)  # root may run it; the owner may not
    workdir.chmod(0o755)
    with pytest.raises(PermissionError):
        runas.run(who, [str(script)], cwd=workdir, timeout=10)


def test_exit_codes_and_output_of_the_program_come_back(who, workdir):
    done = runas.run(who, ["sh", "-c", "echo out; echo err >&2; exit 127"], cwd=workdir, timeout=10)
    assert (done.returncode, done.stdout, done.stderr) == (127, b"out\n", b"err\n")


def test_a_timeout_kills_everything_the_program_started(who, workdir):
    marker = workdir / "grandchild.pid"
    workdir.chmod(0o777)
    with pytest.raises(runas.TimedOut):
        runas.run(who, ["sh", "-c", f"sleep 60 & echo $! > {marker}; wait"], cwd=workdir, timeout=1)
    pid = int(marker.read_text())
    gone = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
    assert gone.strip() in ("", "Z")


def test_a_path_of_the_caller_is_searched_as_before(who, workdir):
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "cat"  # shadows /usr/bin/cat for this call only
    tool.write_text("#!/bin/sh\necho shadowed\n")
    tool.chmod(0o755)
    path = f"{bin_dir}:{runas.SAFE_PATH}"
    done = runas.run(who, ["cat", "/dev/null"], cwd=workdir, timeout=10, extra_env={"PATH": path})
    assert done.stdout == b"shadowed\n"
