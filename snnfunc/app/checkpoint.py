"""The one checkpoint format: ``DIR/model.safetensors`` (weights) + ``DIR/config.json``.

No pickle anywhere: the weights are a flat ``{name: tensor}`` safetensors file and everything
needed to rebuild the model is JSON::

    {"format": "snnfunc-checkpoint", "format_version": 1, "snnfunc_version": "0.1.0",
     "model": {...ModelConfig...}, "train": {...optional...}, "epoch": 3}

Optimizer state for ``--resume`` goes beside it as ``optimizer.safetensors`` (tensors) with its
scalars under ``"optimizer"`` in the JSON. :func:`save_checkpoint` writes every file to a temporary
name first and renames it into place, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from snnfunc._checks import check_dtype_device
from snnfunc.app.models import Model, ModelConfig, network

__all__ = ["save_checkpoint", "load_checkpoint", "WEIGHTS_FILE", "CONFIG_FILE", "OPTIMIZER_FILE"]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
OPTIMIZER_FILE = "optimizer.safetensors"
FORMAT = "snnfunc-checkpoint"
FORMAT_VERSION = 1


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _optimizer_to_flat(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``optimizer.state_dict()`` -> (tensors, JSON scalars)."""
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for index, slot in state["state"].items():
        scalars["state"][str(index)] = {}
        for key, value in slot.items():
            if isinstance(value, Tensor):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars["state"][str(index)][key] = value
    return tensors, scalars


def _optimizer_from_flat(tensors: dict[str, Tensor], scalars: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for index, slot in scalars["state"].items():
        state[int(index)] = dict(slot)
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": scalars["param_groups"]}


def save_checkpoint(
    directory: str | Path,
    model: Model,
    *,
    train: dict[str, Any] | None = None,
    epoch: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write ``model`` (and optionally the training config, epoch and optimizer) to ``directory``.

    Args:
        directory: created if missing; existing checkpoint files in it are replaced.
        model: the :class:`~snnfunc.app.models.Model` to save.
        train: JSON-ready training settings to keep beside the model.
        epoch: epochs completed.
        optimizer: its state goes to ``optimizer.safetensors`` (for resuming).
    Returns:
        ``directory`` as a Path.
    """
    from safetensors.torch import save

    from snnfunc import __version__

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.params.items()}
    config: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "snnfunc_version": __version__,
        "model": model.config.to_dict(),
    }
    if train is not None:
        config["train"] = train
    if epoch is not None:
        config["epoch"] = epoch
    if optimizer is not None:
        tensors, scalars = _optimizer_to_flat(optimizer.state_dict())
        _atomic_write_bytes(root / OPTIMIZER_FILE, save(tensors))
        config["optimizer"] = scalars
    _atomic_write_bytes(root / WEIGHTS_FILE, save(weights))
    _atomic_write_bytes(root / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())
    return root


def _read_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint config not found: {path}")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the checkpoint is corrupt") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f'{path} is not an snnfunc checkpoint config (no "format": "{FORMAT}")')
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format_version {version!r}; this snnfunc reads {FORMAT_VERSION}"
        )
    if "model" not in config:
        raise ValueError(f'{path} has no "model" section')
    return config


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint weights not found: {path}")
    try:
        tensors: dict[str, Tensor] = load(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path} is corrupt or truncated ({err})") from err
    return tensors


def load_checkpoint(
    directory: str | Path, *, device: torch.device | str | None = None
) -> tuple[Model, dict[str, Any]]:
    """Rebuild the model saved in ``directory``.

    Args:
        directory: a directory written by :func:`save_checkpoint`.
        device: where to put the weights (default CPU).
    Returns:
        ``(model, config)``: the :class:`~snnfunc.app.models.Model` (weights with
        ``requires_grad=True``) and the whole ``config.json`` as a dict.
    Raises:
        FileNotFoundError: no such directory, or a file is missing.
        ValueError: a corrupt or truncated file, or weights that do not match the config
            (missing, unexpected or wrongly shaped tensors, named); a ``device`` that is not
            available here (``"cuda"`` on a CPU-only torch).
    """
    check_dtype_device(torch.float32, device)
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {root}")
    config = _read_config(root)
    try:
        model_config = ModelConfig.from_dict(config["model"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{root / CONFIG_FILE}: invalid model config: {err}") from err
    weights = _read_safetensors(root / WEIGHTS_FILE)
    expected = network(model_config).param_shapes()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [
        f"{k}: saved {tuple(weights[k].shape)}, config needs {expected[k]}"
        for k in sorted(set(expected) & set(weights))
        if tuple(weights[k].shape) != expected[k]
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{root / WEIGHTS_FILE} does not match {root / CONFIG_FILE}: "
            f"missing {missing}, unexpected {unexpected}, wrong shapes {wrong}"
        )
    params = {k: weights[k].to(device).requires_grad_() for k in expected}
    return Model(model_config, params), config


def load_optimizer_state(directory: str | Path, config: dict[str, Any]) -> dict[str, Any]:
    """The optimizer ``state_dict`` saved beside a checkpoint (for resuming)."""
    root = Path(directory)
    if "optimizer" not in config:
        raise ValueError(f"{root / CONFIG_FILE} has no optimizer state to resume from")
    tensors = _read_safetensors(root / OPTIMIZER_FILE)
    return _optimizer_from_flat(tensors, config["optimizer"])
