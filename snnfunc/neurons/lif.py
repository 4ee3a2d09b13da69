r"""Leaky integrate-and-fire (LIF), discrete time.

.. math:: h = \beta v + x,\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)

(reset rules in :mod:`snnfunc.reset`).

Parameter values are used as given, never checked or clamped in the step: a check would
read the values (a device sync every step) and cannot run under ``vmap``/``torch.compile``.
``beta`` in [0, 1] leaks, ``beta = 1`` is an IF neuron, ``beta > 1`` grows without bound and
``beta < 0`` flips the membrane's sign every step. snnTorch's ``Leaky`` clamps ``beta`` to
[0, 1] in its forward; clamp a learnable decay yourself (``beta.clamp(0, 1)``) for parity.
NaN anywhere in ``x``, the state or the params propagates to the spikes and the state
(docs/reliability.md, "NaN policy").

>>> import torch
>>> z, s = lif_step(lif_init(2), torch.tensor([0.5, 1.5]), LIFParams(0.9, 1.0))
>>> z, s.v
(tensor([0., 1.]), tensor([0.5000, 0.5000]))
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons._model import Field, NeuronModel
from snnfunc.reset import Firing


class LIFParams(NamedTuple):
    """LIF parameters; each a float or a Tensor broadcastable to ``[..., N]`` (learnable)."""

    beta: Tensor | float  # membrane decay per step, in [0, 1]
    threshold: Tensor | float  # firing threshold


class LIFState(NamedTuple):
    """LIF state, ``[..., N]``."""

    v: Tensor  # membrane potential


def lif_core(
    state: LIFState, x: Tensor, params: LIFParams, firing: Firing
) -> tuple[Tensor, LIFState]:
    r""".. math:: h = \beta v + x,\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)"""
    h = params.beta * state.v + x
    z, v = firing(h, state.v, params.threshold)
    return z, LIFState(v)


LIF: NeuronModel[LIFState, LIFParams] = NeuronModel(
    "lif",
    LIFState,
    LIFParams,
    lif_core,
    params={"beta": Field(0.0, 1.0, 0.8), "threshold": Field(0.25, 2.0, 1.0)},
    state={"v": Field(-1.0, 1.5)},
    nir="LIF",
)
lif_init = LIF.init
lif_step = LIF.step
