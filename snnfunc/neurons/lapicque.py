r"""Lapicque's RC neuron: a LIF written with physical constants, Euler-discretised.

.. math:: h = v + \frac{\Delta t}{C}\left(x - \frac{v}{R}\right)
            = \left(1 - \frac{\Delta t}{RC}\right) v + \frac{\Delta t}{C} x

It is :func:`snnfunc.lif_step` with :math:`\beta = 1 - \Delta t/(RC)` and the input scaled by
:math:`\Delta t / C` (snnTorch's ``Lapicque`` update). Stable for :math:`\Delta t < RC`.

Parameter values are used as given, never checked or clamped in the step: a check would
read the values (a device sync every step) and cannot run under ``vmap``/``torch.compile``.
With :math:`\Delta t > RC` the effective decay :math:`1 - \Delta t/(RC)` is negative (the
membrane alternates sign; unstable beyond :math:`\Delta t > 2RC`); ``R = 0`` or ``C = 0``
divides by zero and gives inf/NaN, which then propagate.
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


class LapicqueParams(NamedTuple):
    """RC-neuron parameters; each a float or a Tensor broadcastable to ``[..., N]``."""

    resistance: Tensor | float  # R, membrane resistance (> 0)
    capacitance: Tensor | float  # C, membrane capacitance (> 0)
    time_step: Tensor | float  # dt, in the units of R * C
    threshold: Tensor | float  # firing threshold


class LapicqueState(NamedTuple):
    """Lapicque state, ``[..., N]``."""

    v: Tensor  # membrane potential


def lapicque_init(
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LapicqueState:
    """Resting state (all zeros) of ``shape``."""
    state: LapicqueState = zeros_state(LapicqueState, shape, dtype, device)
    return state


def lapicque_step(
    state: LapicqueState,
    x: Tensor,
    params: LapicqueParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
) -> tuple[Tensor, LapicqueState]:
    r"""Advance an RC neuron one step: :math:`h = v + \tfrac{\Delta t}{C}(x - v/R)`.

    Args and returns as :func:`snnfunc.lif_step` (``x``, state fields: ``[..., N]``).

    >>> import torch
    >>> p = LapicqueParams(resistance=5.0, capacitance=1.0, time_step=1.0, threshold=1.0)
    >>> lapicque_step(lapicque_init(1), torch.tensor([0.5]), p)
    (tensor([0.]), LapicqueState(v=tensor([0.5000])))
    """
    check_step(
        "lapicque",
        state,
        x,
        params,
        state_type=LapicqueState,
        params_type=LapicqueParams,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    # tensor first: with float params, dt / C would raise ZeroDivisionError at C = 0 (NaN policy)
    h = state.v + (x - state.v / params.resistance) * params.time_step / params.capacitance
    z, v = fire(
        h,
        state.v,
        params.threshold,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    return z, LapicqueState(v)
