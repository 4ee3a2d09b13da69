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
(docs/reliability.md, "NaN policy").

>>> import torch
>>> z, s = alif_step(alif_init(1), torch.tensor([1.5]), ALIFParams(0.9, 1.0, 0.9, 0.5))
>>> z, s.a
(tensor([1.]), tensor([0.5000]))
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons._model import Field, NeuronModel
from snnfunc.reset import Firing


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


def alif_core(
    state: ALIFState, x: Tensor, params: ALIFParams, firing: Firing
) -> tuple[Tensor, ALIFState]:
    r""".. math:: h = \beta v + x,\quad \vartheta_t = \vartheta + a,\quad
    z = S(h - \vartheta_t),\quad v' = R(h, z, \vartheta_t),\quad a' = \rho a + j z
    """
    theta = params.threshold + state.a
    h = params.beta * state.v + x
    z, v = firing(h, state.v, theta)
    return z, ALIFState(v, params.rho * state.a + params.jump * z)


ALIF: NeuronModel[ALIFState, ALIFParams] = NeuronModel(
    "alif",
    ALIFState,
    ALIFParams,
    alif_core,
    params={
        "beta": Field(0.0, 1.0, 0.8),
        "threshold": Field(0.25, 2.0, 1.0),
        "rho": Field(0.0, 1.0, 0.9),
        "jump": Field(0.0, 1.0, 0.2),
    },
    state={"v": Field(-1.0, 1.5), "a": Field(0.0, 1.0)},
)
alif_init = ALIF.init
alif_step = ALIF.step
