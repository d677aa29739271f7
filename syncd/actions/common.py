"""What several actions share: loading the config named on the command line."""

from __future__ import annotations

from syncd.config import Config, config_path
from syncd.trust import load_trusted


def load(args) -> Config:
    """The config, refused (exit 2) when a file root trusts could be changed by another user."""
    return load_trusted(config_path(getattr(args, "config", None)))
