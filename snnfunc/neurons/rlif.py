r"""Recurrent LIF: a LIF layer whose last spikes feed back through a weight matrix.

.. math:: h = \beta v + x + W z_{t-1},\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)

The last spikes are part of the state, so the step stays a pure function. ``W`` is
``[N, N]`` (``W[i, j]``: from neuron ``j`` to neuron ``i``, as ``torch.nn.functional.linear``).

Parameter values are used as given, never checked or clamped in the step: a check would
read the values (a device sync every step) and cannot run under ``vmap``/``torch.compile``.
``beta`` in [0, 1] leaks; above 1 the membrane grows without bound, below 0 it alternates sign.
NaN anywhere in ``x``, the state or the params propagates to the spikes and the state
(README, "NaN policy").
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from snnfunc.neurons._common import check_step, zeros_state
from snnfunc.reset import Reset, fire
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn


class RLIFParams(NamedTuple):
    """Recurrent LIF parameters."""

    beta: Tensor | float  # membrane decay per step, broadcastable to [..., N]
    threshold: Tensor | float  # firing threshold, broadcastable to [..., N]
    weight: Tensor  # recurrent weights [N, N]


class RLIFState(NamedTuple):
    """Recurrent LIF state; every field ``[..., N]``."""

    v: Tensor  # membrane potential
    z: Tensor  # spikes of the previous step


def rlif_init(
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> RLIFState:
    """Resting state (all zeros, no previous spikes) of ``shape``."""
    state: RLIFState = zeros_state(RLIFState, shape, dtype, device)
    return state


def rlif_step(
    state: RLIFState,
    x: Tensor,
    params: RLIFParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
) -> tuple[Tensor, RLIFState]:
    r"""Advance a recurrent LIF layer one step (see the module docstring).

    Args and returns as :func:`snnfunc.lif_step`; ``params.weight`` is ``[N, N]``.

    >>> import torch
    >>> p = RLIFParams(0.9, 1.0, torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    >>> z1, s = rlif_step(rlif_init(2), torch.tensor([1.5, 0.0]), p)
    >>> z2, s = rlif_step(s, torch.zeros(2), p)
    >>> z1, z2
    (tensor([1., 0.]), tensor([0., 1.]))
    """
    check_step(
        "rlif",
        state,
        x,
        params,
        state_type=RLIFState,
        params_type=RLIFParams,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
        per_neuron_params=("beta", "threshold"),
    )
    if x.dim() == 0:
        raise ValueError(
            "x must have a neuron dim [..., N] for a recurrent layer, got a 0-d tensor"
        )
    n = x.shape[-1]
    w = params.weight
    if not isinstance(w, Tensor):
        raise TypeError(f"params.weight must be a Tensor [N, N], got {type(w).__name__}")
    if w.shape != (n, n):
        raise ValueError(
            f"params.weight must be [N, N] = [{n}, {n}] for x of shape {tuple(x.shape)}, "
            f"got {tuple(w.shape)}"
        )
    if w.dtype != x.dtype or w.device != x.device:
        raise TypeError(
            f"params.weight is {w.dtype} on {w.device} but x is {x.dtype} on {x.device}; "
            "they must match"
        )
    h = params.beta * state.v + x + F.linear(state.z, w)
    z, v = fire(
        h,
        state.v,
        params.threshold,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    return z, RLIFState(v, z)
