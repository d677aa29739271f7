"""What a loaded config is: frozen dataclasses (syncd.records: cheap to create at start-up), one per
[section] of syncd.toml, and Config.

The keys a file may set are these classes' fields (KEYS, SECTIONS below): a new key is a new field
here plus its validation in syncd/config/sections/<section>.py.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path

from syncd.records import dataclass, field, fields
from syncd.result import NOTIFIABLE, Result


def _hostname() -> str:
    """socket.gethostname() without importing socket: on Linux both are uname's node name."""
    return os.uname().nodename


@dataclass(frozen=True)
class RepoConfig:
    path: Path
    remote: str = "origin"
    branch: str = "master"
    local_branch: str | None = None
    allow_force_push: bool = False
    verify: str = "none"  # "none" | "ssh" | "gpg"
    allowed_signers: Path | None = None
    committer: str = field(default_factory=lambda: f"syncd <syncd@{_hostname()}>")
    trust_local_commits: bool = False  # accept unsigned commits made on local_branch on the server
    git_timeout: float = 60.0  # any local git command
    fetch_timeout: float = 300.0


@dataclass(frozen=True)
class ServiceConfig:
    unit: str
    scope: str = "system"  # "system" | "user"
    owner: str | None = None  # "user:group" or "user"; None: the tree's current owner
    dropin: str = "50-syncd.conf"


@dataclass(frozen=True)
class EnvConfig:
    vars: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    key: Path | None = None
    secrets_delivery: str = "environment-file"  # | "environment" | "credentials"
    required: tuple[str, ...] = ()  # names that must be present after merging all sources


@dataclass(frozen=True)
class HealthConfig:
    timeout: float = 60.0
    settle: float = 5.0
    tcp: str | None = None
    http: str | None = None
    command: tuple[str, ...] | None = None
    dicom_echo: str | None = None


@dataclass(frozen=True)
class HooksConfig:
    pre_restart: tuple[tuple[str, ...], ...] = ()
    post_deploy: tuple[tuple[str, ...], ...] = ()
    on_failure: tuple[tuple[str, ...], ...] = ()
    timeout: float = 600.0  # per hook


@dataclass(frozen=True)
class ScheduleConfig:
    interval: float = 60.0  # 0 disables polling; 0 as well whenever cron is set
    cron: str = ""
    watch: bool = True
    windows: tuple[str, ...] = ()  # restarts only inside these weekly windows (host time); () = always


NOTIFY_RESULTS = tuple(r.value for r in NOTIFIABLE)  # the results notify.on may name


@dataclass(frozen=True)
class NotifyConfig:
    on: tuple[str, ...] = (Result.ROLLED_BACK.value, Result.ERROR.value)
    webhook: str | None = None
    email: tuple[str, ...] = ()
    smtp: str | None = None  # "host:port" of a relay
    sendmail: Path | None = None  # or the local sendmail program
    sender: str = field(default_factory=lambda: f"syncd@{_hostname()}")
    timeout: float = 10.0  # the most notifications add to one sync, all transports together


@dataclass(frozen=True)
class MetricsConfig:
    textfile: Path | None = None  # for node_exporter's textfile collector
    listen: str | None = None  # "host:port" where `syncd run` serves GET /metrics
    process: bool = False  # also export syncd's own process metrics (CPU, memory, fds)


@dataclass(frozen=True)
class DrainConfig:
    port: int | None = None  # busy while a TCP connection to this local port is established
    command: tuple[str, ...] | None = None  # busy while this exits 0 (run as the owner, in repo.path)
    max_wait: float = 900.0
    on_timeout: str = "deploy"  # | "skip"


@dataclass(frozen=True)
class StateConfig:
    dir: Path = Path("/var/lib/syncd")


@dataclass(frozen=True)
class PythonConfig:
    """One environment per requirements content (docs/python.md)."""

    requirements: str  # requirements or lock file in the repo, relative to repo.path
    venv: str = "venv"  # symlink in the tree to the running release's environment
    python: Path = Path("/usr/bin/python3")
    keep: int = 3  # older environments kept for offline rollback
    envs: Path | None = None  # where environments live; None: "<repo.path>.envs"
    timeout: float = 900.0  # one build
    compile_bytecode: bool = False  # .pyc at build time: faster first imports, slower builds, more disk

    def envs_dir(self, repo_path: Path) -> Path:
        return self.envs or repo_path.with_name(repo_path.name + ".envs")


@dataclass(frozen=True)
class Config:
    source: Path  # the TOML file this came from
    repo: RepoConfig
    service: ServiceConfig
    env: EnvConfig = field(default_factory=EnvConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    state: StateConfig = field(default_factory=StateConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    drain: DrainConfig = field(default_factory=DrainConfig)
    python: PythonConfig | None = None  # None: no [python] section, syncd leaves environments alone

    @property
    def name(self) -> str:
        """Per-config name (file stem): state of several configs never mixes."""
        return self.source.stem

    @property
    def state_dir(self) -> Path:
        return self.state.dir / self.name


def _section_classes() -> dict[str, type]:
    """[section] name -> its dataclass, in Config's field order (`source` is not a section)."""
    hints = typing.get_type_hints(Config)
    classes: dict[str, type] = {}
    for f in fields(Config):
        if f.name == "source":
            continue
        kind = hints[f.name]
        # `PythonConfig | None`: an optional section
        classes[f.name] = next(a for a in typing.get_args(kind) or (kind,) if a is not type(None))
    return classes


SECTION_CLASSES = _section_classes()
SECTIONS = tuple(SECTION_CLASSES)
KEYS = {name: tuple(f.name for f in fields(cls)) for name, cls in SECTION_CLASSES.items()}
OPTIONAL_SECTIONS = frozenset(
    f.name for f in fields(Config) if f.name in SECTION_CLASSES and f.default is None
)  # absent from the file: None (Config's default), not a section of defaults
