"""`make lint` inside the suite: a lint or type break fails the tests everyone runs before landing.

The rules and the strict modules are in pyproject.toml ([tool.ruff], [tool.mypy]). Most findings
are fixed by `.venv/bin/ruff check --fix .`; see CONTRIBUTING.md.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(module) is None:
        pytest.fail(
            f"{module} is not installed in this environment: "
            "rm .venv/bin/.installed; make .venv/bin/.installed  (pyproject.toml's test extra has it)"
        )
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_ruff_finds_nothing():
    proc = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert proc.returncode == 0, (
        f"ruff check (fix most with `ruff check --fix .`):\n{proc.stdout}{proc.stderr}"
    )


def test_code_is_formatted():
    proc = _run("ruff", "format", "--check", "--no-cache", ".")
    assert proc.returncode == 0, f"not formatted (run `ruff format .`):\n{proc.stdout}{proc.stderr}"


def test_mypy_finds_nothing():
    proc = _run("mypy")
    assert proc.returncode == 0, (
        f"mypy (strict on the modules pyproject.toml names):\n{proc.stdout}{proc.stderr}"
    )
