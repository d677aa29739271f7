"""Loading syncd.toml: read the file, parse the TOML, hand each [section] to its parser
(syncd/config/sections/), and word every error with the file, the key, the line and what was expected.

An invalid config never gets as far as touching anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from syncd.config.model import KEYS, OPTIONAL_SECTIONS, SECTIONS, Config
from syncd.config.sections import PARSERS
from syncd.config.table import Table, suggest
from syncd.config.values import type_name
from syncd.errors import ConfigError

DEFAULT_CONFIG = Path("/etc/syncd/syncd.toml")


def config_path(cli_value: str | None) -> Path:
    """--config, else $SYNCD_CONFIG, else /etc/syncd/syncd.toml."""
    if cli_value:
        return Path(cli_value)
    if os.environ.get("SYNCD_CONFIG"):
        return Path(os.environ["SYNCD_CONFIG"])
    return DEFAULT_CONFIG


def load_config(path: Path) -> Config:
    """Load and validate `path`; raise ConfigError naming file, key and expectation."""
    path = Path(path)
    text = _read(path)
    src = Source(path, text)
    import tomllib  # here, not at the top: modules that import only syncd.config.values need no TOML

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:  # its text carries "(at line L, column C)"
        raise ConfigError(path, None, f"not valid TOML: {e}") from None

    for name, value in data.items():
        if name not in SECTIONS:
            raise src.error(
                name,
                "unknown section" + suggest(name, SECTIONS) + f"; allowed sections: {', '.join(SECTIONS)}",
            )
        if not isinstance(value, dict):
            raise src.error(name, f"expected a table ([{name}]), found {type_name(value)}")
    # Every table's keys are checked before any value: an unknown key is reported first.
    tables = {name: Table(src, name, data.get(name, {}), KEYS[name]) for name in SECTIONS}
    sections: dict[str, Any] = {
        name: PARSERS[name](table)
        for name, table in tables.items()
        if name in data or name not in OPTIONAL_SECTIONS  # an optional section left out stays None
    }
    return Config(source=path, **sections)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            path,
            None,
            "cannot read the configuration: no such file (give another with --config PATH or SYNCD_CONFIG)",
        ) from None
    except IsADirectoryError:
        raise ConfigError(path, None, "cannot read the configuration: it is a directory") from None
    except OSError as e:
        raise ConfigError(path, None, f"cannot read the configuration: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(path, None, f"not valid TOML: not UTF-8 text (at line {line})") from None


class Source:
    """The file being loaded: builds errors, with the line of the key when it can be found."""

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text

    def error(
        self, dotted: str, expected: str, line_key: str | None = None, at_line: bool = True
    ) -> ConfigError:
        line = line_of(self.text, line_key or dotted) if at_line else None
        return ConfigError(self.path, dotted, expected + (f" (line {line})" if line else ""))


# Compiled by re (and kept in its cache) when first used: only an error needs them.
_HEADER = r"\[\s*([^\[\]]+?)\s*\]"
_KEY = r"""((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""


def line_of(text: str, dotted: str) -> int | None:
    """Best effort: the line that sets `dotted` (or its nearest enclosing key or table)."""
    lines = text.splitlines()
    wanted = dotted.split(".")
    for n in range(len(wanted), 0, -1):
        target = ".".join(wanted[:n])
        table = ""
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            header = re.match(_HEADER, line)
            if header and not line.startswith("[["):
                table = re.sub(r"\s*\.\s*", ".", header.group(1)).replace('"', "")
                if table == target:
                    return number
                continue
            key = re.match(_KEY, line)
            if key:
                name = re.sub(r"\s*\.\s*", ".", key.group(1)).replace('"', "").replace("'", "")
                if (f"{table}.{name}" if table else name) == target:
                    return number
    return None
