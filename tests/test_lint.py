"""ruff's bug-class rules (pyproject [tool.ruff.lint]) pass on the whole tree: undefined names,
unused imports and variables, syntax errors."""
import shutil
import subprocess
import sys

import pytest

from conftest import REPO


def test_ruff_finds_nothing():
    if shutil.which("ruff") is None and not (REPO / ".venv" / "bin" / "ruff").exists():
        pytest.skip("ruff is not installed (it comes with the test extra)")
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "sanitize", "tests",
                           "benchmarks"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
