r"""Integrate-and-fire (IF): a perfect integrator, no leak.

.. math:: h = v + x,\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)

The threshold is used as given, never checked (a check would read the values every step);
a threshold <= 0 fires at rest. NaN anywhere in ``x``, the state or the params propagates to
the spikes and the state (README, "NaN policy").
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnfunc.neurons._common import check_step, zeros_state
from snnfunc.reset import Reset, fire
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn


class IFParams(NamedTuple):
    """IF parameters; a float or a Tensor broadcastable to ``[..., N]``."""

    threshold: Tensor | float  # firing threshold


class IFState(NamedTuple):
    """IF state, ``[..., N]``."""

    v: Tensor  # membrane potential


def if_init(
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> IFState:
    """Resting state (all zeros) of ``shape``."""
    state: IFState = zeros_state(IFState, shape, dtype, device)
    return state


def if_step(
    state: IFState,
    x: Tensor,
    params: IFParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
) -> tuple[Tensor, IFState]:
    r"""Advance an IF neuron one step: :math:`h = v + x`, then spike and reset.

    Args and returns as :func:`snnfunc.lif_step` (``x``, state fields: ``[..., N]``).

    >>> import torch
    >>> if_step(if_init(1), torch.tensor([1.25]), IFParams(1.0))
    (tensor([1.]), IFState(v=tensor([0.2500])))
    """
    check_step(
        "if",
        state,
        x,
        params,
        state_type=IFState,
        params_type=IFParams,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    z, v = fire(
        state.v + x,
        state.v,
        params.threshold,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    return z, IFState(v)
