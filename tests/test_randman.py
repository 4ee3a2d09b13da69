"""Randman and temporal datasets: only timing carries the class; models take sequences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnfunc.app import cli
from snnfunc.app.data import DATASETS, Dataset, load_dataset, sequence_loader
from snnfunc.app.evaluate import evaluate
from snnfunc.app.models import ModelConfig, build_model
from snnfunc.app.randman import RandmanConfig, load_randman, make_randman, shuffle_time
from snnfunc.app.train import fit, preset

SMALL = RandmanConfig(num_classes=3, num_units=20, num_steps=12, samples_per_class=30)


@pytest.mark.parametrize(
    "config",
    [SMALL, RandmanConfig(num_classes=2, num_units=10, samples_per_class=10, dim=2, alpha=1.5)],
)
def test_every_unit_fires_exactly_once_per_sample(config: RandmanConfig) -> None:
    for split in ("train", "test"):
        data = load_randman(split, config)
        assert data.inputs.shape[1:] == (config.num_steps, config.num_units)
        assert data.inputs.dtype == torch.float32
        assert torch.equal(data.inputs.sum(1), torch.ones(len(data.labels), config.num_units))
        assert bool(((data.inputs == 0) | (data.inputs == 1)).all())
    times = make_randman(config).inputs.argmax(1).float()  # [N, C] spike times
    assert times.std(0).min() > 0  # every unit's time varies between samples


def test_splits_are_disjoint_stratified_and_seeded() -> None:
    train, test = load_randman("train", SMALL), load_randman("test", SMALL)
    assert (
        train.labels.bincount().tolist() == [24] * 3 and test.labels.bincount().tolist() == [6] * 3
    )
    full = make_randman(SMALL)  # class by class; of each class, the last 6 samples are test
    position = torch.arange(len(full.labels)) % SMALL.samples_per_class
    assert torch.equal(train.inputs, full.inputs[position < 24])
    assert torch.equal(test.inputs, full.inputs[position >= 24])
    again = make_randman(RandmanConfig(**{**SMALL.__dict__}))
    assert torch.equal(again.inputs, make_randman(SMALL).inputs)
    other = make_randman(RandmanConfig(**{**SMALL.__dict__, "seed": 1}))
    assert not torch.equal(other.inputs, make_randman(SMALL).inputs)


def test_config_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        RandmanConfig(num_classes=1)
    with pytest.raises(ValueError, match="alpha"):
        RandmanConfig(alpha=0.0)
    with pytest.raises(ValueError, match="split"):
        load_randman("valid", SMALL)


def test_shuffle_time_keeps_counts_and_moves_spikes() -> None:
    data = make_randman(SMALL)
    shuffled = shuffle_time(data.inputs, torch.Generator().manual_seed(0))
    assert torch.equal(shuffled.sum(1), data.inputs.sum(1))  # per-unit counts unchanged
    assert torch.equal(shuffled.sum(2).sort(1).values, data.inputs.sum(2).sort(1).values)
    moved = (shuffled.argmax(1) != data.inputs.argmax(1)).float().mean()
    assert moved > 0.5
    with pytest.raises(ValueError, match="inputs must be a Tensor"):
        shuffle_time(torch.zeros(3))


def test_the_registered_dataset_is_temporal() -> None:
    info = DATASETS["randman"]
    assert info.temporal and info.input_shape == (100,) and info.num_classes == 10
    data = load_dataset("randman", "test")
    assert data.images.shape == (2000, 50, 100)
    assert not DATASETS["digits"].temporal


def test_sequence_loader_registers_an_event_loader(tmp_path: Path) -> None:
    def load_fake(
        data_dir: str | Path | None, split: str, *, num_bins: int
    ) -> tuple[torch.Tensor, ...]:
        if data_dir is None:  # the loader says what it needs (sequence_loader passes None on)
            raise FileNotFoundError("fake needs --data-dir: get it from example.org")
        n = 4 if split == "train" else 2
        return torch.ones(n, num_bins, 3, dtype=torch.uint8), torch.arange(n) % 2

    load = sequence_loader(load_fake, num_bins=7)
    data = load("train", tmp_path)
    assert data.images.shape == (4, 7, 3) and data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64
    with pytest.raises(FileNotFoundError, match="get it from example.org"):
        load("train", None)


def _model_config(**changes: object) -> ModelConfig:
    base = dict(
        arch="fcn",
        input_shape=(SMALL.num_units,),
        num_classes=SMALL.num_classes,
        hidden=(24,),
        neuron="rlif",
        neuron_params={"threshold": 0.1},
        temporal=True,
    )
    return ModelConfig(**{**base, **changes})  # type: ignore[arg-type]


def test_a_temporal_model_runs_its_sequences_time_major() -> None:
    model = build_model(_model_config())
    x = make_randman(SMALL).inputs[:5]  # [B, T, C]
    out = model(x)
    assert out.spikes.shape == (SMALL.num_steps, 5, SMALL.num_classes)
    ref = model.network.stepwise(model.params, x.transpose(0, 1))
    torch.testing.assert_close(out.spikes, ref.spikes)  # the input GEMM's blocking differs
    torch.testing.assert_close(out.membrane, ref.membrane)
    assert "neuron1.weight" in model.params and model.params["neuron1.weight"].shape == (24, 24)
    with pytest.raises(ValueError, match="num_steps is for static input"):
        model(x, num_steps=3)


def test_a_tiny_randman_trains_well_above_chance() -> None:
    """A few seconds of training (3 classes, chance 1/3): the recurrent net, read out by spike
    count, gets far above chance (about 0.8 at seeds 0, 1 and 2)."""
    task = RandmanConfig(num_classes=3, num_units=50, num_steps=20, samples_per_class=80)
    train = Dataset(*load_randman("train", task))
    test = Dataset(*load_randman("test", task))
    config = preset("randman", epochs=10, batch_size=8, lr=5e-3, progress=False)
    model_config = _model_config(input_shape=(50,), hidden=(32,))
    model = build_model(model_config, seed=0)
    fit(model, train, config)
    result = evaluate(model, test, loss=config.loss)
    assert result["accuracy"] > 0.6, result


def test_cli_trains_recurrent_and_adaptive_neurons_on_randman(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = ["--hidden", "8", "--epochs", "1", "--max-batches", "2", "--no-progress"]
    for neuron in ("rlif", "rsynaptic", "radlif", "adlif"):
        out = tmp_path / neuron
        argv = ["train", "--dataset", "randman", "--neuron", neuron, *small, "--no-plots"]
        assert cli.main([*argv, "--out", str(out)]) == 0, neuron
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["model"]["neuron"] == neuron and metrics["model"]["temporal"]
        assert metrics["test_samples"] == 2000
    capsys.readouterr()
    out = tmp_path / "rlif"
    assert cli.main(["eval", "--checkpoint", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "randman"
    assert cli.main(["attack", "--checkpoint", str(out), "--eps", "0.1", "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert "do not apply to spike sequences" in err and err.count("\n") == 1
    assert cli.main(["eval", "--checkpoint", str(out), "--dataset", "digits"]) == 2
    assert "but the checkpoint's model takes sequences" in capsys.readouterr().err


def test_cli_recurrent_neurons_train_on_images_too(tmp_path: Path) -> None:
    argv = ["train", "--neuron", "rlif", "--hidden", "8", "--epochs", "1", "--num-steps", "4"]
    argv += ["--max-batches", "2", "--no-progress", "--no-plots", "--out", str(tmp_path / "r")]
    assert cli.main(argv) == 0


def test_cli_shuffle_time_and_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--hidden", "8", "--epochs", "1", "--max-batches", "1", "--no-progress"]
    argv += ["--no-plots"]
    assert cli.main([*argv, "--shuffle-time", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "--shuffle-time is for temporal datasets" in err and err.count("\n") == 1
    out = tmp_path / "s"
    assert cli.main([*argv, "--dataset", "randman", "--shuffle-time", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["shuffle_time"] is True
    assert cli.main([*argv, "--neuron", "rlif", "--param", "weight=0.5"]) == 2
    assert "matrix the network trains" in capsys.readouterr().err
