"""Checkpoints: round trip, and clear errors for missing, truncated, corrupt, mismatched files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnfunc.app.checkpoint import load_checkpoint, load_optimizer_state, save_checkpoint
from snnfunc.app.models import ModelConfig, build_model

CONFIG = ModelConfig(input_shape=(1, 4, 4), hidden=(8,), neuron="lif", num_steps=5)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model = build_model(CONFIG, seed=1)
    save_checkpoint(tmp_path / "ck", model, train={"dataset": "digits"}, epoch=2)
    return tmp_path / "ck"


def test_round_trip_gives_the_same_network(saved: Path) -> None:
    model, config = load_checkpoint(saved)
    original = build_model(CONFIG, seed=1)
    assert (
        model.config == CONFIG and config["epoch"] == 2 and config["train"]["dataset"] == "digits"
    )
    x = torch.rand(3, 1, 4, 4)
    torch.testing.assert_close(model(x).membrane, original(x).membrane, rtol=0, atol=0)
    assert sorted(p.name for p in saved.iterdir()) == ["config.json", "model.safetensors"]


def test_files_are_json_and_safetensors(saved: Path) -> None:
    config = json.loads((saved / "config.json").read_text())
    assert config["format"] == "snnfunc-checkpoint" and config["model"]["hidden"] == [8]
    raw = (saved / "model.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")  # safetensors: u64 header size + JSON header
    header = json.loads(raw[8 : 8 + header_len])
    assert header["fc1.weight"]["shape"] == [8, 16]


def test_optimizer_state_round_trip(tmp_path: Path) -> None:
    model = build_model(CONFIG)
    opt = torch.optim.Adam(model.params.values(), lr=1e-3)
    model(torch.rand(2, 1, 4, 4)).membrane.sum().backward()
    opt.step()
    save_checkpoint(tmp_path, model, optimizer=opt)
    loaded, config = load_checkpoint(tmp_path)
    opt2 = torch.optim.Adam(loaded.params.values(), lr=1e-3)
    opt2.load_state_dict(load_optimizer_state(tmp_path, config))
    for k, slot in opt.state_dict()["state"].items():
        for name, value in slot.items():
            torch.testing.assert_close(opt2.state_dict()["state"][k][name], value)


def test_missing(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint directory not found"):
        load_checkpoint(tmp_path / "nope")
    (saved / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_checkpoint(saved)
    (saved / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_checkpoint(saved)


def test_truncated_weights(saved: Path) -> None:
    path = saved / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(saved)


def test_garbage_weights(saved: Path) -> None:
    (saved / "model.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(saved)


def test_corrupt_config(saved: Path) -> None:
    path = saved / "config.json"
    path.write_text(path.read_text()[:30])
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(saved)
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not an snnfunc checkpoint"):
        load_checkpoint(saved)


def test_weights_not_matching_config(saved: Path) -> None:
    path = saved / "config.json"
    config = json.loads(path.read_text())
    config["model"]["hidden"] = [9]
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"fc1.weight: saved \(8, 16\), config needs \(9, 16\)"):
        load_checkpoint(saved)
    config["model"]["hidden"] = [8, 8]
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"missing \['fc3.bias', 'fc3.weight'\]"):
        load_checkpoint(saved)
    config["model"]["neuron"] = "hodgkin"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="invalid model config: neuron must be one of"):
        load_checkpoint(saved)


@pytest.mark.parametrize(
    "old",
    [
        # written by 0.1.0 after the neuron registry (c39a4ca): params None = the default
        {"model": "fcn", "alpha": None, "beta": 0.9, "threshold": None, "rho": None, "jump": None},
        # written by 0.1.0 before it: every param a float, those the neuron lacks ignored
        {"model": "fcn", "alpha": 0.7, "beta": 0.9, "threshold": 1.0, "rho": 0.9, "jump": 0.2},
    ],
)
def test_configs_written_by_earlier_versions_load(saved: Path, old: dict[str, object]) -> None:
    path = saved / "config.json"
    config = json.loads(path.read_text())
    section = {k: v for k, v in config["model"].items() if k not in ("arch", "neuron_params")}
    del section["learn"]
    config["model"] = {**section, **old}
    path.write_text(json.dumps(config))
    model, _ = load_checkpoint(saved)
    assert model.config == ModelConfig(
        input_shape=(1, 4, 4),
        hidden=(8,),
        neuron="lif",
        num_steps=5,
        neuron_params={"beta": 0.9, **({"threshold": 1.0} if old["threshold"] else {})},
    )
