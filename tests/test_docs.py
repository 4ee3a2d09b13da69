"""The documentation's Python examples run as written, like the README's
(``tests/test_readme.py``): every ```python block of ``docs/**/*.md``, as a plain script in a
fresh interpreter, outside pytest and this conftest, in an empty directory.

Only blocks fenced exactly as ```python run; code shown for another library (snnTorch's side of
a comparison) uses another fence (```text, ```python-snntorch) and is not executed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCKS = [
    (f"{path.relative_to(ROOT)}#{k}", block)
    for path in sorted(DOCS.rglob("*.md"))
    for k, block in enumerate(
        re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    )
]


def test_docs_have_examples() -> None:
    assert BLOCKS


def test_docs_examples_show_results_with_asserts() -> None:
    """Every block checks what it shows with an ``assert`` a reader can run."""
    assert [name for name, block in BLOCKS if "assert" not in block] == []


@pytest.mark.parametrize("name, block", BLOCKS, ids=[name for name, _ in BLOCKS])
def test_docs_example_runs(name: str, block: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("HYPOTHESIS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stderr}"
