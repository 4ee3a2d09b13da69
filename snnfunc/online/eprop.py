r"""e-prop (Bellec et al. 2020): eligibility traces through each neuron's own dynamics.

For neuron :math:`j` with state :math:`s^j_t` (every state leaf of its layer at index
:math:`j`), parameter :math:`\theta_{ji}` (``W[j, i]``, or ``beta[j]``) and per-step loss
:math:`l_t(y_t)`:

.. math::
    \epsilon^{ji}_t &= D^j_t\, \epsilon^{ji}_{t-1}
        + \frac{\partial s^j_t}{\partial \theta_{ji}}, \qquad
    D^j_t = \frac{\partial s^j_t}{\partial s^j_{t-1}} \quad (k \times k \text{ per neuron}) \\
    \frac{dL}{d\theta_{ji}} &\approx \sum_t \Big(
        \frac{\partial l_t}{\partial \theta_{ji}}
        + \frac{\partial l_t}{\partial s^j_{t-1}} \cdot \epsilon^{ji}_{t-1} \Big)

The learning signal :math:`\partial l_t / \partial s^j_{t-1}` is the step's own VJP of this
step's loss: for hidden layers it is symmetric feedback through the same step's forward path
(use :func:`snnfunc.online.feedback_linear` in the step for random feedback instead). Bellec's
form :math:`\sum_t L^j_t e^{ji}_t` with :math:`e^{ji}_t = \partial z^j_t / \partial s^j_t\,
\epsilon^{ji}_t` is the same sum regrouped.

:math:`D^j_t` is read from the step with one JVP per state leaf (a one-hot leaf tangent,
every neuron at once): exact per-neuron blocks when the layer's state update is elementwise
across its neurons. A step that couples neurons through its state (recurrent weights, the
``rlif`` model) needs ``recurrent=True``: each neuron is then probed on its own (``N`` JVPs
per leaf, vmapped) and the cross-neuron terms are dropped, which is e-prop's approximation. A
coupled step without ``recurrent=True`` raises ``ValueError`` at the first step.

**Exact** (equal to BPTT) when (1) the state update of each neuron depends on no other
neuron's state (no recurrent weights), (2) one layer carries state (or the other layers do not
depend on this layer's parameters through their state), and (3) each step's loss depends on
that step's output only. Then :math:`D_t` is the whole state Jacobian, the traces are the exact
RTRL sensitivities :math:`ds_t/d\theta`, and the sum is the chain rule. With recurrent weights
or several layers it is e-prop's approximation (it drops the paths through other neurons'
future states).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from snnfunc.online._layout import Layout
from snnfunc.online._linearize import Leaves, Linearization
from snnfunc.online._method import Method


def _leaf_tangent(
    lin: Linearization, own: list[int], c: Tensor, pattern: Tensor | None
) -> tuple[Leaves, None]:
    """State tangent: ``pattern`` (or ones) on own leaf number ``c``, zeros elsewhere."""
    leaves = list(lin.zeros_state)
    for local, leaf in enumerate(own):
        like = leaves[leaf]
        hot = (c == local).to(like.dtype)
        leaves[leaf] = hot * (torch.ones_like(like) if pattern is None else pattern)
    return tuple(leaves), None


def _elementwise(lin: Linearization, own: list[int]) -> Tensor:
    index = torch.arange(len(own), device=lin.state[own[0]].device)
    out = lin.state_tangents(lambda c: _leaf_tangent(lin, own, c, None), index)
    return torch.stack([out[leaf] for leaf in own], dim=1)  # [c_in, c_out, ..., N]


def _probed(lin: Linearization, own: list[int], shape: torch.Size) -> Tensor:
    k, n = len(own), shape[-1]
    eye = torch.eye(n, dtype=lin.state[own[0]].dtype, device=lin.state[own[0]].device)

    def make(i: Tensor) -> tuple[Leaves, None]:
        return _leaf_tangent(lin, own, i // n, eye[i % n].expand(shape))

    out = lin.state_tangents(make, torch.arange(k * n, device=eye.device))
    blocks = [torch.diagonal(out[leaf].reshape(k, n, *shape), dim1=1, dim2=-1) for leaf in own]
    return torch.stack(blocks, dim=1)  # [c_in, c_out, ..., N]


def _check_uncoupled(lin: Linearization, own: list[int], shape: torch.Size, layer: int) -> None:
    n = shape[-1]
    if n < 2:
        return
    like = lin.state[own[0]]
    first = torch.zeros(n, dtype=like.dtype, device=like.device)
    first[0] = 1
    out = lin.state_tangents(
        lambda c: _leaf_tangent(lin, own, c, first.expand(shape)),
        torch.arange(len(own), device=like.device),
    )
    if any(bool(out[leaf][..., 1:].ne(0).any()) for leaf in own):
        raise ValueError(
            f"the step couples the neurons of layer {layer} through its state (e.g. recurrent "
            "weights): pass recurrent=True for e-prop's per-neuron blocks"
        )


def eprop_decay(
    lin: Linearization, layout: Layout, options: Mapping[str, Any], first: bool
) -> list[Tensor | float]:
    """e-prop's :math:`D_t`: the per-neuron diagonal blocks of the state Jacobian."""
    out: list[Tensor | float] = []
    for layer, shape in enumerate(layout.shapes):
        own = layout.own(layer)
        if options["recurrent"]:
            out.append(_probed(lin, own, shape))
            continue
        if first:
            _check_uncoupled(lin, own, shape, layer)
        out.append(_elementwise(lin, own))
    return out


EPROP = Method(
    "eprop",
    eprop_decay,
    options={"recurrent": False},
    summary="eligibility traces through each neuron's own dynamics (Bellec et al. 2020)",
)
