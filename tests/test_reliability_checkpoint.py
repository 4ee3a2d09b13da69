"""Checkpoints and long runs: safe formats, clear errors, no overwrite, bit-for-bit training.

* Weights are safetensors and the config JSON: no pickle anywhere in the package.
* A truncated, corrupt or mismatched checkpoint gives ``ValueError`` (``FileNotFoundError`` for a
  missing file), naming the file; the CLI turns it into one ``error:`` line and exit status 2.
* ``snnfunc train`` refuses a non-empty ``--out`` unless ``--overwrite`` (or ``--resume``).
* Training on CPU with a seed is bit-for-bit reproducible, and an interrupted run resumed from its
  last checkpoint ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("safetensors")

from snnfunc.app.checkpoint import load_checkpoint  # noqa: E402
from snnfunc.app.cli import main  # noqa: E402
from snnfunc.app.train import preset, run  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1] / "snnfunc"
# a tiny run on the bundled 8x8 digits: seconds on 2 cores
TINY: dict[str, Any] = dict(
    hidden=(16,), epochs=2, num_steps=4, batch_size=64, max_batches=3,
    progress=False, plots=False,
)  # fmt: skip


def _train(out: Path, **overrides: Any) -> dict[str, Any]:
    return run(preset("digits", out=str(out), **{**TINY, **overrides}))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    _train(out)
    return out


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    model, _ = load_checkpoint(directory)
    return {k: v.detach() for k, v in model.params.items()}


def test_no_pickle_in_the_package() -> None:
    """``torch.load`` only with ``weights_only=True``, and no pickle module at all."""
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", source, re.M), path
        for call in re.findall(r"torch\.load\([^)]*\)", source):
            assert "weights_only=True" in call, f"{path}: {call}"


def test_checkpoint_is_safetensors_and_json(checkpoint: Path) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    assert "model" in config
    raw = (checkpoint / "model.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])  # the safetensors layout: length, JSON, data
    assert set(header) - {"__metadata__"} == set(_weights(checkpoint))


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_header(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[8:24] = b"\xff" * 16
    path.write_bytes(bytes(raw))


def _garbage_json(path: Path) -> None:
    path.write_text('{"model": ')


def _mismatched_model(path: Path) -> None:
    config = json.loads(path.read_text())
    hidden = config["model"]["hidden"]
    config["model"]["hidden"] = [h + 1 for h in hidden]
    path.write_text(json.dumps(config))


def _not_a_checkpoint(path: Path) -> None:
    path.write_text(json.dumps({"hello": "world"}))


DAMAGE = [
    ("model.safetensors", _truncate, r"model.safetensors is corrupt or truncated"),
    ("model.safetensors", _flip_header, r"model.safetensors is corrupt or truncated"),
    ("model.safetensors", _empty, r"model.safetensors is corrupt or truncated"),
    ("config.json", _garbage_json, r"config.json is not valid JSON"),
    ("config.json", _not_a_checkpoint, r"config.json is not an snnfunc checkpoint config"),
    (
        "config.json",
        _mismatched_model,
        r"model.safetensors does not match .*config.json.*wrong shapes",
    ),
]


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    DAMAGE,
    ids=[d[1].__name__ if hasattr(d[1], "__name__") else "empty" for d in DAMAGE],
)
def test_damaged_checkpoint_is_a_clear_value_error(
    checkpoint: Path, tmp_path: Path, name: str, damage: Any, message: str
) -> None:
    broken = _copy(checkpoint, tmp_path / "broken")
    damage(broken / name)
    with pytest.raises(ValueError, match=message):
        load_checkpoint(broken)


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_missing_file_is_file_not_found(checkpoint: Path, tmp_path: Path, name: str) -> None:
    broken = _copy(checkpoint, tmp_path / "broken")
    (broken / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        load_checkpoint(broken)


def test_cli_eval_of_a_corrupt_checkpoint_is_one_error_line(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _copy(checkpoint, tmp_path / "broken")
    _truncate(broken / "model.safetensors")
    assert main(["eval", "--checkpoint", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "corrupt or truncated" in err and "Traceback" not in err


def test_cli_refuses_to_overwrite_an_existing_output_dir(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(checkpoint, tmp_path / "out")
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    args = ["train", "--out", str(out), "--hidden", "16", "--epochs", "1", "--num-steps", "4",
            "--max-batches", "2", "--no-progress", "--no-plots"]  # fmt: skip
    assert main(args) == 2
    assert "error:" in capsys.readouterr().err
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before, "nothing was touched"
    assert main([*args, "--overwrite"]) == 0


def test_training_on_cpu_is_bit_for_bit_reproducible(checkpoint: Path, tmp_path: Path) -> None:
    _train(tmp_path / "again")
    first, again = _weights(checkpoint), _weights(tmp_path / "again")
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    _train(tmp_path / "other", seed=1)
    other = _weights(tmp_path / "other")
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_an_interrupted_run_resumes_to_the_same_weights(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C right after epoch 1's checkpoint, then ``resume``: the weights of the full run."""
    import snnfunc.app.train

    real_save = snnfunc.app.train.save_checkpoint

    def save_then_interrupt(*args: Any, **kwargs: Any) -> Any:
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    out = tmp_path / "resumed"
    monkeypatch.setattr(snnfunc.app.train, "save_checkpoint", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _train(out)
    monkeypatch.setattr(snnfunc.app.train, "save_checkpoint", real_save)
    assert json.loads((out / "config.json").read_text())["epoch"] == 1
    _train(out, resume=True)
    full, resumed = _weights(checkpoint), _weights(out)
    assert all(torch.equal(full[k], resumed[k]) for k in full)
