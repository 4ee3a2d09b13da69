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
(README, "NaN policy").
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnfunc.neurons._common import check_step, zeros_state
from snnfunc.reset import Reset, fire
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn


class SynapticParams(NamedTuple):
    """Synaptic LIF parameters; each a float or a Tensor broadcastable to ``[..., N]``."""

    alpha: Tensor | float  # synaptic current decay per step, in [0, 1]
    beta: Tensor | float  # membrane decay per step, in [0, 1]
    threshold: Tensor | float  # firing threshold


class SynapticState(NamedTuple):
    """Synaptic state; every field ``[..., N]``."""

    i: Tensor  # synaptic current
    v: Tensor  # membrane potential


def synaptic_init(
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> SynapticState:
    """Resting state (all zeros) of ``shape``."""
    state: SynapticState = zeros_state(SynapticState, shape, dtype, device)
    return state


def synaptic_step(
    state: SynapticState,
    x: Tensor,
    params: SynapticParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
) -> tuple[Tensor, SynapticState]:
    r"""Advance a synaptic LIF neuron one step.

    .. math:: i' = \alpha i + x,\quad h = \beta v + i',\quad z = S(h - \vartheta),\quad
              v' = R(h, z, \vartheta)

    Args and returns as :func:`snnfunc.lif_step` (``x``, state fields: ``[..., N]``).

    >>> import torch
    >>> synaptic_step(synaptic_init(1), torch.tensor([0.5]), SynapticParams(0.5, 0.9, 1.0))
    (tensor([0.]), SynapticState(i=tensor([0.5000]), v=tensor([0.5000])))
    """
    check_step(
        "synaptic",
        state,
        x,
        params,
        state_type=SynapticState,
        params_type=SynapticParams,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    i = params.alpha * state.i + x
    h = params.beta * state.v + i
    z, v = fire(
        h,
        state.v,
        params.threshold,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    return z, SynapticState(i, v)
