r"""Adaptive LIF (ALIF, as in Bellec et al.'s LSNN): each spike raises the threshold, which
then decays back.

.. math:: h = \beta v + x,\quad \vartheta_t = \vartheta + a,\quad z = S(h - \vartheta_t),\quad
          v' = R(h, z, \vartheta_t),\quad a' = \rho a + j z

The adaptation ``a`` starts at 0 and relaxes with decay ``rho``; ``jump`` is the threshold
increase per spike. With ``reset_delay=True`` the delayed reset compares the carried membrane
with the current effective threshold :math:`\vartheta + a`.

Parameter values are used as given, never checked or clamped in the step: a check would
read the values (a device sync every step) and cannot run under ``vmap``/``torch.compile``.
``beta`` and ``rho`` in [0, 1] are decays (above 1 they grow without bound, below 0 they
alternate sign); a negative ``jump`` lowers the threshold after each spike.
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


class ALIFParams(NamedTuple):
    """ALIF parameters; each a float or a Tensor broadcastable to ``[..., N]``."""

    beta: Tensor | float  # membrane decay per step, in [0, 1]
    threshold: Tensor | float  # baseline firing threshold
    rho: Tensor | float  # adaptation decay per step, in [0, 1]
    jump: Tensor | float  # threshold increase per spike (>= 0)


class ALIFState(NamedTuple):
    """ALIF state; every field ``[..., N]``."""

    v: Tensor  # membrane potential
    a: Tensor  # threshold adaptation (effective threshold is threshold + a)


def alif_init(
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> ALIFState:
    """Resting state (all zeros) of ``shape``."""
    state: ALIFState = zeros_state(ALIFState, shape, dtype, device)
    return state


def alif_step(
    state: ALIFState,
    x: Tensor,
    params: ALIFParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
) -> tuple[Tensor, ALIFState]:
    r"""Advance an adaptive LIF neuron one step (see the module docstring).

    Args and returns as :func:`snnfunc.lif_step` (``x``, state fields: ``[..., N]``).

    >>> import torch
    >>> z, s = alif_step(alif_init(1), torch.tensor([1.5]), ALIFParams(0.9, 1.0, 0.9, 0.5))
    >>> z, s.a
    (tensor([1.]), tensor([0.5000]))
    """
    check_step(
        "alif",
        state,
        x,
        params,
        state_type=ALIFState,
        params_type=ALIFParams,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    theta = params.threshold + state.a
    h = params.beta * state.v + x
    z, v = fire(
        h,
        state.v,
        theta,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    return z, ALIFState(v, params.rho * state.a + params.jump * z)
