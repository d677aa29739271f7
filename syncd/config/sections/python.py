"""[python]: one Python environment per requirements content (docs/python.md)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from syncd.config.model import PythonConfig
from syncd.config.table import Table


def parse(s: Table) -> PythonConfig:
    kw: dict[str, Any] = {
        "requirements": s.rel_path("requirements", s.get("requirements", str), "requirements")
    }
    if s.has("venv"):
        kw["venv"] = s.rel_path("venv", s.get("venv", str), "venv")
        if PurePosixPath(kw["venv"]).parts[0] == ".git":
            raise s.error("venv", f"must not be inside .git, got {kw['venv']!r}")
    if s.has("python"):
        kw["python"] = s.abs_path("python")
    if s.has("keep"):
        keep = s.get("keep", int)
        if keep < 0:
            raise s.error("keep", f"expected a number of older environments >= 0, got {keep}")
        kw["keep"] = keep
    if s.has("envs"):
        kw["envs"] = s.abs_path("envs")
    if s.has("timeout"):
        kw["timeout"] = s.duration("timeout", positive=True)
    if s.has("compile_bytecode"):
        kw["compile_bytecode"] = s.get("compile_bytecode", bool)
    return PythonConfig(**kw)
