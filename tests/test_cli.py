"""The ``snnfunc`` command line: parses, calls the library, reports errors in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnfunc.app import cli

SMALL = ["--epochs", "1", "--num-steps", "5", "--hidden", "16", "--no-progress"]


def test_train_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert cli.main(["train", *SMALL, "--max-batches", "4", "--no-plots", "--out", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"]["hidden"] == [16] and metrics["config"]["max_batches"] == 4
    assert cli.main(["eval", "--checkpoint", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("test_accuracy", "test_accuracy_membrane", "test_loss", "test_samples"):
        assert result[key] == pytest.approx(metrics[key]), key  # metrics.json's names
    assert result["accuracy"] == result["test_accuracy"]  # the deprecated name, kept
    assert result["dataset"] == "digits" and result["test_samples"] == 450


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
    assert (config.dataset, config.data_dir, config.model.arch, config.model.neuron) == (
        "mnist",
        "D",
        "conv",
        "alif",
    )
    assert (config.epochs, config.model.num_steps, config.batch_size, config.lr) == (2, 9, 7, 0.01)
    assert (config.seed, config.device, config.out, config.model.hidden) == (3, "cpu", "O", (4, 5))


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


def test_every_model_option_is_reachable() -> None:
    """Each ModelConfig field the dataset does not fix has a flag that sets it."""
    from dataclasses import fields

    from snnfunc.app.models import ModelConfig

    argv = "train --model conv --neuron alif --hidden 4,5 --num-steps 9 --kernel-size 3 "
    argv += "--padding 1 --reset zero --no-reset-delay --surrogate triangle --learn beta "
    argv += "--threshold 0.7 --param rho=0.5 --jump 0.1 --delay 3"
    model = cli.train_config_from_args(cli.build_parser().parse_args(argv.split())).model
    default = ModelConfig()
    fixed_by_dataset = {"input_shape", "num_classes", "temporal"}
    for field in fields(ModelConfig):
        if field.name not in fixed_by_dataset:
            assert getattr(model, field.name) != getattr(default, field.name), field.name
    assert model.neuron_params == {"threshold": 0.7, "rho": 0.5, "jump": 0.1}
    assert (model.kernel_size, model.padding, model.learn) == (3, 1, ("beta",))
    assert model.delay == 3


def test_every_neuron_param_has_a_flag_and_every_neuron_is_a_choice() -> None:
    from snnfunc.app.models import NEURONS
    from snnfunc.neurons import MODELS

    parser = cli.build_parser()
    assert {"lif", "synaptic", "if", "alif", "adlif"} <= set(NEURONS)  # derived from the registry
    for neuron in NEURONS:
        for name, spec in MODELS[neuron].params.items():
            if spec.kind == "matrix":  # a recurrent weight is trained, never set
                continue
            argv = ["train", "--neuron", neuron, f"--{name.replace('_', '-')}", "0.5"]
            config = cli.train_config_from_args(parser.parse_args(argv))
            assert dict(config.model.neuron_params) == {name: 0.5}, (neuron, name)


def test_bad_model_options_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "--neuron", "lif", "--alpha", "0.5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnfunc train: error: neuron_params: the lif model has no params")
    assert err.count("\n") == 1
    assert cli.main(["train", "--learn", "weight", "--no-progress"]) == 2
    assert "learn: 'weight' is not a learnable param" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--param", "beta"])
    assert exc.value.code == 2 and "expected NAME=VALUE" in capsys.readouterr().err


def test_train_adlif_on_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The adaptive LIF (adLIF) trains on the digits preset: 3 epochs, above chance (10%)."""
    out = tmp_path / "adlif"
    argv = ["train", "--neuron", "adlif", "--epochs", "3", "--no-progress", "--no-plots"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["neuron"] == "adlif"
    assert metrics["test_accuracy_membrane"] > 0.5


def test_learned_neuron_params_are_trained_and_saved(tmp_path: Path) -> None:
    from snnfunc.app.checkpoint import load_checkpoint

    out = tmp_path / "learn"
    argv = ["train", "--learn", "beta,threshold", "--hidden", "16", "--epochs", "1"]
    argv += ["--max-batches", "5", "--no-progress", "--out", str(out)]
    assert cli.main([*argv, "--no-plots"]) == 0
    assert cli.main([*argv, "--resume", "--epochs", "2"]) == 0  # plots the learned threshold
    model, saved = load_checkpoint(out)
    assert saved["epoch"] == 2 and (out / "membrane.png").is_file()
    assert model.config.learn == ("beta", "threshold")
    for k, width in ((1, 16), (2, 10)):  # per neuron, per layer, started at 0.8 and 1.0
        beta, threshold = model.params[f"neuron{k}.beta"], model.params[f"neuron{k}.threshold"]
        assert beta.shape == threshold.shape == (width,)
        assert not torch.equal(beta, torch.full((width,), 0.8))
        assert not torch.equal(threshold, torch.ones(width))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_cuda_on_a_cpu_only_torch_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert cli.main(["train", *SMALL, "--max-batches", "1", "--no-plots", "--out", str(out)]) == 0
    capsys.readouterr()
    commands = {
        "train": ["train", *SMALL, "--device", "cuda", "--out", str(tmp_path / "cuda")],
        "eval": ["eval", "--checkpoint", str(out), "--device", "cuda"],
        "attack": ["attack", "--checkpoint", str(out), "--device", "cuda:0", "--no-plot"],
    }
    for name, argv in commands.items():
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"snnfunc {name}: error: device 'cuda")
        assert "CUDA is not available" in err and err.count("\n") == 1
    assert not (tmp_path / "cuda").exists()  # refused before anything was written


def test_overwrite_with_resume_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", *SMALL, "--out", str(tmp_path), "--overwrite", "--resume"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "snnfunc train: error: --overwrite and --resume exclude each other: --resume continues "
        "the run in --out, --overwrite starts a new one there\n"
    )


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    def help_of(command: str) -> str:
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        return " ".join(capsys.readouterr().out.split())  # unwrapped

    train = help_of("train")
    schedule = (
        "digits+fcn cosine, mnist+conv cosine, randman+fcn cosine, shd+fcn cosine, "
        "ssc+fcn cosine; otherwise constant"
    )
    assert f"(default: {schedule})" in train
    epochs = (
        "digits+fcn 6, digits+conv 5, mnist+fcn 3, mnist+conv 4, randman+fcn 10, shd+fcn 20, "
        "ssc+fcn 20; otherwise 1"
    )
    assert f"(default: {epochs})" in train
    assert "(default: digits)" in train and "(default: runs/snnfunc)" in train
    assert "(default: None)" not in train and "(default: False)" not in train
    assert "examples per batch (default: 512)" in help_of("eval")
    attack = help_of("attack")
    assert "(default: fgsm)" in attack and "(default: 10)" in attack and "(default: 0)" in attack
