"""Classification accuracy of a spiking network's output ``[T, B, C]`` against targets ``[B]``.

Each metric returns the fraction correct as a 0-d float tensor (call ``.item()`` for a number).
Ties go to the lowest class index (``argmax``/``argmin`` semantics), so a silent network
predicts class 0: keep that in mind when reading accuracies of untrained networks.

snnTorch (``snntorch.functional``): :func:`accuracy_count` is ``accuracy_rate`` (with
``num_classes`` for its population code), :func:`accuracy_first_spike` is ``accuracy_temporal``
up to a silent neuron's time (see there); :func:`accuracy_membrane` has no counterpart.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_class_output, check_floating
from snnfunc.loss import first_spike_time, population_code

__all__ = ["accuracy_count", "accuracy_membrane", "accuracy_first_spike", "predict_count"]


def predict_count(spikes: Tensor) -> Tensor:
    """Predicted class by spike count (the tutorial's rule). ``[T, B, C] -> [B]`` (long)."""
    check_floating("spikes", spikes)
    if spikes.dim() != 3 or spikes.shape[2] == 0:
        raise ValueError(
            f"spikes must be [T, B, C] (time, batch, classes) with C >= 1, "
            f"got {tuple(spikes.shape)}"
        )
    return spikes.sum(0).argmax(-1)


def _fraction(pred: Tensor, targets: Tensor) -> Tensor:
    return (pred == targets.long()).to(torch.get_default_dtype()).mean()


def accuracy_count(spikes: Tensor, targets: Tensor, *, num_classes: int | None = None) -> Tensor:
    """Fraction of the batch whose most-spiking output neuron (or population) is the target.

    snnTorch's ``accuracy_rate`` (``num_classes=K`` is its ``population_code=True,
    num_classes=K``); it returns a NumPy float, this a 0-d tensor.

    Args:
        spikes: output spikes ``[T, B, C]``.
        targets: class indices ``[B]``.
        num_classes: ``K`` for a population code (see :func:`snnfunc.loss.population_code`).
    Returns:
        0-d tensor in [0, 1].
    """
    check_class_output("spikes", spikes, targets, num_classes=num_classes)
    if num_classes is not None:
        spikes = population_code(spikes, num_classes)
    return _fraction(predict_count(spikes), targets)


def accuracy_membrane(
    membrane: Tensor, targets: Tensor, *, reduce: Literal["mean", "max", "last"] = "mean"
) -> Tensor:
    """Fraction of the batch whose output membrane (mean over time, max, or last step) is
    highest at the target.

    Args:
        membrane: output membrane ``[T, B, C]``.
        targets: class indices ``[B]``.
        reduce: how to collapse time: ``"mean"`` (default), ``"max"`` or ``"last"``.
    Returns:
        0-d tensor in [0, 1].
    """
    check_class_output("membrane", membrane, targets)
    check_choice("reduce", reduce, ("mean", "max", "last"))
    if reduce == "mean":
        score = membrane.mean(0)
    elif reduce == "max":
        score = membrane.amax(0)
    else:
        score = membrane[-1]
    return _fraction(score.argmax(-1), targets)


def accuracy_first_spike(spikes: Tensor, targets: Tensor) -> Tensor:
    """Fraction of the batch whose first output neuron to fire is the target.

    A neuron that never fires has first-spike time ``T``; simultaneous first spikes go to the
    lowest class index. snnTorch's ``accuracy_temporal`` gives a silent neuron ``T - 1``, so it
    differs only where a lower-index neuron is silent and the earliest spike is at ``T - 1``
    (snnTorch then picks the silent one).

    Args:
        spikes: output spikes ``[T, B, C]``.
        targets: class indices ``[B]``.
    Returns:
        0-d tensor in [0, 1].
    """
    check_class_output("spikes", spikes, targets)
    return _fraction(first_spike_time(spikes.detach()).argmin(-1), targets)
