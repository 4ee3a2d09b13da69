r"""Readouts: leaky integrators without spikes, whose output is the membrane (NIR's ``LI`` and
``CubaLI``). They reuse the LIF and synaptic states (``lif_init``, ``synaptic_init``) and take no
firing options.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons.lif import LIFState
from snnfunc.neurons.synaptic import SynapticState

__all__ = ["LIParams", "CubaLIParams", "li_step", "cuba_li_step"]


class LIParams(NamedTuple):
    """Leaky integrator (NIR ``LI``) parameters, broadcastable to ``[..., N]``."""

    beta: Tensor | float  # membrane decay per step


class CubaLIParams(NamedTuple):
    """Current-based leaky integrator (NIR ``CubaLI``) parameters."""

    alpha: Tensor | float  # synaptic current decay per step
    beta: Tensor | float  # membrane decay per step


def li_step(state: LIFState, x: Tensor, params: LIParams) -> tuple[Tensor, LIFState]:
    r"""Leaky integrator, no spikes: :math:`v' = \beta v + x`; outputs the membrane ``[..., N]``.

    A readout layer (NIR's ``LI``); the state is a :class:`snnfunc.LIFState` (``lif_init``).
    """
    v = params.beta * state.v + x
    return v, LIFState(v)


def cuba_li_step(
    state: SynapticState, x: Tensor, params: CubaLIParams
) -> tuple[Tensor, SynapticState]:
    r"""Current-based leaky integrator: :math:`i' = \alpha i + x,\ v' = \beta v + i'`; out: ``v'``.

    NIR's ``CubaLI`` readout; the state is a :class:`snnfunc.SynapticState` (``synaptic_init``).
    """
    i = params.alpha * state.i + x
    v = params.beta * state.v + i
    return v, SynapticState(i, v)
