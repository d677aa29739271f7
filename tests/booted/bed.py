"""Booted Debian servers for the system-scope tests: debootstrap roots booted with systemd-nspawn.

Each `Machine` is a Debian root (bookworm: systemd 252, trixie: systemd 257) with systemd as PID 1,
booted with `systemd-nspawn --boot`. The root is built once per recipe with debootstrap and kept
as a tarball under the cache directory; every machine starts from a fresh copy of it.

Facts this relies on (learned the hard way):
- the host has no systemd manager, so nspawn needs `--register=no --keep-unit`;
- each nspawn goes into a cgroup of its own first (or two containers share one);
- `--private-network`: the machine has its own loopback, so its ports (104, 22) never clash with
  the host's or another test's. It reaches no package index: like many hospital servers it installs
  Python packages from a local wheelhouse (/etc/pip.conf: no-index, find-links), filled once per
  release and requirement set by `pip download` in the release's own root;
- a command runs inside through `nsenter -t <PID 1 of the machine> -a`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("SYNCD_TESTBED_CACHE", "/var/cache/syncd-testbed"))
MIRROR = os.environ.get("SYNCD_TESTBED_MIRROR", "http://deb.debian.org/debian")
RELEASES = {"bookworm": 252, "trixie": 257}
# What a small hospital server has: systemd, python3 with venv, git, ssh for the developers' pushes.
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "python3-venv",
    "git",
    "openssh-server",
    "openssh-client",
    "ca-certificates",
    "iproute2",
    "procps",
]
RECIPE = 3  # bump when the root's preparation below changes
REPO = Path(__file__).resolve().parents[2]
CGROUP_ROOT = (
    Path("/sys/fs/cgroup/unified")
    if Path("/sys/fs/cgroup/unified/cgroup.procs").exists()
    else Path("/sys/fs/cgroup")
)


def recipe_key(release: str) -> str:
    text = repr((release, MIRROR, PACKAGES, RECIPE))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _prepare_root(root: Path) -> None:
    """Make a debootstrapped root bootable and quiet, as a freshly installed server is."""
    (root / "etc/hostname").write_text("server\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 server\n")
    # An empty machine-id: systemd makes one at first boot, like on a fresh install.
    (root / "etc/machine-id").write_text("")
    # The console getty waits for a terminal nspawn does not give (we run it without one).
    for unit in ("console-getty.service", "getty@tty1.service", "systemd-networkd-wait-online.service"):
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # Keep the journal across reboots (the test boots each root twice).
    (root / "var/log/journal").mkdir(parents=True, exist_ok=True)
    # apt's cleanup: a fresh image, small.
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def image(release: str, log=print) -> Path:
    """The cached tarball of a booted-ready root for `release`; built with debootstrap if missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"{release}-{recipe_key(release)}.tar"
    with open(CACHE / f"{release}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.exists():
            return tarball
        for old in CACHE.glob(f"{release}-*.tar"):
            old.unlink()
        build = Path(tempfile.mkdtemp(prefix=f"build-{release}-", dir=CACHE))
        try:
            started = time.monotonic()
            log(f"testbed: debootstrap {release} (cached afterwards as {tarball})")
            proc = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(PACKAGES)}",
                    release,
                    str(build / "root"),
                    MIRROR,
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"debootstrap {release} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
                )
            _prepare_root(build / "root")
            tmp = tarball.with_suffix(".tmp")
            subprocess.run(
                ["tar", "--numeric-owner", "--xattrs", "-C", str(build / "root"), "-cf", str(tmp), "."],
                check=True,
            )
            tmp.rename(tarball)
            log(f"testbed: {release} built in {time.monotonic() - started:.0f}s")
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return tarball


def _requirements() -> list[str]:
    """What the machines install with pip: syncd's dependencies, its build backend, the test pipeline's."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    reqs = list(project["project"]["dependencies"]) + list(project["build-system"]["requires"]) + ["wheel"]
    pipeline = Path(__file__).resolve().parent / "pipeline_repo" / "requirements.txt"
    reqs += [
        line.strip()
        for line in pipeline.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return sorted(set(reqs))


def wheelhouse_path(release: str) -> Path:
    key = hashlib.sha256(repr((release, _requirements())).encode()).hexdigest()[:12]
    return CACHE / f"wheels-{release}-{key}"


def wheelhouse(release: str, root: Path, log=print) -> Path:
    """A directory of wheels for `release`'s Python, downloaded once with pip inside a root of it."""
    reqs = _requirements()
    house = wheelhouse_path(release)
    with open(CACHE / f"wheels-{release}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if house.is_dir():
            os.utime(house)  # in use: see the pruning below
            return house
        log(f"testbed: downloading wheels for {release} into {house}")
        inside = "/var/tmp/wheelhouse"
        script = (
            f"python3 -m venv /var/tmp/dl && /var/tmp/dl/bin/pip download --quiet --disable-pip-version-check "
            f"-d {inside} " + " ".join(shlex.quote(r) for r in reqs)
        )
        proc = subprocess.run(
            ["chroot", str(root), "/bin/sh", "-c", script],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"},
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"pip download in {release} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
            )
        tmp = Path(tempfile.mkdtemp(prefix=f"wheels-{release}-", dir=CACHE))
        for wheel in (root / inside.lstrip("/")).iterdir():
            shutil.move(str(wheel), tmp / wheel.name)
        shutil.rmtree(root / "var/tmp/dl", ignore_errors=True)
        shutil.rmtree(root / inside.lstrip("/"), ignore_errors=True)
        tmp.chmod(0o755)
        tmp.rename(house)
        # Other worktrees may test other requirements (a branch adding a dependency) at the same
        # time: a wheelhouse is removed only when no run has used it for two days.
        for old in CACHE.glob(f"wheels-{release}-*"):
            unused = time.time() - old.stat().st_mtime > 2 * 86400
            if old != house and old.is_dir() and len(old.name) == len(house.name) and unused:
                shutil.rmtree(old, ignore_errors=True)
    return house


def prepare(release: str, log=print) -> None:
    """Build what a machine of `release` needs (image, wheelhouse) ahead of time; cheap when cached."""
    tarball = image(release, log)
    if wheelhouse_path(release).is_dir():
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"prep-{release}-", dir=CACHE))
    try:
        subprocess.run(["tar", "--numeric-owner", "-C", str(scratch), "-xf", str(tarball)], check=True)
        Machine._trust_site_cas_in(scratch)
        wheelhouse(release, scratch, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _source_files() -> list[str]:
    """syncd's own files as they are in this checkout (tracked and new, not ignored)."""
    out = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    # Links too: syncd/data/units is one (to units/), and the package's units come through it.
    return [f for f in out.decode().split("\0") if f and ((REPO / f).is_file() or (REPO / f).is_symlink())]


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> "Result":
        if self.returncode != 0:
            raise AssertionError(
                f"{self.argv!r} exited {self.returncode}\nstdout:\n{self.stdout[-4000:]}\n"
                f"stderr:\n{self.stderr[-4000:]}"
            )
        return self


@dataclass
class Machine:
    """One booted Debian root. `run()` executes a shell command inside it, as root or a user."""

    release: str
    workdir: Path
    name: str = ""
    process: subprocess.Popen | None = None
    leader: int = 0
    wheels: Path = Path("/nonexistent")
    boot_seconds: list[float] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    @property
    def systemd_version(self) -> int:
        return RELEASES[self.release]

    def create(self) -> None:
        """Unpack a fresh root and copy syncd's source to /usr/local/src/syncd in it."""
        self.name = self.name or f"syncd-{self.release}-{os.getpid()}"
        self.root.mkdir(parents=True)
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(self.root), "-xf", str(image(self.release))],
            check=True,
        )
        self._trust_site_cas()
        self.wheels = wheelhouse(self.release, self.root)
        (self.root / "etc/pip.conf").write_text(
            "# This server installs Python packages from a local wheelhouse (no package index reachable).\n"
            "[global]\nno-index = true\nfind-links = /var/cache/wheelhouse\ndisable-pip-version-check = true\n"
        )
        src = self.root / "usr/local/src/syncd"
        src.mkdir(parents=True, exist_ok=True)
        files = _source_files()
        subprocess.run(
            ["tar", "-C", str(REPO), "--null", "-T", "-", "-cf", "-"],
            input="\0".join(files).encode(),
            stdout=open(self.workdir / "src.tar", "wb"),
            check=True,
        )
        subprocess.run(["tar", "-C", str(src), "-xf", str(self.workdir / "src.tar")], check=True)

    def _trust_site_cas(self) -> None:
        self._trust_site_cas_in(self.root)

    @staticmethod
    def _trust_site_cas_in(root: Path) -> None:
        """The site's own CAs (a TLS-inspecting proxy here, a hospital's CA on a real server) trusted inside."""
        site = Path("/usr/local/share/ca-certificates")
        certs = [c for c in site.glob("*.crt")] if site.is_dir() else []
        if not certs:
            return
        for cert in certs:
            shutil.copy(cert, root / "usr/local/share/ca-certificates" / cert.name)
        subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True, capture_output=True)

    def boot(self, timeout: float = 120) -> None:
        """Boot the root with systemd as PID 1 and wait until the system is up."""
        started = time.monotonic()
        cgroup = CGROUP_ROOT / self.name
        cgroup.mkdir(exist_ok=True)
        console = open(self.workdir / "console.log", "ab")

        def own_cgroup() -> None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

        self.process = subprocess.Popen(
            [
                "systemd-nspawn",
                "--quiet",
                "--boot",
                "--register=no",
                "--keep-unit",
                f"--machine={self.name}",
                f"--directory={self.root}",
                f"--bind-ro={self.wheels}:/var/cache/wheelhouse",
                "--private-network",
                "--console=pipe",
                "--resolv-conf=copy-host",
                "--timezone=copy",
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=console,
            preexec_fn=own_cgroup,
            env=dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1"),
        )
        deadline = time.monotonic() + timeout
        self.leader = 0
        while time.monotonic() < deadline and not self.leader:
            if self.process.poll() is not None:
                raise RuntimeError(f"nspawn exited {self.process.returncode}: {self.console_tail()}")
            self.leader = self._find_leader(cgroup)
            time.sleep(0.05)
        if not self.leader:
            raise RuntimeError(f"{self.name}: no PID 1 found: {self.console_tail()}")
        while time.monotonic() < deadline:
            state = self.run("systemctl is-system-running", timeout=30).stdout.strip()
            if state in ("running", "degraded"):
                if state == "degraded":
                    failed = self.run("systemctl --failed --no-legend").stdout
                    print(f"{self.name}: degraded at boot:\n{failed}")
                self.boot_seconds.append(time.monotonic() - started)
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"nspawn exited {self.process.returncode}: {self.console_tail()}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: not running after {timeout}s: {self.console_tail()}")

    def _find_leader(self, cgroup: Path) -> int:
        """The machine's PID 1 seen from the host: in our cgroup tree, with NSpid ending in 1."""
        pids: list[int] = []
        for procs in cgroup.rglob("cgroup.procs"):
            pids += [int(p) for p in procs.read_text().split()]
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("NSpid:") and len(line.split()) == 3 and line.split()[2] == "1":
                    return pid
        return 0

    def console_tail(self) -> str:
        try:
            return (self.workdir / "console.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def run(
        self,
        command: str,
        user: str | None = None,
        check: bool = False,
        timeout: float = 600,
        input: str | None = None,
    ) -> Result:
        """Run `command` with /bin/sh inside the machine: as root, or as `user` with a login environment."""
        if user is None:
            inner = [
                "/usr/bin/env",
                "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "LANG=C.UTF-8",
                "/bin/sh",
                "-c",
                command,
            ]
        else:
            inner = ["/usr/sbin/runuser", "-l", user, "-s", "/bin/sh", "-c", command]
        argv = ["nsenter", "-t", str(self.leader), "-a", *inner]
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError(
                f"{command!r} in {self.name} timed out after {timeout}s: {e.stdout!r} {e.stderr!r}"
            ) from None
        result = Result([*inner[-1:]], proc.returncode, proc.stdout, proc.stderr)
        return result.check() if check else result

    def sh(self, command: str, user: str | None = None, timeout: float = 600) -> str:
        """Run and require success; the output, stripped."""
        return self.run(command, user=user, check=True, timeout=timeout).stdout.strip()

    def wait_for(self, command: str, timeout: float = 60, user: str | None = None) -> Result:
        """Run `command` until it succeeds (the condition, not the time, decides)."""
        deadline = time.monotonic() + timeout
        while True:
            res = self.run(command, user=user, timeout=timeout)
            if res.returncode == 0 or time.monotonic() > deadline:
                return res.check()
            time.sleep(0.2)

    def poweroff(self, timeout: float = 120) -> None:
        """`systemctl poweroff` inside, as an operator would; wait for the machine to stop."""
        assert self.process is not None
        self.run("systemctl poweroff")
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name}: still up {timeout}s after poweroff: {self.console_tail()}"
            ) from None
        self.process = None

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # nspawn: a clean shutdown of the machine
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            (CGROUP_ROOT / self.name).rmdir()
        except OSError:
            pass
        if not os.environ.get("SYNCD_TESTBED_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)


def quote(text: str) -> str:
    return shlex.quote(text)
