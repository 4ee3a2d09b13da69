"""Examples run (on small settings) so they never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_learns_digits() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--epochs", "8"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    accuracy = float(out.strip().split("test_accuracy=")[1])
    assert accuracy > 0.85, out
