"""Static analysis as a test: ruff (pyflakes, bugbear, a security subset)
and bandit (medium and high severity) over the portal package. ASVS 5.0
V15.1 / V15.2 (secure coding and dependencies) have no single requirement
for this; it is the issue's "CI runs bandit and ruff"."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_db  # no database: runs once (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.exists() else shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return path


def test_ruff_finds_nothing():
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "portal"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bandit_finds_nothing_of_medium_or_high_severity():
    result = subprocess.run([_tool("bandit"), "-q", "-r", "portal", "-ll", "-c", "pyproject.toml"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
