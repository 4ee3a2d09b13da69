"""The ``snnfunc`` command line: parses, calls the library, reports errors in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from snnfunc.app import cli

SMALL = ["--epochs", "1", "--num-steps", "5", "--hidden", "16", "--no-progress"]


def test_train_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert cli.main(["train", *SMALL, "--max-batches", "4", "--no-plots", "--out", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["hidden"] == [16] and metrics["config"]["max_batches"] == 4
    assert cli.main(["eval", "--checkpoint", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert result["dataset"] == "digits" and result["samples"] == 450


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x").write_text("")
    assert cli.main(["train", *SMALL, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnfunc train: error: --out") and "--overwrite" in err
    assert cli.main(["eval", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "checkpoint directory not found" in capsys.readouterr().err


def test_argparse_rejects_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--epochs", "0"])
    assert exc.value.code == 2 and "positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--neuron", "hh"])


def test_parser_maps_every_flag() -> None:
    args = cli.build_parser().parse_args(
        "train --dataset mnist --data-dir D --model conv --neuron alif --epochs 2 --num-steps 9 "
        "--batch-size 7 --lr 0.01 --seed 3 --device cpu --out O --hidden 4,5".split()
    )
    config = cli.train_config_from_args(args)
    assert (config.dataset, config.data_dir, config.model, config.neuron) == (
        "mnist",
        "D",
        "conv",
        "alif",
    )
    assert (config.epochs, config.num_steps, config.batch_size, config.lr) == (2, 9, 7, 0.01)
    assert (config.seed, config.device, config.out, config.hidden) == (3, "cpu", "O", (4, 5))


def test_subcommands_can_be_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    def add_hello(subparsers: object) -> None:
        p = subparsers.add_parser("hello")  # type: ignore[attr-defined]
        p.set_defaults(func=lambda args: 7)

    monkeypatch.setattr(cli, "SUBCOMMANDS", [*cli.SUBCOMMANDS, add_hello])
    assert cli.main(["hello"]) == 7


def test_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "snnfunc", "--version"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("snnfunc ")
