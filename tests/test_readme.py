"""The README's Python examples run as written: each block as a plain script, in a fresh
interpreter (``python -c``), outside pytest and this conftest, in an empty directory.

A block shows its results with plain ``assert``s, so a block that runs is a block that works.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples() -> None:
    assert BLOCKS


def test_readme_examples_show_results_with_asserts() -> None:
    """Every block checks what it shows with an ``assert`` a reader can run."""
    assert [k for k, block in enumerate(BLOCKS) if "assert" not in block] == []


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    # this checkout's snnfunc (CI installs it too); nothing else of the test environment
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("HYPOTHESIS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"README.md python block {index} failed:\n{done.stderr}"
