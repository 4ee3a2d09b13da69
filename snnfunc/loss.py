"""Losses over a network's output over time: ``[T, B, C]`` (time, batch, classes) -> scalar.

Every loss takes the time-major output of the last layer and integer class ``targets: [B]``
(``torch.long``), and returns a 0-d tensor averaged over the batch. They are plain torch ops, so
they work under ``torch.func`` (``grad``, ``vmap`` over an extra leading dim of whole batches is
not supported; vmap the network, not the loss) and ``torch.compile``.

==================  ==========================================================  ==================
loss                value                                                       reads
==================  ==========================================================  ==================
membrane_ce         :math:`\\sum_t \\mathrm{CE}(u_t, y)` (or the mean over t)    membrane ``u``
rate_ce             :math:`\\mathrm{CE}(\\sum_t z_t, y)`                         spikes ``z``
count_mse           :math:`\\mathrm{mean}_{b,c}(n_{bc} - n^*_{bc})^2 / T`        spikes ``z``
latency_mse         :math:`\\mathrm{mean}_{b,c}(t^{first}_{bc} - t^*_{bc})^2`    spikes ``z``
==================  ==========================================================  ==================
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from snnfunc._checks import (
    check_choice,
    check_class_output,
    check_floating,
)

__all__ = ["membrane_ce", "rate_ce", "count_mse", "latency_mse", "first_spike_time"]

TimeReduction = Literal["sum", "mean"]


def membrane_ce(
    membrane: Tensor, targets: Tensor, *, time_reduction: TimeReduction = "sum"
) -> Tensor:
    r"""Cross-entropy of the membrane potential at every step, summed (or averaged) over time.

    This is snnTorch tutorial 3's loss: softmax over the classes at each step, the negative
    log-likelihood of the target averaged over the batch, summed over the steps:

    .. math:: L = \sum_{t=1}^{T} \frac{1}{B} \sum_b -\log \mathrm{softmax}(u_{t,b})_{y_b}

    Args:
        membrane: output-layer membrane ``[T, B, C]``.
        targets: class indices ``[B]``.
        time_reduction: ``"sum"`` (the tutorial's) or ``"mean"`` over the ``T`` steps.
    Returns:
        The loss, a 0-d tensor.
    """
    check_class_output("membrane", membrane, targets)
    check_choice("time_reduction", time_reduction, ("sum", "mean"))
    steps, batch, classes = membrane.shape
    per_step = F.cross_entropy(
        membrane.reshape(steps * batch, classes), targets.long().repeat(steps), reduction="sum"
    )
    loss = per_step / batch
    return loss if time_reduction == "sum" else loss / steps


def rate_ce(spikes: Tensor, targets: Tensor) -> Tensor:
    r"""Cross-entropy over spike counts: counts :math:`n = \sum_t z_t` ``[B, C]`` are the logits.

    .. math:: L = \frac{1}{B} \sum_b -\log \mathrm{softmax}(n_b)_{y_b}

    Args:
        spikes: output spikes ``[T, B, C]`` (with a surrogate gradient).
        targets: class indices ``[B]``.
    Returns:
        The loss, a 0-d tensor.
    """
    check_class_output("spikes", spikes, targets)
    return F.cross_entropy(spikes.sum(0), targets.long())


def count_mse(
    spikes: Tensor,
    targets: Tensor,
    *,
    correct_rate: float = 0.8,
    incorrect_rate: float = 0.2,
) -> Tensor:
    r"""Mean squared error between spike counts and target counts (snnTorch's ``mse_count_loss``).

    The target count is ``correct_rate * T`` for the target class and ``incorrect_rate * T`` for
    the others:

    .. math:: L = \frac{1}{T} \cdot \frac{1}{BC} \sum_{b,c} (n_{bc} - r_{bc} T)^2,
              \quad n = \sum_t z_t

    Args:
        spikes: output spikes ``[T, B, C]``.
        targets: class indices ``[B]``.
        correct_rate: firing rate (spikes per step, in [0, 1]) asked of the target class.
        incorrect_rate: firing rate asked of every other class.
    Returns:
        The loss, a 0-d tensor.
    """
    check_class_output("spikes", spikes, targets)
    for name, rate in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1] (spikes per step), got {rate!r}")
    steps, _, classes = spikes.shape
    onehot = F.one_hot(targets.long(), classes).to(spikes.dtype)
    target_counts = (onehot * correct_rate + (1 - onehot) * incorrect_rate) * steps
    return F.mse_loss(spikes.sum(0), target_counts) / steps


def first_spike_time(spikes: Tensor) -> Tensor:
    r"""Step of each neuron's first spike, ``T`` where it never fires; differentiable.

    With :math:`f_t = z_t \prod_{s<t} (1 - z_s)` (1 at the first spike, 0 elsewhere):

    .. math:: t^{first} = \sum_t t\, f_t + T \left(1 - \sum_t f_t\right)

    For binary spikes the value is exact; the gradient flows through the spikes' surrogate.

    Args:
        spikes: ``[T, ...]`` in {0, 1}.
    Returns:
        ``[...]``: first-spike steps as floats in ``[0, T]``, dtype of ``spikes``.

    >>> first_spike_time(torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
    tensor([1., 3.])
    """
    check_floating("spikes", spikes)
    if spikes.dim() < 1:
        raise ValueError("spikes must have a leading time dim [T, ...], got a 0-d tensor")
    steps = spikes.shape[0]
    silent_before = torch.cumprod(1 - spikes, dim=0)  # prod_{s<=t} (1 - z_s)
    not_yet = torch.cat([torch.ones_like(spikes[:1]), silent_before[:-1]], dim=0)
    first = spikes * not_yet  # [T, ...]
    t = torch.arange(steps, dtype=spikes.dtype, device=spikes.device)
    t = t.reshape((steps,) + (1,) * (spikes.dim() - 1))
    return (t * first).sum(0) + steps * (1 - first.sum(0))


def latency_mse(
    spikes: Tensor,
    targets: Tensor,
    *,
    correct_time: float = 0.0,
    incorrect_time: float | None = None,
) -> Tensor:
    r"""Mean squared error between first-spike times and target times (latency code).

    The target class should fire first at step ``correct_time``; the others at
    ``incorrect_time`` (default ``T``: never):

    .. math:: L = \frac{1}{BC} \sum_{b,c} (t^{first}_{bc} - t^*_{bc})^2

    Times are in steps (see :func:`first_spike_time`).

    Args:
        spikes: output spikes ``[T, B, C]``.
        targets: class indices ``[B]``.
        correct_time: target first-spike step of the target class.
        incorrect_time: target first-spike step of the other classes (default ``T``).
    Returns:
        The loss, a 0-d tensor.
    """
    check_class_output("spikes", spikes, targets)
    steps, _, classes = spikes.shape
    late = float(steps) if incorrect_time is None else float(incorrect_time)
    onehot = F.one_hot(targets.long(), classes).to(spikes.dtype)
    target_times = onehot * correct_time + (1 - onehot) * late
    return F.mse_loss(first_spike_time(spikes), target_times)
