"""The Python code is ruff-clean (lint and format), as CI checks it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import REPO

PATHS = ["python/cannonade", "tests", "examples", "setup.py"]


def ruff(*args: str) -> subprocess.CompletedProcess:
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.fail("ruff is not installed in this venv: run .ci/bootstrap (or pip install ruff)")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *PATHS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ruff_check() -> None:
    proc = ruff("check", "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    proc = ruff("format", "--check", "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
