"""Examples run (on small settings) so they never rot."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_tutorial3_mnist_learns_in_a_few_batches(
    mnist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ten batches (seed 0, a larger lr than the tutorial's) take the network from chance to
    ~71% on the full test set in ~2 s; the fixture fails under CI when MNIST is missing."""
    path = EXAMPLES / "tutorial3_mnist.py"
    spec = importlib.util.spec_from_file_location("tutorial3_mnist", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--data-dir", str(mnist), "--epochs", "1", "--max-batches", "10"]
    accuracy = module.main([*argv, "--num-steps", "5", "--batch-size", "64", "--lr", "2e-3"])
    assert accuracy > 0.5, accuracy  # chance: 0.1
    out = capsys.readouterr().out
    assert "epoch 1 batch 0: loss" in out
    assert f"test accuracy {accuracy:.4f} on 10000 images" in out  # the whole test split
