"""The torch.func examples run (``--quick``) and show what their docstrings claim.

Each starts a fresh Python (5-15 s here), so all are marked slow; CI runs them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(name: str, *args: str) -> str:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _floats(pattern: str, text: str) -> list[float]:
    return [float(m) for m in re.findall(pattern, text)]


@pytest.mark.slow
def test_ensemble_trains_eight_betas_at_once() -> None:
    out = _run("func_ensemble.py", "--threads", "1")
    rows = [line.split() for line in out.splitlines() if re.match(r"^[01](\.\d+)?\s+0\.\d+$", line)]
    assert len(rows) == 8, out
    accuracies = [float(acc) for _, acc in rows]
    assert min(accuracies) > 0.6 and max(accuracies) > 0.8, out


@pytest.mark.slow
def test_per_sample_gradients_match_the_loop_and_dp_sgd_learns() -> None:
    out = _run("func_per_sample.py", "--threads", "1")
    (diff,) = _floats(r"max \|difference\| = ([0-9.e+-]+)", out)
    assert diff < 1e-4, out
    (acc,) = _floats(r"test_accuracy=([0-9.]+)", out)
    assert acc > 0.5, out


@pytest.mark.slow
def test_dynamics_example() -> None:
    out = _run("func_dynamics.py")
    assert "eigenvalues of neuron 0's block: [0.85, 0.6]" in out, out
    reach = {
        float(m[0]): int(m[1]) for m in re.findall(r"^([01]\.?\d*) .* (\d+) steps$", out, re.M)
    }
    assert reach[0.5] < reach[0.95], out


@pytest.mark.slow
def test_forward_mode_example() -> None:
    out = _run("func_forward_mode.py")
    assert "NotImplementedError: You must implement the jvp function" in out
    (diff,) = _floats(r"max \|difference\| = ([0-9.e+-]+)", out)
    assert diff < 1e-9, out
    assert "jacfwd == jacrev on a [200, 50] Jacobian: True" in out, out


@pytest.mark.slow
def test_compile_example() -> None:
    out = _run("func_compile.py", "--threads", "1")
    assert "gradients equal: True" in out, out
    assert "compile(grad(spike)) = [0.0, 0.0, 0.0]" in out, out
    assert "raises Unsupported" in out, out


@pytest.mark.slow
def test_custom_cell_example() -> None:
    out = _run("custom_cell.py")
    assert "property tests passed" in out and "== scan(lif_step)" in out, out
    (acc,) = _floats(r"test_accuracy=([0-9.]+)", out)
    assert acc > 0.6, out
