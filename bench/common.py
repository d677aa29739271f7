"""Shared plumbing for the benchmarks: machine info, result files, tables, and a real deployment.

A benchmark here sets up what tests/conftest.py sets up (a private `systemd --user`, a bare
origin, a server tree owned by a system user, a user unit, a TOML config with scope = "user"),
but sized for timing: repositories of many files are made with `git fast-import`, and the
"manual way" gets an identical second tree and unit so both are measured in the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import pwd
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
SERVICE_USER = os.environ.get("SYNCD_BENCH_USER", "syncd-test")

# Measure syncd as installed: with its bytecode cached. This machine's shell sets
# PYTHONDONTWRITEBYTECODE, which would recompile every module on every run (~20 ms); keep the cache
# outside the source tree so the checkout stays clean.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "syncd-bench-pycache"))

# The developer (root here) commits with a fixed identity and no machine-wide git config.
_GITCONFIG = Path(tempfile.mkdtemp(prefix="syncd-bench-git-")) / "gitconfig"
_GITCONFIG.write_text(
    "[safe]\n\tdirectory = *\n[init]\n\tdefaultBranch = master\n"
    "[user]\n\tname = Dev\n\temail = dev@example.org\n[gc]\n\tauto = 0\n"
)
GIT_ENV = dict(
    os.environ,
    GIT_CONFIG_NOSYSTEM="1",
    GIT_CONFIG_GLOBAL=str(_GITCONFIG),
    GIT_AUTHOR_NAME="Dev",
    GIT_AUTHOR_EMAIL="dev@example.org",
    GIT_COMMITTER_NAME="Dev",
    GIT_COMMITTER_EMAIL="dev@example.org",
)


# -- small helpers -------------------------------------------------------------------------------


def run(argv, *, cwd=None, env=None, input=None, check=True, capture=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        input=input,
        capture_output=capture,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace") if capture else ""
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}: {err[-2000:]}")
    return proc


def git(cwd, *args, input=None, check=True) -> str:
    proc = run(["git", *args], cwd=cwd, env=dict(GIT_ENV, HOME=str(cwd)), input=input, check=check)
    return proc.stdout.decode(errors="replace").strip()


def systemctl(*args, check=True) -> str:
    return run(["systemctl", "--user", *args], check=check).stdout.decode(errors="replace")


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def timed(fn, *a, **kw) -> float:
    t0 = time.perf_counter()
    fn(*a, **kw)
    return time.perf_counter() - t0


def cpu_children() -> float:
    """user+sys of all waited-for children (and theirs) so far, seconds."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# -- machine and results -------------------------------------------------------------------------


def _first_line(argv) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        return out.splitlines()[0] if out else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    commit = _first_line(["git", "-C", str(ROOT), "-c", "safe.directory=*", "rev-parse", "--short", "HEAD"])
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram,
        "kernel": platform.release(),
        "os": _first_line(["sh", "-c", '. /etc/os-release && echo "$PRETTY_NAME"']),
        "python": platform.python_version(),
        "git": _first_line(["git", "--version"]),
        "systemd": _first_line(["systemctl", "--version"]),
        "syncd_commit": commit,
        "loadavg_1m": round(os.getloadavg()[0], 2),  # other work on the machine while measuring
        "date": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
    }


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    # a smoke run or a partial one (some sizes only) never overwrites the figures of a full run
    suffix = "-quick" if data.get("quick") else "-partial" if data.get("partial") else ""
    path = RESULTS / f"{name}{suffix}.json"
    payload = {"benchmark": name, "machine": machine_info(), **data}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"  -> {path.relative_to(ROOT)}")
    return path


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table (readable on a terminal too)."""

    def cell(v):
        if isinstance(v, float):
            if abs(v) < 0.01:
                return f"{v:.4f}"
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    text = [[cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    out = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    out += ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |" for r in text]
    return "\n".join(out)


# -- the environment: systemd --user, a service user ---------------------------------------------


class Env:
    """A private user manager (or the one already reachable) and the service user."""

    def __init__(self):
        from syncd.tools.usermanager import reachable, start_private

        self.base = Path(tempfile.mkdtemp(prefix="syncd-bench-", dir="/var/tmp"))
        os.chmod(self.base, 0o755)
        if os.environ.get("XDG_RUNTIME_DIR") and os.environ.get("XDG_CONFIG_HOME") and reachable():
            self.manager = None
        else:
            self.manager = start_private(self.base / "sd")
            os.environ.update(self.manager.env)
        self.user = service_user()

    def close(self):
        if self.manager is not None:
            self.manager.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def service_user():
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                "--home-dir",
                "/nonexistent",
                "--no-create-home",
                SERVICE_USER,
            ]
        )
        return pwd.getpwnam(SERVICE_USER)


# -- repositories --------------------------------------------------------------------------------

# The pipeline answers on a TCP port once it has read its version: "the new version answers" is
# what both syncd (health.tcp) and the manual way (wait_until_answering) wait for. It sends its
# VERSION to whoever connects, so a watcher from outside can tell the new version from the old one
# (a daemon restarts the unit while the old version still answers).
APP = """\
import os, socket
version = open("VERSION", "rb").read()
server = socket.create_server(("127.0.0.1", int(os.environ["BENCH_PORT"])))
while True:
    conn = server.accept()[0]
    try:
        conn.sendall(version)
    except OSError:  # a probe that connected and left at once
        pass
    conn.close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answer(port: int) -> bytes:
    """Connect, read what the service sends until it closes (its VERSION)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
        chunks = []
        while chunk := conn.recv(4096):
            chunks.append(chunk)
        return b"".join(chunks)


def wait_until_answering(port: int, timeout: float = 30.0, version: str | None = None) -> None:
    """Poll a TCP connect every 5 ms, as a person (or a script) checking that the service is back;
    with `version`, until the service that answers is that version (sends it on connect)."""
    deadline = time.monotonic() + timeout
    expected = None if version is None else version.encode()
    while True:
        try:
            if expected is None:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            if answer(port) == expected:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            what = "nothing answers" if expected is None else f"version {version!r} does not answer"
            raise RuntimeError(f"{what} on port {port} after {timeout:g}s")
        time.sleep(0.005)


def fast_import_repo(bare: Path, files: int) -> None:
    """A bare repo whose master holds `files` small files (1 000 per directory) plus app.py, VERSION."""
    git(bare.parent, "init", "--quiet", "--bare", "--initial-branch=master", str(bare))
    chunks = [
        b"commit refs/heads/master\n",
        b"committer Dev <dev@example.org> 1700000000 +0000\n",
        b"data 8\ninitial\n",
    ]

    def inline(path: str, data: bytes):
        chunks.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")

    inline("app.py", APP.encode())
    inline("VERSION", b"v0\n")
    for i in range(files - 2):
        inline(f"data/d{i // 1000:03d}/f{i:06d}.txt", f"file {i}\n".encode())
    chunks.append(b"\n")
    run(
        ["git", "fast-import", "--quiet"], cwd=bare, env=dict(GIT_ENV, HOME=str(bare)), input=b"".join(chunks)
    )


class Tree:
    """A server working tree (clone of origin, branch `local` with a commit of its own), a unit."""

    def __init__(
        self, env: Env, base: Path, origin: Path, name: str, *, settle: str = "0.2s", extra_config: str = ""
    ):
        self.env, self.base, self.origin, self.name = env, base, origin, name
        self.path = base / name
        self.state = base / f"{name}-state"
        self.config = base / f"{name}.toml"
        self.unit = f"bench-{os.getpid()}-{name}.service"
        self.port = free_port()
        user = env.user.pw_name
        git(base, "clone", "--quiet", str(origin), str(self.path))
        git(self.path, "checkout", "--quiet", "-b", "local")
        (self.path / "local.env").write_text("SITE=production\n")
        git(self.path, "add", "local.env")
        git(self.path, "commit", "--quiet", "-m", "production-only settings")
        run(["chown", "-R", f"{user}:{user}", str(self.path)])
        unit_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"
        self.unit_file = unit_dir / self.unit
        self.unit_file.write_text(
            "[Unit]\nDescription=syncd benchmark pipeline\n# many restarts in a few seconds are the point of a benchmark\nStartLimitIntervalSec=0\n\n[Service]\n"
            f"ExecStart={PYTHON} {self.path}/app.py\nWorkingDirectory={self.path}\nRestart=on-failure\n"
            f"Environment=BENCH_PORT={self.port}\n"
        )
        systemctl("daemon-reload")
        systemctl("start", self.unit)
        wait_until_answering(self.port)
        self.write_config(settle=settle, extra=extra_config)

    def write_config(self, *, settle: str = "0.2s", extra: str = "") -> None:
        u = self.env.user.pw_name
        self.config.write_text(
            f'[repo]\npath = "{self.path}"\nlocal_branch = "local"\n\n'
            f'[service]\nunit = "{self.unit}"\nscope = "user"\nowner = "{u}:{u}"\n\n'
            f'[health]\ntimeout = "30s"\nsettle = "{settle}"\ntcp = "127.0.0.1:{self.port}"\n\n'
            f'[state]\ndir = "{self.state}"\n' + extra
        )

    def syncd(self, *args, check=True, verbose=True, extra_env=None) -> subprocess.CompletedProcess:
        argv = (
            [PYTHON, "-m", "syncd", "--config", str(self.config)] + (["-v"] if verbose else []) + list(args)
        )
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, **(extra_env or {})),
            timeout=600,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"syncd {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def close(self) -> None:
        systemctl("stop", self.unit, check=False)
        self.unit_file.unlink(missing_ok=True)
        shutil.rmtree(self.unit_file.parent / f"{self.unit}.d", ignore_errors=True)
        systemctl("daemon-reload", check=False)


def commit_to_origin(origin: Path, files: dict[str, str], message: str = "change") -> str:
    """A one-commit push, made with fast-import straight into the bare origin (no checkout needed)."""
    push_to_origin(origin, files, message)
    return git(origin, "rev-parse", "refs/heads/master")


def push_to_origin(origin: Path, files: dict[str, str], message: str = "change") -> float:
    """commit_to_origin's push alone; returns the instant (perf_counter) it returned, i.e. when a
    developer's `git push` would be done and the manual sequence would begin."""
    parent = git(origin, "rev-parse", "refs/heads/master")
    data = message.encode()
    chunks = [
        b"commit refs/heads/master\n",
        b"committer Dev <dev@example.org> %d +0000\n" % int(time.time()),
        b"data %d\n" % len(data) + data + b"\n",
        f"from {parent}\n".encode(),
    ]
    for path, text in files.items():
        blob = text.encode()
        chunks.append(f"M 100644 inline {path}\ndata {len(blob)}\n".encode() + blob + b"\n")
    chunks.append(b"\n")
    run(
        ["git", "fast-import", "--quiet"],
        cwd=origin,
        env=dict(GIT_ENV, HOME=str(origin)),
        input=b"".join(chunks),
    )
    return time.perf_counter()


def run_lines(argv, extra_env=None, watch=None) -> tuple[float, list[tuple[float, str]], int, float | None]:
    """Run argv with stdout+stderr merged and unbuffered; each line with its arrival time (s after
    start). With `watch` (a callable that returns when what it waits for happened), it runs in a
    thread from the start; its finish time (s after start) is the fourth value."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra_env or {}))
    done: list[float] = []
    t0 = time.perf_counter()
    watcher = None
    if watch is not None:
        watcher = threading.Thread(
            target=lambda: (watch(), done.append(time.perf_counter() - t0)), daemon=True
        )
        watcher.start()
    proc = subprocess.Popen(
        [str(a) for a in argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    lines = []
    for raw in proc.stdout:
        lines.append((time.perf_counter() - t0, raw.decode(errors="replace").rstrip("\n")))
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if watcher is not None:
        watcher.join(30)
    return wall, lines, rc, (done[0] if done else None)


def span(lines, start_marker: str, end_marker: str) -> float:
    """Seconds between the first line containing start_marker and the first later one with end_marker."""
    start = next((t for t, line in lines if start_marker in line), None)
    if start is None:
        return 0.0
    end = next((t for t, line in lines if t >= start and end_marker in line), None)
    return (end - start) if end is not None else 0.0


STEP_RE = re.compile(r"step (\w+) done \(([\d.]+)s\)")


def step_times(stderr: str) -> dict[str, float]:
    """Per-step durations from `syncd -v` (syncd/deploy/chain.py logs 'step NAME done (N.NNs)')."""
    return {m.group(1): float(m.group(2)) for m in STEP_RE.finditer(stderr)}


def manual_deploy(tree: Tree, owner: str, version: str | None = None) -> dict[str, float]:
    """The seed's manual way, timed command by command (run as root, as with sudo).

    git checkout master && git pull && git checkout local && git merge master;
    chown -R owner tree; systemctl restart unit; then wait until the new version answers on its
    port, as syncd's health judgement does (a restart job returns before a service is listening).
    With `version` (the pushed VERSION), the wait also checks that the answer is that version, with
    the same poll a watcher of the daemon uses. The clock starts at the first command: the
    developer's push has returned.
    """
    env = dict(GIT_ENV, HOME=str(tree.base))
    g = ["git", "-c", "safe.directory=*"]
    t0 = time.perf_counter()
    run(g + ["checkout", "--quiet", "master"], cwd=tree.path, env=env)
    run(g + ["pull", "--quiet", "--no-rebase", "origin", "master"], cwd=tree.path, env=env)
    run(g + ["checkout", "--quiet", "local"], cwd=tree.path, env=env)
    run(g + ["merge", "--quiet", "--no-edit", "master"], cwd=tree.path, env=env)
    t1 = time.perf_counter()
    run(["chown", "-R", owner, str(tree.path)])
    t2 = time.perf_counter()
    run(["systemctl", "--user", "restart", tree.unit])
    t3 = time.perf_counter()
    wait_until_answering(tree.port, version=version)
    t4 = time.perf_counter()
    return {"git": t1 - t0, "chown": t2 - t1, "restart": t3 - t2, "answer": t4 - t3, "total": t4 - t0}


def parse_args(argv=None, *, sizes: bool = False):
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="a smoke run: fewer sizes and repetitions")
    if sizes:
        p.add_argument("--sizes", metavar="N,N", help="only these repository sizes (files), e.g. 1000,10000")
        p.add_argument("--reps", type=int, metavar="N", help="repetitions per size (default: 7/7/5)")
    return p.parse_args(argv)
