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
(docs/reliability.md, "NaN policy").

>>> import torch
>>> p = LapicqueParams(resistance=5.0, capacitance=1.0, time_step=1.0, threshold=1.0)
>>> lapicque_step(lapicque_init(1), torch.tensor([0.5]), p)
(tensor([0.]), LapicqueState(v=tensor([0.5000])))
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from snnfunc.neurons._model import Field, NeuronModel
from snnfunc.reset import Firing


class LapicqueParams(NamedTuple):
    """RC-neuron parameters; each a float or a Tensor broadcastable to ``[..., N]``."""

    resistance: Tensor | float  # R, membrane resistance (> 0)
    capacitance: Tensor | float  # C, membrane capacitance (> 0)
    time_step: Tensor | float  # dt, in the units of R * C
    threshold: Tensor | float  # firing threshold


class LapicqueState(NamedTuple):
    """Lapicque state, ``[..., N]``."""

    v: Tensor  # membrane potential


def lapicque_core(
    state: LapicqueState, x: Tensor, params: LapicqueParams, firing: Firing
) -> tuple[Tensor, LapicqueState]:
    r""".. math:: h = v + \frac{\Delta t}{C}\left(x - \frac{v}{R}\right),\quad
    z = S(h - \vartheta),\quad v' = R(h, z, \vartheta)
    """
    # tensor first: with float params, dt / C would raise ZeroDivisionError at C = 0 (NaN policy)
    h = state.v + (x - state.v / params.resistance) * params.time_step / params.capacitance
    z, v = firing(h, state.v, params.threshold)
    return z, LapicqueState(v)


def _stable(params: LapicqueParams) -> LapicqueParams:
    # ``time_step`` drawn in [0.05, 0.95] is a fraction of RC: dt < RC (stable).
    rc = params.resistance * params.capacitance
    return params._replace(time_step=params.time_step * rc)


LAPICQUE: NeuronModel[LapicqueState, LapicqueParams] = NeuronModel(
    "lapicque",
    LapicqueState,
    LapicqueParams,
    lapicque_core,
    params={
        "resistance": Field(0.5, 5.0, 5.0),
        "capacitance": Field(0.5, 5.0, 1.0),
        "time_step": Field(0.05, 0.95, 1.0),  # drawn as a fraction of RC (_stable)
        "threshold": Field(0.25, 2.0, 1.0),
    },
    state={"v": Field(-1.0, 1.5)},
    constrain=_stable,
)
lapicque_init = LAPICQUE.init
lapicque_step = LAPICQUE.step
