r"""Integrate-and-fire (IF): a perfect integrator, no leak.

.. math:: h = v + x,\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)

The threshold is used as given, never checked (a check would read the values every step);
a threshold <= 0 fires at rest. NaN anywhere in ``x``, the state or the params propagates to
the spikes and the state (docs/reliability.md, "NaN policy").

>>> import torch
>>> z, s = if_step(if_init(2), torch.tensor([0.5, 1.5]), IFParams(1.0))
>>> z, s.v
(tensor([0., 1.]), tensor([0.5000, 0.5000]))
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons._model import Field, NeuronModel
from snnfunc.reset import Firing


class IFParams(NamedTuple):
    """IF parameters; a float or a Tensor broadcastable to ``[..., N]``."""

    threshold: Tensor | float  # firing threshold


class IFState(NamedTuple):
    """IF state, ``[..., N]``."""

    v: Tensor  # membrane potential


def if_core(state: IFState, x: Tensor, params: IFParams, firing: Firing) -> tuple[Tensor, IFState]:
    r""".. math:: h = v + x,\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)"""
    z, v = firing(state.v + x, state.v, params.threshold)
    return z, IFState(v)


IF: NeuronModel[IFState, IFParams] = NeuronModel(
    "if",
    IFState,
    IFParams,
    if_core,
    params={"threshold": Field(0.25, 2.0, 1.0)},
    state={"v": Field(-1.0, 1.5)},
    nir="IF",
)
if_init = IF.init
if_step = IF.step
