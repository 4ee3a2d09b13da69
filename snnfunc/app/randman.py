r"""Randman: random smooth manifolds as spike-timing classes (after Zenke & Vogels, Neural
Computation 33(4), 2021), generated in memory from a seed; nothing is downloaded.

Each class ``c`` is a random smooth map from a ``dim``-dimensional cube to one firing time per
input unit: for unit ``m``,

.. math::
    f_{c,m}(u) = \sum_{d=1}^{D} \sum_{k=1}^{K} k^{-\alpha}\, A_{c,m,d,k}
                 \sin\!\big(2\pi (k\, \nu_{c,m,d,k}\, u_d + \varphi_{c,m,d,k})\big),
    \qquad u \in [0, 1]^D

with ``A``, ``nu``, ``phi`` drawn uniformly from [0, 1]. The spectrum decays as
:math:`k^{-\alpha}`, so ``alpha`` (the *smoothness*) sets how rough the manifold is, ``D`` (``dim``,
the *manifold dimension*) how many intrinsic degrees of freedom a class has, and ``K`` the
frequencies kept (:math:`K = \lceil 10^{3/\alpha} \rceil`, the terms above 1e-3). A sample of
class ``c`` is a point ``u`` drawn uniformly; unit ``m`` fires **exactly once**, at step
:math:`\mathrm{round}\big(\hat f_{c,m}(u) (T - 1)\big)`, where :math:`\hat f_{c,m}` is
:math:`f_{c,m}` scaled to [0, 1] over the class's samples. Every unit fires once in every sample,
so spike counts carry no class information: only the timing does.

The preset task (:class:`RandmanConfig` defaults): 10 classes, 100 units, 50 steps,
``dim=1``, ``alpha=2``, 1,000 samples per class (800 train, 200 test), seed 0.

>>> data = make_randman(RandmanConfig(num_classes=2, num_units=3, samples_per_class=4))
>>> data.inputs.shape, data.labels.tolist()
(torch.Size([8, 50, 3]), [0, 0, 0, 0, 1, 1, 1, 1])
>>> bool((data.inputs.sum(1) == 1).all())   # every unit fires exactly once per sample
True
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_int_at_least

__all__ = ["RandmanConfig", "Sequences", "make_randman", "load_randman", "shuffle_time"]


class Sequences(NamedTuple):
    """A labelled set of spike sequences held in memory."""

    inputs: Tensor  # [N, T, C] float32 spike counts per time bin
    labels: Tensor  # [N] int64 class indices


@dataclass(frozen=True)
class RandmanConfig:
    """A Randman task (module docstring); the same config gives the same data everywhere.

    Attributes:
        num_classes: classes (one random manifold each).
        num_units: input units ``C`` (each fires once per sample).
        num_steps: time bins ``T``.
        dim: the manifold's intrinsic dimension ``D``.
        alpha: smoothness: the spectrum decays as ``k^-alpha``.
        samples_per_class: samples drawn per class (train and test together).
        test_fraction: share of each class held out for ``"test"``.
        seed: the seed of the manifolds and the samples.
    """

    num_classes: int = 10
    num_units: int = 100
    num_steps: int = 50
    dim: int = 1
    alpha: float = 2.0
    samples_per_class: int = 1000
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        check_int_at_least("num_classes", self.num_classes, 2)
        check_int_at_least("num_units", self.num_units, 1)
        check_int_at_least("num_steps", self.num_steps, 2)
        check_int_at_least("dim", self.dim, 1)
        check_int_at_least("samples_per_class", self.samples_per_class, 2)
        if not (isinstance(self.alpha, (int, float)) and self.alpha > 0):
            raise ValueError(f"alpha must be a positive float, got {self.alpha!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {self.test_fraction!r}")


def _manifold_values(config: RandmanConfig, generator: torch.Generator) -> Tensor:
    """``f_{c,m}(u)`` of every class's samples: ``[classes, samples, units]`` (float64)."""
    classes, units, dim = config.num_classes, config.num_units, config.dim
    freqs = math.ceil(1e3 ** (1.0 / config.alpha))
    k = torch.arange(1, freqs + 1, dtype=torch.float64)
    shape = (classes, units, dim, freqs)
    amplitude, scale, phase = (
        torch.rand(shape, generator=generator, dtype=torch.float64) for _ in range(3)
    )
    u = torch.rand(
        (classes, config.samples_per_class, dim), generator=generator, dtype=torch.float64
    )
    weight = k**-config.alpha * amplitude  # [c, m, d, K]
    out = []
    for c in range(classes):  # [s, 1, d, 1] * [m, d, K] -> sum over d and K -> [s, m]
        arg = 2 * math.pi * (u[c, :, None, :, None] * (k * scale[c]) + phase[c])
        out.append((weight[c] * torch.sin(arg)).sum((-1, -2)))
    return torch.stack(out)


@functools.lru_cache(maxsize=2)  # train and test of one config are made once
def make_randman(config: RandmanConfig = RandmanConfig()) -> Sequences:
    """Every sample of the task, train and test together, class by class (module docstring).

    Returns:
        :class:`Sequences`: ``inputs [classes * samples_per_class, T, C]`` (one spike per unit
        and sample) and ``labels``, sorted by class.
    """
    generator = torch.Generator().manual_seed(config.seed)
    values = _manifold_values(config, generator)
    low, high = values.amin(1, keepdim=True), values.amax(1, keepdim=True)
    scaled = (values - low) / (high - low).clamp_min(1e-12)
    times = torch.round(scaled * (config.num_steps - 1)).long()  # [c, s, m] in [0, T - 1]
    spikes = torch.zeros(
        (*times.shape[:2], config.num_steps, config.num_units), dtype=torch.float32
    )
    spikes.scatter_(2, times.unsqueeze(2), 1.0)
    labels = torch.arange(config.num_classes).repeat_interleave(config.samples_per_class)
    return Sequences(spikes.flatten(0, 1), labels)


def load_randman(split: str, config: RandmanConfig = RandmanConfig()) -> Sequences:
    """One split of :func:`make_randman`: of each class, the first ``1 - test_fraction`` of
    its samples are ``"train"``, the rest ``"test"`` (never overlapping)."""
    check_choice("split", split, ("train", "test"))
    data = make_randman(config)
    n_test = max(1, round(config.test_fraction * config.samples_per_class))
    position = torch.arange(config.samples_per_class).repeat(config.num_classes)
    keep = position >= config.samples_per_class - n_test
    if split == "train":
        keep = ~keep
    return Sequences(data.inputs[keep], data.labels[keep])


def shuffle_time(inputs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each sample's time bins in a random order of its own, the control of a timing task:
    ``[N, T, ...] -> [N, T, ...]`` (what fires together still does, but the order is gone;
    every unit's spike count is unchanged).

    >>> x = torch.arange(6.0).reshape(1, 3, 2)
    >>> y = shuffle_time(x, torch.Generator().manual_seed(0))
    >>> sorted(y[0].tolist()) == sorted(x[0].tolist())
    True
    """
    if not isinstance(inputs, Tensor) or inputs.dim() < 2:
        raise ValueError(
            f"inputs must be a Tensor [N, T, ...], got {getattr(inputs, 'shape', inputs)}"
        )
    n, t = inputs.shape[:2]
    order = torch.rand((n, t), generator=generator).argsort(1).to(inputs.device)
    index = order.reshape(n, t, *([1] * (inputs.dim() - 2))).expand(inputs.shape)
    return inputs.gather(1, index)
