r"""Recurrent LIF: a LIF layer whose last spikes feed back through a weight matrix.

.. math:: h = \beta v + (x + W z_{t-1}),\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)

Derived from :data:`~snnfunc.neurons.lif.LIF` by :func:`~snnfunc.neurons.recurrent.recurrent`
(no math here). The last spikes are part of the state, so the step stays a pure function. ``W`` is
``[N, N]`` (``W[i, j]``: from neuron ``j`` to neuron ``i``, as ``torch.nn.functional.linear``).

Parameter values are used as given, never checked or clamped in the step: a check would
read the values (a device sync every step) and cannot run under ``vmap``/``torch.compile``.
``beta`` in [0, 1] leaks; above 1 the membrane grows without bound, below 0 it alternates sign.
NaN anywhere in ``x``, the state or the params propagates to the spikes and the state
(docs/reliability.md, "NaN policy").

>>> import torch
>>> p = RLIFParams(0.9, 1.0, torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
>>> z1, s = rlif_step(rlif_init(2), torch.tensor([1.5, 0.0]), p)
>>> z2, s = rlif_step(s, torch.zeros(2), p)
>>> z1, z2
(tensor([1., 0.]), tensor([0., 1.]))
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons._model import NeuronModel
from snnfunc.neurons.lif import LIF
from snnfunc.neurons.recurrent import recurrent


class RLIFParams(NamedTuple):
    """Recurrent LIF parameters."""

    beta: Tensor | float  # membrane decay per step, broadcastable to [..., N]
    threshold: Tensor | float  # firing threshold, broadcastable to [..., N]
    weight: Tensor  # recurrent weights [N, N]


class RLIFState(NamedTuple):
    """Recurrent LIF state; every field ``[..., N]``."""

    v: Tensor  # membrane potential
    z: Tensor  # spikes of the previous step


RLIF: NeuronModel[RLIFState, RLIFParams] = recurrent(
    LIF, params_type=RLIFParams, state_type=RLIFState
)
rlif_init = RLIF.init
rlif_step = RLIF.step
