"""Each benchmark script runs end to end at a tiny size (a smoke test, never a timing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = ["w1_lif_layer.py", "w2_training_step.py", "w3_rate_encoding.py", "recurrent_layer.py"]


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


def test_gpu_benchmark_runs_quick_under_the_triton_interpreter() -> None:
    """benchmarks/gpu.py (prepared for a lent GPU) runs here on CPU tensors, its kernels under
    TRITON_INTERPRET=1: its correctness table must show the Triton kernels equal to scan."""
    pytest.importorskip("triton")
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu.py"), "--quick", "--no-peers"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TRITON_INTERPRET": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith(("| lif", "| syn", "| ad"))]
    assert len(rows) == 3 and all("| triton | 0 | 0 |" in row for row in rows), out.stdout
    assert "### W2" in out.stdout and "LIF kernel alone, backward" in out.stdout


def _broken_peers(root: Path) -> None:
    """spikingjelly whose submodule needs a missing loguru; norse whose torch needs nirtorch."""
    for package, sub, missing in (
        ("spikingjelly", "activation_based", "loguru_is_not_installed"),
        ("norse", "torch", "nirtorch_is_not_installed"),
    ):
        (root / package / sub).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (root / package / sub / "__init__.py").write_text(f"import {missing}\n")


def test_peer_skips_a_peer_whose_submodule_fails_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _broken_peers(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    fake = ("spikingjelly", "norse")
    for name in [n for n in sys.modules if n.split(".")[0] in fake]:  # real ones: restored after
        monkeypatch.delitem(sys.modules, name)
    import _common

    monkeypatch.setattr(_common, "NO_PEERS", False)
    assert _common.peer("spikingjelly") is not None  # the bare package imports ...
    assert _common.peer("spikingjelly", "spikingjelly.activation_based.neuron") is None
    assert _common.peer("norse.torch") is None  # ... but what the scripts use does not
    err = capsys.readouterr().err
    assert "spikingjelly unavailable: ModuleNotFoundError" in err and "loguru" in err
    assert "norse.torch unavailable" in err and "nirtorch" in err
    for name in [n for n in sys.modules if n.split(".")[0] in fake]:  # no fake left behind
        del sys.modules[name]


@pytest.mark.parametrize("script", ["w1_lif_layer.py", "w3_rate_encoding.py"])
def test_benchmark_script_skips_broken_peers(script: str, tmp_path: Path) -> None:
    import os

    _broken_peers(tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--no-memory", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "unavailable" in out.stderr and "SpikingJelly" not in out.stdout
    assert "Norse" not in out.stdout
