r"""Alpha / SRM0-like neuron: the membrane is the difference of two decaying currents.

.. math:: e' = \alpha e + x,\quad n' = \beta n - x,\quad h = e' + n'

With :math:`\alpha > \beta`, one input pulse gives the membrane response
:math:`\alpha^t - \beta^t` (:math:`t \ge 0`): it rises, peaks, and decays back, the
discrete-time alpha-like postsynaptic potential of the spike response model (SRM0). The reset
acts through the excitatory current: after :math:`z, v = \text{fire}(h)` the excitatory current
becomes :math:`e' + (v - h)`, so ``"subtract"`` lowers the membrane by the threshold and
``"zero"`` brings it to 0 on the spike step (the two currents then decay on at their own rates).

Parameter values are used as given, never checked or clamped in the step: a check would
read the values (a device sync every step) and cannot run under ``vmap``/``torch.compile``.
The alpha shape needs ``0 <= beta < alpha <= 1``; outside that range the formulas still hold
(``alpha == beta`` gives a membrane of exactly 0; a decay above 1 grows without bound).
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


class AlphaParams(NamedTuple):
    """Alpha-neuron parameters; each a float or a Tensor broadcastable to ``[..., N]``."""

    alpha: Tensor | float  # excitatory current decay per step, in (beta, 1)
    beta: Tensor | float  # inhibitory current decay per step, in [0, alpha)
    threshold: Tensor | float  # firing threshold


class AlphaState(NamedTuple):
    """Alpha-neuron state; every field ``[..., N]``. The membrane is ``exc + inh``."""

    exc: Tensor  # excitatory current
    inh: Tensor  # inhibitory current


def alpha_init(
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> AlphaState:
    """Resting state (all zeros) of ``shape``."""
    state: AlphaState = zeros_state(AlphaState, shape, dtype, device)
    return state


def alpha_step(
    state: AlphaState,
    x: Tensor,
    params: AlphaParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
) -> tuple[Tensor, AlphaState]:
    r"""Advance an alpha (SRM0-like) neuron one step.

    .. math:: e' = \alpha e + x,\quad n' = \beta n - x,\quad h = e' + n',\quad
              z, v = \text{fire}(h),\quad e'' = e' + (v - h)

    Args and returns as :func:`snnfunc.lif_step` (``x``, state fields: ``[..., N]``).

    >>> import torch
    >>> z, s = alpha_step(alpha_init(1), torch.tensor([1.0]), AlphaParams(0.9, 0.5, 1.0))
    >>> z, s.exc + s.inh
    (tensor([0.]), tensor([0.]))
    """
    check_step(
        "alpha",
        state,
        x,
        params,
        state_type=AlphaState,
        params_type=AlphaParams,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    exc = params.alpha * state.exc + x
    inh = params.beta * state.inh - x
    h = exc + inh
    z, v = fire(
        h,
        state.exc + state.inh,
        params.threshold,
        spike_fn=spike_fn,
        reset=reset,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    return z, AlphaState(exc + (v - h), inh)
