r"""Synaptic (current-based, CuBa) LIF: a decaying synaptic current feeds a leaky membrane.

.. math:: i' = \alpha i + x,\quad h = \beta v + i',\quad z = S(h - \vartheta),\quad
          v' = R(h, z, \vartheta)

The reset acts on the membrane only; the current is never reset.

Parameter values are used as given, never checked or clamped in the step: a check would
read the values (a device sync every step) and cannot run under ``vmap``/``torch.compile``.
``alpha``, ``beta`` in [0, 1] are decays; above 1 the current/membrane grows without bound,
below 0 it alternates sign. snnTorch's ``Synaptic`` clamps both to [0, 1] in its forward;
clamp learnable decays yourself (``.clamp(0, 1)``) for parity.
NaN anywhere in ``x``, the state or the params propagates to the spikes and the state
(docs/reliability.md, "NaN policy").

>>> import torch
>>> synaptic_step(synaptic_init(1), torch.tensor([0.5]), SynapticParams(0.5, 0.9, 1.0))
(tensor([0.]), SynapticState(i=tensor([0.5000]), v=tensor([0.5000])))
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons._model import Field, NeuronModel
from snnfunc.reset import Firing


class SynapticParams(NamedTuple):
    """Synaptic LIF parameters; each a float or a Tensor broadcastable to ``[..., N]``."""

    alpha: Tensor | float  # synaptic current decay per step, in [0, 1]
    beta: Tensor | float  # membrane decay per step, in [0, 1]
    threshold: Tensor | float  # firing threshold


class SynapticState(NamedTuple):
    """Synaptic state; every field ``[..., N]``."""

    i: Tensor  # synaptic current
    v: Tensor  # membrane potential


def synaptic_core(
    state: SynapticState, x: Tensor, params: SynapticParams, firing: Firing
) -> tuple[Tensor, SynapticState]:
    r""".. math:: i' = \alpha i + x,\quad h = \beta v + i',\quad z = S(h - \vartheta),\quad
    v' = R(h, z, \vartheta)
    """
    i = params.alpha * state.i + x
    h = params.beta * state.v + i
    z, v = firing(h, state.v, params.threshold)
    return z, SynapticState(i, v)


SYNAPTIC: NeuronModel[SynapticState, SynapticParams] = NeuronModel(
    "synaptic",
    SynapticState,
    SynapticParams,
    synaptic_core,
    params={
        "alpha": Field(0.0, 1.0, 0.7),
        "beta": Field(0.0, 1.0, 0.8),
        "threshold": Field(0.25, 2.0, 1.0),
    },
    state={"i": Field(-1.0, 1.5), "v": Field(-1.0, 1.5)},
    nir="CubaLIF",
)
synaptic_init = SYNAPTIC.init
synaptic_step = SYNAPTIC.step
