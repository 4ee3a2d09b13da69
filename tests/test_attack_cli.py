"""`snnfunc attack` and attack_checkpoint on a model trained by `snnfunc train`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")
pytest.importorskip("safetensors")

from snnfunc.app.cli import main  # noqa: E402
from snnfunc.app.evaluate import attack_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default digits model, trained for 2 epochs (~1 s; ~90% test accuracy)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: a second thread only waits on a shared box
    out = tmp_path_factory.mktemp("digits")
    argv = ["train", "--out", str(out), "--overwrite", "--epochs", "2", "--no-progress"]
    assert main([*argv, "--no-plots"]) == 0
    yield out
    torch.set_num_threads(before)


def test_attack_prints_a_falling_robust_accuracy_table_and_saves_the_plot(
    checkpoint: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plot = tmp_path / "robust.png"
    assert main(["attack", "--checkpoint", str(checkpoint), "--eps", "0,0.05,0.2", "--out",
                 str(plot)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| 0")]
    table = {float(r[1]): [float(c.strip().rstrip("%")) for c in r[2:4]] for r in rows}
    assert set(table) == {0.0, 0.05, 0.2}, out
    for column in (0, 1):
        clean, mid, large = (table[e][column] for e in (0.0, 0.05, 0.2))
        assert clean > 80 and mid < clean and large < clean - 40, out
    assert plot.stat().st_size > 0 and f"plot: {plot}" in out


def test_clean_accuracy_is_the_eval_accuracy_and_json_output(
    checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--checkpoint", str(checkpoint), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    argv = ["attack", "--checkpoint", str(checkpoint), "--eps", "0", "--json", "--no-plot"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["eps"] == [0.0] and result["samples"] == evaluated["samples"]
    assert result["accuracy"][0] == pytest.approx(evaluated["accuracy"])
    assert result["accuracy_membrane"][0] == pytest.approx(evaluated["accuracy_membrane"])
    assert not (checkpoint / "robustness.png").exists()


def test_pgd_with_rate_encoding_beats_fgsm_and_is_reproducible(checkpoint: Path) -> None:
    """Rate-coded input: the attack's gradient crosses snnfunc.rate (straight-through); the
    encoder noise is seeded, so a rerun gives the same numbers."""
    options = {"encoding": "rate", "max_samples": 200, "seed": 3}
    fgsm_acc = attack_checkpoint(checkpoint, [0.0, 0.1], **options)
    pgd_acc = attack_checkpoint(checkpoint, [0.0, 0.1], attack="pgd", steps=5, **options)
    assert fgsm_acc["samples"] == 200 and fgsm_acc["encoding"] == "rate"
    assert fgsm_acc["accuracy"][0] == pgd_acc["accuracy"][0] > 0.7  # same clean noise stream
    assert pgd_acc["accuracy"][1] <= fgsm_acc["accuracy"][1] < fgsm_acc["accuracy"][0] - 0.15
    assert attack_checkpoint(checkpoint, [0.0, 0.1], **options) == fgsm_acc


def test_attack_errors_exit_2_with_one_line(
    checkpoint: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["attack", "--checkpoint", str(tmp_path / "missing"), "--no-plot"]) == 2
    assert "snnfunc attack: error: checkpoint directory not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["attack", "--checkpoint", str(checkpoint), "--eps", "0,-0.1"])
    assert "expected finite floats >= 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="encoding must be 'direct' or 'rate'"):
        attack_checkpoint(checkpoint, [0.1], encoding="poisson")  # type: ignore[arg-type]
