"""Fixtures of the booted-servers test bed: one booted Debian per release, one at a time."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from .bed import RELEASES, Machine, prepare, quote
from .docs import Block, blocks

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
PIPELINE_REPO = Path(__file__).resolve().parent / "pipeline_repo"
TIMINGS: dict[str, dict[str, float]] = {}


_PREPARING: dict[str, threading.Thread] = {}


def pytest_collection_modifyitems(items):
    """Booted tests run last; their images are built meanwhile, while the fast tests run."""
    booted = [item for item in items if "/booted/" in str(item.fspath)]
    for item in booted:
        item.add_marker(pytest.mark.booted)
    items[:] = [item for item in items if item not in booted] + booted
    releases = {item.callspec.params.get("server") for item in booted if hasattr(item, "callspec")}
    for release in sorted(r for r in releases if r):
        thread = threading.Thread(target=_prepare_quietly, args=(release,), daemon=True)
        thread.start()
        _PREPARING[release] = thread


_PREPARE_ERRORS: dict[str, BaseException] = {}


def _prepare_quietly(release: str) -> None:
    try:
        prepare(release, log=lambda text: None)
    except BaseException as exc:  # noqa: BLE001 - reported by the fixture that needs it
        _PREPARE_ERRORS[release] = exc


@pytest.fixture(scope="session", params=sorted(RELEASES))
def server(request):
    """A freshly booted Debian (bookworm: systemd 252, trixie: 257) with systemd as PID 1."""
    release = request.param
    started = time.monotonic()
    if release in _PREPARING:
        _PREPARING[release].join()
    if release in _PREPARE_ERRORS:
        raise _PREPARE_ERRORS[release]
    machine = Machine(release, Path(tempfile.mkdtemp(prefix=f"syncd-bed-{release}-")))
    machine.create()
    machine.boot()
    TIMINGS.setdefault(release, {})["first boot (s)"] = machine.boot_seconds[0]
    yield Server(machine)
    TIMINGS[release]["whole scenario (s)"] = time.monotonic() - started
    machine.destroy()


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_sep("-", "booted servers: timings")
        for release, figures in sorted(TIMINGS.items()):
            text = ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
            terminalreporter.write_line(f"{release} (systemd {RELEASES[release]}): {text}")


class Server:
    """A booted machine plus what the scenarios share: the guide's progress, the developer."""

    def __init__(self, machine: Machine):
        self.m = machine
        self.release = machine.release
        self.done_sections: set[int] = set()
        self.env: dict[str, str] = {}

    # -- the guide ------------------------------------------------------------------------------
    def run_block(self, block: Block) -> str:
        exports = "".join(f"export {k}={quote(v)}\n" for k, v in self.env.items())
        script = f"set -eu\n{exports}{block.script}"
        if block.user:
            script = f"set -eu\ncd\n{exports}{block.script}"
        res = self.m.run(script, user=block.user)
        if res.returncode != 0:
            raise AssertionError(
                f"docs/deploy.md:{block.line} (section {block.section}, as {block.user or 'root'}) "
                f"failed with {res.returncode}:\n{block.script}\nstdout:\n{res.stdout[-3000:]}\n"
                f"stderr:\n{res.stderr[-3000:]}"
            )
        return res.stdout

    def guide(self, *sections: int) -> list[str]:
        """Run the guide's commands of these sections, with the developer's own set-up before hers."""
        outputs = []
        for block in blocks(GUIDE):
            if block.section not in sections:
                continue
            if block.user == "alice":
                self.developer_machine()
            out = self.run_block(block)
            if "secrets keygen" in block.script:  # the guide's $RECIPIENT: the line keygen printed
                self.env["RECIPIENT"] = out.strip().splitlines()[-1]
            outputs.append(out)
        self.done_sections.update(sections)
        return outputs

    def developer_machine(self) -> None:
        """What alice has before the guide starts: an ssh key the server knows, her pipeline repo."""
        if self.m.run("test -d /home/alice/pipeline/.git").returncode == 0:
            return
        m = self.m
        m.sh(
            "ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519 && git config --global user.name Alice && "
            "git config --global user.email alice@example.org && git config --global init.defaultBranch master",
            user="alice",
        )
        # Her public key on the server (ssh-copy-id's job) and the server's host key on her side.
        m.sh(
            "install -d -m 0700 -o alice -g alice /home/alice/.ssh && "
            "cat /home/alice/.ssh/id_ed25519.pub >> /home/alice/.ssh/authorized_keys && "
            "chown alice:alice /home/alice/.ssh/authorized_keys && chmod 0600 /home/alice/.ssh/authorized_keys"
        )
        m.wait_for("ssh-keyscan -H server 2>/dev/null | grep -q ed25519", timeout=30)
        m.sh("ssh-keyscan -H server 2>/dev/null >> ~/.ssh/known_hosts", user="alice")
        shutil.copytree(PIPELINE_REPO, m.root / "home/alice/pipeline")
        m.sh("chown -R alice:alice /home/alice/pipeline")
        m.sh(
            "cd ~/pipeline && git init -q && git add -A && git commit -qm 'The pipeline, version 1'",
            user="alice",
        )

    # -- what the scenarios look at -------------------------------------------------------------
    def alice(self, script: str) -> str:
        return self.m.sh(f"set -e; cd ~/pipeline; {script}", user="alice")

    def push(self, version: str, message: str | None = None) -> str:
        """alice commits a new VERSION and pushes it; the commit's sha."""
        return self.alice(
            f"echo {quote(version)} > VERSION && git commit -qam {quote(message or 'Version ' + version)}"
            " && git push -q production master && git rev-parse HEAD"
        )

    def status(self, config: str | None = None) -> dict:
        flag = f"--config {config} " if config else ""
        return json.loads(self.m.sh(f"syncd {flag}status --json"))

    def history(self, config: str | None = None) -> list[dict]:
        flag = f"--config {config} " if config else ""
        return json.loads(self.m.sh(f"syncd {flag}history --json"))

    def wait_result(
        self, to: str, results: tuple[str, ...], config: str | None = None, timeout: float = 180
    ) -> dict:
        """Wait until syncd's last sync concerned commit `to` (deployed or refused) and ended in `results`."""
        deadline = time.monotonic() + timeout
        status: dict = {}
        while time.monotonic() < deadline:
            status = self.status(config)
            if (
                status.get("upstream") == to
                and status.get("result") in results
                and not status.get("in_flight")
            ):
                return status
            time.sleep(0.5)
        unit = "syncd.service" if config is None else f"syncd@{Path(config).stem}.service"
        log = self.m.run(f"journalctl -u {unit} -n 40 --no-pager").stdout
        raise AssertionError(
            f"{self.release}: no {results} for {to[:12]} in {timeout}s; status {status}\n{log}"
        )

    def wait_settled(self, config: str | None = None, timeout: float = 180) -> dict:
        """Wait until a first sync has a result and nothing is in flight."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(config)
            if status.get("result") and not status.get("in_flight"):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.release}: not settled in {timeout}s: {status}")
            time.sleep(0.5)

    def report(self, state_dir: str = "/var/lib/pipeline") -> dict:
        """What the running pipeline wrote about itself (version, env digests, credentials)."""
        return json.loads(self.m.sh(f"cat {state_dir}/report.json"))

    def main_pid(self, unit: str) -> int:
        return int(self.m.sh(f"systemctl show -p MainPID --value {unit}"))
