r"""Leaky integrate-and-fire (LIF), discrete time.

.. math:: h = \beta v + x,\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)

(reset rules in :mod:`snnfunc.reset`).

Parameter values are used as given, never checked or clamped in the step: a check would
read the values (a device sync every step) and cannot run under ``vmap``/``torch.compile``.
``beta`` in [0, 1] leaks, ``beta = 1`` is an IF neuron, ``beta > 1`` grows without bound and
``beta < 0`` flips the membrane's sign every step. snnTorch's ``Leaky`` clamps ``beta`` to
[0, 1] in its forward; clamp a learnable decay yourself (``beta.clamp(0, 1)``) for parity.
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


class LIFParams(NamedTuple):
    """LIF parameters; each a float or a Tensor broadcastable to ``[..., N]`` (learnable)."""

    beta: Tensor | float  # membrane decay per step, in [0, 1]
    threshold: Tensor | float  # firing threshold


class LIFState(NamedTuple):
    """LIF state, ``[..., N]``."""

    v: Tensor  # membrane potential


def lif_init(
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFState:
    """Resting state (all zeros), e.g. ``shape=(N,)`` per example or ``(B, N)`` batched."""
    state: LIFState = zeros_state(LIFState, shape, dtype, device)
    return state


def lif_step(
    state: LIFState,
    x: Tensor,
    params: LIFParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
) -> tuple[Tensor, LIFState]:
    r"""Advance a LIF neuron one step.

    .. math:: h = \beta v + x,\quad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)

    Args:
        state: :class:`LIFState`, fields ``[..., N]``.
        x: input current ``[..., N]``, floating point.
        params: :class:`LIFParams`, broadcastable to ``[..., N]``.
        spike_fn: spike function (:mod:`snnfunc.surrogate`), default ``atan()``.
        reset: ``"subtract"``, ``"zero"`` or ``"none"`` (:mod:`snnfunc.reset`).
        reset_delay: apply the reset one step late (snnTorch's default).
        detach_reset: keep the reset out of the gradient.
    Returns:
        ``(z, state)``: spikes ``[..., N]`` in {0, 1} (dtype of ``x``) and the new state.

    >>> import torch
    >>> z, s = lif_step(lif_init(2), torch.tensor([0.5, 1.5]), LIFParams(0.9, 1.0))
    >>> z, s.v
    (tensor([0., 1.]), tensor([0.5000, 0.5000]))
    """
    check_step(
        "lif",
        state,
        x,
        params,
        state_type=LIFState,
        params_type=LIFParams,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    h = params.beta * state.v + x
    z, v = fire(
        h,
        state.v,
        params.threshold,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    return z, LIFState(v)
