"""Each benchmark script runs end to end at a tiny size (a smoke test, never a timing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = ["w1_lif_layer.py", "w2_training_step.py", "w3_rate_encoding.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_script_runs_quick(script: str) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--no-peers", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| implementation |" in out.stdout or "| encoder |" in out.stdout
    assert "snnfunc" in out.stdout or "torch.rand" in out.stdout
