"""End-to-end training on the bundled digits (small and fast), resume, evaluation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

import snnfunc.app.train
from snnfunc.app.checkpoint import load_checkpoint
from snnfunc.app.evaluate import evaluate_checkpoint
from snnfunc.app.train import TrainConfig, resolve, train

# Small but real: 2 epochs of the digits at T=10 learn well above chance (10%).
FAST = TrainConfig(epochs=2, num_steps=10, hidden=(64,), batch_size=64, progress=False)


def test_train_digits_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    metrics = train(dataclasses.replace(FAST, out=str(out)))
    assert metrics["test_accuracy"] > 0.8
    assert metrics["train_seconds"] > 0 and len(metrics["epochs"]) == 2
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["test_accuracy"] == metrics["test_accuracy"]
    assert on_disk["config"]["num_steps"] == 10 and on_disk["config"]["neuron"] == "synaptic"
    for name in ("model.safetensors", "config.json", "loss.png", "raster.png", "membrane.png"):
        assert (out / name).stat().st_size > 0, name
    # the checkpoint reproduces the reported accuracy
    again = evaluate_checkpoint(out)
    assert again["accuracy"] == pytest.approx(metrics["test_accuracy"])
    model, config = load_checkpoint(out)
    assert model.config.hidden == (64,) and config["epoch"] == 2


def test_resume_after_a_crash_continues_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = dataclasses.replace(
        FAST, max_batches=3, plots=False, model="fcn", hidden=(16,), schedule="cosine"
    )
    straight = tmp_path / "straight"
    train(dataclasses.replace(base, out=str(straight)))

    real_save = snnfunc.app.train.save_checkpoint

    def save_then_crash(*args: Any, **kwargs: Any) -> Any:
        real_save(*args, **kwargs)
        raise KeyboardInterrupt  # killed right after the first epoch's checkpoint

    crashed = tmp_path / "crashed"
    monkeypatch.setattr(snnfunc.app.train, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train(dataclasses.replace(base, out=str(crashed)))
    monkeypatch.setattr(snnfunc.app.train, "save_checkpoint", real_save)
    assert load_checkpoint(crashed)[1]["epoch"] == 1
    train(dataclasses.replace(base, out=str(crashed), resume=True))

    a, _ = load_checkpoint(straight)
    b, config = load_checkpoint(crashed)
    assert config["epoch"] == 2
    for name in a.params:
        torch.testing.assert_close(a.params[name], b.params[name], rtol=0, atol=0)


def test_refuses_non_empty_out(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    config = dataclasses.replace(FAST, out=str(tmp_path), max_batches=1, epochs=1, plots=False)
    with pytest.raises(FileExistsError, match="not empty; pass --overwrite"):
        train(config)
    train(dataclasses.replace(config, overwrite=True))
    assert (tmp_path / "keep.txt").read_text() == "mine"
    with pytest.raises(FileNotFoundError, match="--resume: no checkpoint"):
        train(dataclasses.replace(config, out=str(tmp_path / "empty"), resume=True))


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    config = dataclasses.replace(FAST, out=str(tmp_path), max_batches=1, epochs=1, plots=False)
    train(config)
    with pytest.raises(ValueError, match="--resume: lr is"):
        train(dataclasses.replace(config, resume=True, epochs=2, lr=0.1))


def test_presets_and_config_errors() -> None:
    mnist = resolve(TrainConfig(dataset="mnist"))
    assert (mnist.hidden, mnist.neuron, mnist.epochs, mnist.num_steps) == (
        (1000,),
        "synaptic",
        3,
        25,
    )
    assert (mnist.batch_size, mnist.lr, mnist.alpha, mnist.beta) == (128, 2e-4, 0.7, 0.8)
    assert mnist.surrogate == "heaviside"  # the tutorial's: the gradient is the spike itself
    assert resolve(TrainConfig(dataset="mnist", surrogate="atan")).surrogate == "atan"
    assert resolve(TrainConfig(surrogate="heaviside")).surrogate == "heaviside"
    assert resolve(TrainConfig(model="conv")).neuron == "lif"
    assert resolve(TrainConfig(neuron="if", num_steps=5)).num_steps == 5
    with pytest.raises(ValueError, match="schedule must be one of"):
        resolve(TrainConfig(schedule="step"))
    with pytest.raises(ValueError, match="loss must be one of"):
        resolve(TrainConfig(loss="hinge"))
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        resolve(TrainConfig(epochs=0))
    with pytest.raises(ValueError, match="lr must be a positive finite float"):
        resolve(TrainConfig(lr=float("nan")))


@pytest.mark.parametrize("loss", ["rate_ce", "count_mse", "latency_mse", "membrane_ce_mean"])
def test_every_loss_trains_a_step(tmp_path: Path, loss: str) -> None:
    config = dataclasses.replace(
        FAST, out=str(tmp_path), loss=loss, max_batches=2, epochs=1, plots=False, hidden=(16,)
    )
    assert 0.0 <= train(config)["test_accuracy"] <= 1.0
