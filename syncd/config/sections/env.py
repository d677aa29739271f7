"""[env]: the service's environment: plain variables, dotenv files, encrypted secrets."""

from __future__ import annotations

from typing import Any

from syncd.config.model import EnvConfig
from syncd.config.table import Table
from syncd.config.values import is_env_name, type_name


def parse(s: Table) -> EnvConfig:
    kw: dict[str, Any] = {}
    if s.has("vars"):
        table = s.get("vars", dict)
        for name, value in table.items():
            key = f"vars.{name}"
            if not is_env_name(name):
                raise s.error(
                    key,
                    "not a valid environment variable name (expected letters, digits and "
                    "_, not starting with a digit)",
                )
            if not isinstance(value, str):
                # Strict on purpose: a silent 1 -> "1" or true -> "True" is a surprise in production.
                raise s.error(key, f"expected a string (write it in quotes), found {type_name(value)}")
        kw["vars"] = dict(table)
    for key in ("files", "secrets"):
        if s.has(key):
            kw[key] = tuple(s.rel_path(f"{key}[{i}]", item, key) for i, item in enumerate(s.get(key, list)))
    if s.has("key"):
        kw["key"] = s.abs_path("key")
    if kw.get("secrets") and "key" not in kw:
        raise s.error(
            "key",
            "required when env.secrets is set: the absolute path of the private key that opens them",
            at_line=False,
        )
    if s.has("secrets_delivery"):
        kw["secrets_delivery"] = s.choice(
            "secrets_delivery", ("environment-file", "environment", "credentials")
        )
    if s.has("required"):
        names = s.get("required", list)
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise s.error(
                    f"required[{i}]", f"expected a string, found {type_name(name)}", line_key="required"
                )
            if not is_env_name(name):
                raise s.error(
                    f"required[{i}]",
                    f"{name!r} is not a valid environment variable name",
                    line_key="required",
                )
        kw["required"] = tuple(names)
    return EnvConfig(**kw)
