"""ruff's bug-class rules (pyproject [tool.ruff.lint]) pass on the whole tree: undefined names,
unused imports and variables, syntax errors, mutable or call-evaluated-once argument defaults."""
import importlib.util
import subprocess
import sys

import pytest

from conftest import REPO


def test_ruff_finds_nothing():
    # The check below runs `python -m ruff` with this interpreter, so that is what must exist;
    # CI installs the test extra, which brings ruff, so CI never skips.
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "sanitize", "tests",
                           "benchmarks"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
