r"""OTTT, online training through time (Xiao et al. 2022): traces that decay by a fixed leak.

OTTT drops the state Jacobian's dependence on the membrane (surrogate and reset terms) and keeps
the leak :math:`\lambda` of a LIF neuron: with input current :math:`I_t = W x_t` it tracks the
presynaptic trace :math:`\hat a_t = \lambda \hat a_{t-1} + x_t` and uses

.. math:: \frac{dL}{dW} \approx \sum_t \frac{\partial l_t}{\partial I_t}\, \hat a_t^\top

Here it is the shared trace recursion with :math:`D_t = \lambda I` for every neuron and state
leaf:

.. math:: M_t = \lambda M_{t-1} + \frac{\partial s_t}{\partial \theta}, \qquad
          \frac{dL}{d\theta} \approx \sum_t \Big(\frac{\partial l_t}{\partial \theta}
          + \frac{\partial l_t}{\partial s_{t-1}} \cdot M_{t-1}\Big)

For a LIF layer with a detached (or no) reset, :math:`\partial s_t/\partial W = x_t^\top` per
neuron, so :math:`M_t = \hat a_t` and this is OTTT's gradient; it also gives online gradients
for ``beta`` and ``threshold``. Option ``leak`` is :math:`\lambda` (a float, or one per layer
with ``layers=True``; OTTT takes the neurons' ``beta``). It needs no JVP for :math:`D_t`, so
a step costs less than e-prop's.

**Exact** (equal to BPTT) when the state Jacobian is :math:`\lambda I`: one layer of LIF (or
IF, :math:`\lambda = 1`) neurons with ``beta = leak``, ``reset="subtract"`` or ``"none"`` with
``detach_reset=True``, ``reset_delay=False``, no recurrent weights, and a per-step loss.
Otherwise (a reset in the gradient, a zero reset, synaptic or adaptive neurons, several layers)
it is OTTT's approximation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from snnfunc.online._layout import Layout
from snnfunc.online._linearize import Linearization
from snnfunc.online._method import REQUIRED, Method


def ottt_decay(
    lin: Linearization, layout: Layout, options: Mapping[str, Any], first: bool
) -> list[Tensor | float]:
    """OTTT's :math:`D_t = \\lambda I` for every layer."""
    del lin, first
    leak = options["leak"]
    count = len(layout.shapes)
    leaks = list(leak) if isinstance(leak, (tuple, list)) else [leak] * count
    if len(leaks) != count or not all(_finite(v) for v in leaks):
        raise TypeError(
            f"ottt's leak must be a finite float (the neurons' beta) or one per layer "
            f"({count} layers), got {leak!r}"
        )
    return [float(v) for v in leaks]


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


OTTT = Method(
    "ottt",
    ottt_decay,
    options={"leak": REQUIRED},
    summary="online training through time: traces decay by a fixed leak (Xiao et al. 2022)",
)
