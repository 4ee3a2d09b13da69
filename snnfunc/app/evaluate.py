"""Evaluation of models and checkpoints: accuracy, and robust accuracy under attack.

The glue between a checkpoint written by ``snnfunc train`` and the library: :func:`evaluate`
(accuracy and loss on a dataset), :func:`evaluate_checkpoint` (the ``snnfunc eval`` command) and
:func:`attack_checkpoint` (``snnfunc attack``, built on :mod:`snnfunc.attacks`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_int_at_least
from snnfunc.app.checkpoint import load_checkpoint
from snnfunc.app.data import DATASETS, Dataset, batches, load_dataset
from snnfunc.app.models import Model, NetOutput
from snnfunc.attacks import _check_eps, fgsm, pgd
from snnfunc.encode import rate
from snnfunc.loss import count_mse, latency_mse, membrane_ce, rate_ce
from snnfunc.metrics import accuracy_count, accuracy_membrane

__all__ = ["LOSSES", "evaluate", "evaluate_checkpoint", "attack_checkpoint"]

LossFn = Callable[[NetOutput, Tensor], Tensor]
LOSSES: dict[str, LossFn] = {
    "membrane_ce": lambda out, y: membrane_ce(out.membrane, y),
    "membrane_ce_mean": lambda out, y: membrane_ce(out.membrane, y, time_reduction="mean"),
    "rate_ce": lambda out, y: rate_ce(out.spikes, y),
    "count_mse": lambda out, y: count_mse(out.spikes, y),
    "latency_mse": lambda out, y: latency_mse(out.spikes, y),
}


@torch.no_grad()
def evaluate(
    model: Model,
    data: Dataset,
    *,
    batch_size: int = 512,
    num_steps: int | None = None,
    loss: str = "membrane_ce",
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Accuracy (by spike count, and by mean membrane) and mean loss of ``model`` on ``data``.

    Returns:
        ``{"accuracy", "accuracy_membrane", "loss", "samples"}``; accuracies are fractions.
    """
    check_choice("loss", loss, tuple(LOSSES))
    n = data.labels.shape[0]
    correct = correct_mem = total_loss = 0.0
    for images, labels in batches(data, batch_size):
        images, labels = images.to(device), labels.to(device)
        out = model(images, num_steps=num_steps)
        b = labels.shape[0]
        correct += float(accuracy_count(out.spikes, labels)) * b
        correct_mem += float(accuracy_membrane(out.membrane, labels)) * b
        total_loss += float(LOSSES[loss](out, labels)) * b
    return {
        "accuracy": correct / n,
        "accuracy_membrane": correct_mem / n,
        "loss": total_loss / n,
        "samples": float(n),
    }


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    batch_size: int = 512,
    num_steps: int | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Reload a checkpoint and evaluate it on a test split (default: the dataset it was
    trained on). Returns :func:`evaluate`'s dict plus ``dataset`` and ``checkpoint``."""
    model, saved = load_checkpoint(checkpoint, device=device)
    train_settings = saved.get("train", {})
    name = dataset or train_settings.get("dataset")
    if name is None:
        raise ValueError(f"{checkpoint} does not record its dataset; pass dataset= (--dataset)")
    data = load_dataset(name, "test", data_dir or train_settings.get("data_dir"))
    _check_fits(name, data, model)
    result: dict[str, Any] = dict(
        evaluate(
            model,
            data,
            batch_size=batch_size,
            num_steps=num_steps,
            loss=train_settings.get("loss", "membrane_ce"),
            device=device,
        )
    )
    result.update(dataset=name, checkpoint=str(checkpoint))
    return result


def _check_fits(name: str, data: Dataset, model: Model) -> None:
    """The dataset's examples are what the checkpoint's model takes (images or sequences)."""
    temporal = model.config.temporal
    shape = tuple(data.images.shape[2:] if temporal else data.images.shape[1:])
    if DATASETS[name].temporal != temporal or shape != model.config.input_shape:
        what = "sequences of steps" if DATASETS[name].temporal else "images"
        raise ValueError(
            f"dataset {name!r} has {what} {tuple(data.images.shape[1:])} but the checkpoint's "
            f"model takes {'sequences of ' if temporal else ''}{model.config.input_shape}"
        )


# --- a saved model (the `snnfunc attack` command) -------------------------------------------
def attack_checkpoint(
    checkpoint: str | Path,
    eps_list: Sequence[float],
    *,
    attack: Literal["fgsm", "pgd"] = "fgsm",
    steps: int = 10,
    alpha: float | None = None,
    encoding: Literal["direct", "rate"] = "direct",
    dataset: str | None = None,
    data_dir: str | None = None,
    batch_size: int = 512,
    num_steps: int | None = None,
    max_samples: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """Robust accuracy against ``eps`` of a model saved by ``snnfunc train``.

    Loads the checkpoint (:func:`snnfunc.app.checkpoint.load_checkpoint`) and its test split,
    attacks each batch with the loss the model was trained with, and measures accuracy on the
    attacked inputs by spike count (the ``eval`` command's ``accuracy``) and by mean membrane.

    Args:
        checkpoint: a directory with ``model.safetensors`` + ``config.json``.
        eps_list: L-inf budgets ``>= 0`` on pixels in [0, 1] (``0``: clean accuracy).
        attack: ``"fgsm"`` or ``"pgd"`` (``steps`` steps of ``alpha``, default
            ``2.5 * eps / steps``).
        encoding: ``"direct"``: the image is the input current at every step, as trained;
            ``"rate"``: :func:`snnfunc.rate` spikes from the image instead (straight-through),
            drawn with ``seed``, the same noise stream for every ``eps``.
        dataset, data_dir: default: as trained.
        batch_size: examples per attacked batch.
        num_steps: ``T`` (default: as trained).
        max_samples: attack only the first ``max_samples`` test examples.
        seed: seed of the rate encoder's noise.
        device: where to run.
    Returns:
        ``{"eps", "accuracy", "accuracy_membrane"}`` (lists, one value per eps) plus
        ``attack``, ``steps``, ``encoding``, ``loss``, ``dataset``, ``samples``, ``checkpoint``.
    """
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    if encoding not in ("direct", "rate"):
        raise ValueError(f"encoding must be 'direct' or 'rate', got {encoding!r}")
    eps_values = [_check_eps("eps", e) for e in eps_list]
    if not eps_values:
        raise ValueError("eps_list must hold at least one budget")
    check_int_at_least("steps", steps, 0)
    if max_samples is not None:
        check_int_at_least("max_samples", max_samples, 1)
    model, saved = load_checkpoint(checkpoint, device=device)
    for weight in model.params.values():
        weight.requires_grad_(False)  # gradients to the input only
    trained = saved.get("train", {})
    name = dataset or trained.get("dataset")
    if name is None:
        raise ValueError(f"{checkpoint} does not record its dataset; pass dataset= (--dataset)")
    if model.config.temporal:
        raise ValueError(
            f"{checkpoint} is a model of sequences (a temporal dataset): the attacks perturb "
            "image pixels in [0, 1] and do not apply to spike sequences"
        )
    data = load_dataset(name, "test", data_dir or trained.get("data_dir"))
    _check_fits(name, data, model)
    if max_samples is not None:
        data = Dataset(data.images[:max_samples], data.labels[:max_samples])
    loss_name = trained.get("loss", "membrane_ce")
    loss_of = LOSSES[loss_name]
    steps_t = num_steps or model.config.num_steps
    noise = torch.Generator(device=device)

    def run(x: Tensor) -> NetOutput:
        if encoding == "direct":
            return model(x, num_steps=steps_t)
        spikes = rate(x, steps_t, generator=noise)  # [T, B, C, H, W]
        return model.network.stepwise(model.params, spikes)  # the reference scan

    result: dict[str, Any] = {"eps": eps_values, "accuracy": [], "accuracy_membrane": []}
    for eps in eps_values:
        noise.manual_seed(seed)
        correct_count = correct_membrane = 0
        for images, labels in batches(data, batch_size):
            x, y = images.to(device), labels.to(device)

            def loss_fn(v: Tensor, y: Tensor = y) -> Tensor:
                loss: Tensor = loss_of(run(v), y)
                return loss

            if attack == "fgsm":
                x_adv = fgsm(loss_fn, x, eps)
            else:
                step = alpha if alpha is not None else 2.5 * eps / max(steps, 1)
                x_adv = pgd(loss_fn, x, eps, step, steps)
            with torch.no_grad():
                out = run(x_adv)
            correct_count += int((out.spikes.sum(0).argmax(-1) == y).sum())
            correct_membrane += int((out.membrane.mean(0).argmax(-1) == y).sum())
        n = int(data.labels.shape[0])
        result["accuracy"].append(correct_count / n)
        result["accuracy_membrane"].append(correct_membrane / n)
    result.update(
        attack=attack,
        steps=steps if attack == "pgd" else 1,
        encoding=encoding,
        loss=loss_name,
        dataset=name,
        samples=int(data.labels.shape[0]),
        checkpoint=str(checkpoint),
    )
    return result
