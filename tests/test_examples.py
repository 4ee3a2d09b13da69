"""Smoke-run the example scripts on a few batches."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from snnfunc.data import default_mnist_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(default_mnist_dir() is None, reason="../shared/data/mnist not found")
def test_tutorial3_mnist_runs_a_few_batches(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(
        "tutorial3", ROOT / "examples" / "tutorial3_mnist.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    accuracy = module.main(
        ["--epochs", "1", "--max-batches", "2", "--num-steps", "5", "--batch-size", "32"]
    )
    assert 0.0 <= accuracy <= 1.0
    assert "test accuracy" in capsys.readouterr().out
