r"""Adaptive LIF (adLIF, Bittar & Garner 2022): a LIF whose membrane is pulled down by an adaptation
current driven by the membrane itself (sub-threshold coupling ``a``) and by its spikes (``b``).

.. math::
    h &= \beta v + (1 - \beta)(x - w),\qquad z = S(h - \vartheta),\quad v' = R(h, z, \vartheta) \\
    w' &= \rho w + (1 - \rho)(a v + b z_{\text{prev}})

where :math:`v, w, z_\text{prev}` are the carried membrane (the paper's :math:`u`),
adaptation and last spikes (the paper's form,
:math:`u_t = \alpha_u u_{t-1} + (1-\alpha_u)(x_t - w_{t-1})`,
:math:`w_t = \alpha_w w_{t-1} + (1-\alpha_w)(a u_{t-1} + b z_{t-1})`), and the spike and reset
are the shared rule of :mod:`snnfunc.reset`. ``beta`` and ``rho`` are the decays
:math:`\alpha_u` and :math:`\alpha_w` of the paper; ``a`` gives resonance (``a < 0``) or
adaptation (``a > 0``) below threshold, ``b`` a jump of the adaptation per spike. The input
is scaled by ``1 - beta``, so a constant input ``x`` settles at ``v = x`` without adaptation:
thresholds are in input units.

Parameter values are used as given, never checked or clamped in the step. The paper keeps
``beta``, ``rho`` in [0, 1], ``a`` in [-1, 1] and ``b`` in [0, 2]. NaN anywhere in ``x``, the
state or the params propagates to the spikes and the state (docs/reliability.md, "NaN policy").

>>> import torch
>>> p = AdLIFParams(beta=0.5, rho=0.5, a=0.0, b=1.0, threshold=1.0)
>>> z1, s = adlif_step(adlif_init(1), torch.tensor([3.0]), p)   # u = 1.5: spikes
>>> z1, s.v, s.w
(tensor([1.]), tensor([0.5000]), tensor([0.]))
>>> z2, s = adlif_step(s, torch.tensor([3.0]), p)               # the spike drives w next step
>>> z2, s.w
(tensor([1.]), tensor([0.5000]))
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons._model import Field, NeuronModel
from snnfunc.reset import Firing


class AdLIFParams(NamedTuple):
    """adLIF parameters; each a float or a Tensor broadcastable to ``[..., N]`` (learnable)."""

    beta: Tensor | float  # membrane decay per step (alpha_u), in [0, 1]
    rho: Tensor | float  # adaptation decay per step (alpha_w), in [0, 1]
    a: Tensor | float  # sub-threshold coupling of the membrane into the adaptation
    b: Tensor | float  # spike-triggered adaptation
    threshold: Tensor | float  # firing threshold


class AdLIFState(NamedTuple):
    """adLIF state; every field ``[..., N]``."""

    v: Tensor  # membrane potential
    w: Tensor  # adaptation current
    z: Tensor  # spikes of the previous step


def adlif_core(
    state: AdLIFState, x: Tensor, params: AdLIFParams, firing: Firing
) -> tuple[Tensor, AdLIFState]:
    r""".. math:: h = \beta v + (1 - \beta)(x - w),\quad z, v' = \text{fire}(h),\quad
    w' = \rho w + (1 - \rho)(a v + b z_\text{prev})
    """
    h = params.beta * state.v + (1 - params.beta) * (x - state.w)
    z, v = firing(h, state.v, params.threshold)
    w = params.rho * state.w + (1 - params.rho) * (params.a * state.v + params.b * state.z)
    return z, AdLIFState(v, w, z)


ADLIF: NeuronModel[AdLIFState, AdLIFParams] = NeuronModel(
    "adlif",
    AdLIFState,
    AdLIFParams,
    adlif_core,
    params={
        "beta": Field(0.0, 1.0, 0.9),
        "rho": Field(0.0, 1.0, 0.95),
        "a": Field(-1.0, 1.0, 0.5),
        "b": Field(0.0, 2.0, 1.0),
        "threshold": Field(0.25, 2.0, 1.0),
    },
    state={"v": Field(-1.0, 1.5), "w": Field(-1.0, 1.0), "z": Field(0.0, 1.0, kind="spikes")},
)
adlif_init = ADLIF.init
adlif_step = ADLIF.step
