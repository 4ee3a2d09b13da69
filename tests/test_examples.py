"""Examples run (on small settings) so they never rot."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from snnfunc.app.data import default_mnist_dir

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


@pytest.mark.skipif(default_mnist_dir() is None, reason="../shared/data/mnist not found")
def test_tutorial3_mnist_runs_a_few_batches(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "tutorial3_mnist.py"
    spec = importlib.util.spec_from_file_location("tutorial3_mnist", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--epochs", "1", "--max-batches", "2", "--num-steps", "5", "--batch-size", "32"]
    accuracy = module.main(argv)
    assert 0.0 <= accuracy <= 1.0
    assert "test accuracy" in capsys.readouterr().out
