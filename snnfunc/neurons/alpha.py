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
(docs/reliability.md, "NaN policy").

>>> import torch
>>> z, s = alpha_step(alpha_init(1), torch.tensor([1.0]), AlphaParams(0.9, 0.5, 1.0))
>>> z, s.exc + s.inh
(tensor([0.]), tensor([0.]))
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons._model import Field, NeuronModel
from snnfunc.reset import Firing


class AlphaParams(NamedTuple):
    """Alpha-neuron parameters; each a float or a Tensor broadcastable to ``[..., N]``."""

    alpha: Tensor | float  # excitatory current decay per step, in (beta, 1)
    beta: Tensor | float  # inhibitory current decay per step, in [0, alpha)
    threshold: Tensor | float  # firing threshold


class AlphaState(NamedTuple):
    """Alpha-neuron state; every field ``[..., N]``. The membrane is ``exc + inh``."""

    exc: Tensor  # excitatory current
    inh: Tensor  # inhibitory current


def alpha_core(
    state: AlphaState, x: Tensor, params: AlphaParams, firing: Firing
) -> tuple[Tensor, AlphaState]:
    r""".. math:: e' = \alpha e + x,\quad n' = \beta n - x,\quad h = e' + n',\quad
    z, v = \text{fire}(h),\quad e'' = e' + (v - h)
    """
    exc = params.alpha * state.exc + x
    inh = params.beta * state.inh - x
    h = exc + inh
    z, v = firing(h, state.exc + state.inh, params.threshold)
    return z, AlphaState(exc + (v - h), inh)


def _alpha_above_beta(params: AlphaParams) -> AlphaParams:
    # ``alpha`` drawn in [0.05, 1] is a fraction of the way from beta to 1: beta < alpha <= 1.
    return params._replace(alpha=params.beta + params.alpha * (1 - params.beta))


def _membrane(state: AlphaState) -> Tensor:
    return state.exc + state.inh


ALPHA: NeuronModel[AlphaState, AlphaParams] = NeuronModel(
    "alpha",
    AlphaState,
    AlphaParams,
    alpha_core,
    params={
        "alpha": Field(0.05, 1.0, 0.9),  # drawn as a fraction from beta to 1 (_alpha_above_beta)
        "beta": Field(0.0, 0.9, 0.5),
        "threshold": Field(0.25, 2.0, 1.0),
    },
    state={"exc": Field(-1.0, 1.5), "inh": Field(-1.0, 1.5)},
    constrain=_alpha_above_beta,
    membrane=_membrane,
)
alpha_init = ALPHA.init
alpha_step = ALPHA.step
