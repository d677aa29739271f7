"""What several actions share: loading the config named on the command line."""

from __future__ import annotations

from syncd.config import Config, config_path, load_config


def load(args) -> Config:
    return load_config(config_path(getattr(args, "config", None)))
