"""Configuration: the one place where syncd.toml is loaded and validated.

Every error names the file, the key and what was expected (ConfigError); an invalid
config never gets as far as touching anything.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONFIG = Path("/etc/syncd/syncd.toml")


@dataclass(frozen=True)
class RepoConfig:
    path: Path
    remote: str = "origin"
    branch: str = "master"
    local_branch: str | None = None
    allow_force_push: bool = False
    verify: str = "none"  # "none" | "ssh" | "gpg"
    allowed_signers: Path | None = None
    committer: str = field(default_factory=lambda: f"syncd <syncd@{socket.gethostname()}>")


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
    interval: float = 60.0  # 0 disables polling
    cron: str = ""
    watch: bool = True


@dataclass(frozen=True)
class StateConfig:
    dir: Path = Path("/var/lib/syncd")


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

    @property
    def name(self) -> str:
        """Per-config name (file stem): state of several configs never mixes."""
        return self.source.stem

    @property
    def state_dir(self) -> Path:
        return self.state.dir / self.name


def config_path(cli_value: str | None) -> Path:
    if cli_value:
        return Path(cli_value)
    if os.environ.get("SYNCD_CONFIG"):
        return Path(os.environ["SYNCD_CONFIG"])
    return DEFAULT_CONFIG


def load_config(path: Path) -> Config:
    """Load and validate `path`; raise ConfigError naming file, key and expectation."""
    raise NotImplementedError  # implemented by the config loader
