"""Configuration: the one place where syncd.toml is loaded and validated.

  model.py     what a loaded config is: frozen dataclasses, one per [section]; their fields are the keys
  loader.py    load_config(): reads the file, parses TOML, errors naming file, key, line, expectation
  table.py     typed access to one [section]'s keys, for the section parsers
  sections/    one module per [section]: its keys checked and turned into its dataclass
  values.py    one parser per kind of value (duration, host:port, AE title, owner, env name, ref name),
               used by the config and by the code that later uses the value

Add a key: CONTRIBUTING.md ("Add a config key").
"""

from syncd.config.loader import DEFAULT_CONFIG, config_path, load_config
from syncd.config.model import (
    KEYS,
    NOTIFY_RESULTS,
    SECTIONS,
    Config,
    DrainConfig,
    EnvConfig,
    HealthConfig,
    HooksConfig,
    MetricsConfig,
    NotifyConfig,
    PythonConfig,
    RepoConfig,
    ScheduleConfig,
    ServiceConfig,
    StateConfig,
)
from syncd.config.values import bad_ref_name, parse_duration

_bad_ref_name = bad_ref_name  # the name `syncd install` imported before the split

__all__ = [
    "DEFAULT_CONFIG",
    "KEYS",
    "NOTIFY_RESULTS",
    "SECTIONS",
    "Config",
    "DrainConfig",
    "EnvConfig",
    "HealthConfig",
    "HooksConfig",
    "MetricsConfig",
    "NotifyConfig",
    "PythonConfig",
    "RepoConfig",
    "ScheduleConfig",
    "ServiceConfig",
    "StateConfig",
    "bad_ref_name",
    "config_path",
    "load_config",
    "parse_duration",
]
