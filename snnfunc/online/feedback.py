r"""Random feedback for hidden layers: a linear layer whose backward uses a fixed matrix.

e-prop's learning signal for a hidden neuron :math:`j` is
:math:`L^j_t = \sum_k B_{jk}\, \partial l_t / \partial y^k_t`. With :math:`B = W^\top` (the
readout's own weights, *symmetric* feedback) it is the step's plain VJP; *random* e-prop takes a
fixed random :math:`B`. Write the readout with :func:`feedback_linear` and the learning signal
that :func:`snnfunc.online.grad` pulls back through the step uses ``feedback`` instead of
``weight``, while the readout's own weight gradient is unchanged.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from snnfunc._checks import check_floating


def feedback_linear(
    x: Tensor, weight: Tensor, feedback: Tensor, bias: Tensor | None = None
) -> Tensor:
    r"""``F.linear(x, weight, bias)`` forward; the gradient to ``x`` goes through ``feedback``.

    .. math:: y = W x + b, \qquad \frac{\partial l}{\partial x} := F^\top
              \frac{\partial l}{\partial y}

    ``x: [..., M]``, ``weight, feedback: [C, M]``, ``bias: [C]`` -> ``[..., C]``. The gradients
    to ``weight`` and ``bias`` are the plain ones; ``feedback`` gets none. Written with
    ``detach`` only, so it works under every ``torch.func`` transform.

    >>> import torch
    >>> x, w, b = torch.ones(1, 2, requires_grad=True), torch.ones(1, 2), torch.full((1, 2), 3.0)
    >>> feedback_linear(x, w, b).sum().backward()
    >>> x.grad
    tensor([[3., 3.]])
    """
    check_floating("x", x)
    check_floating("weight", weight)
    check_floating("feedback", feedback)
    if feedback.shape != weight.shape:
        raise ValueError(
            f"feedback must have the shape of weight {tuple(weight.shape)}, "
            f"got {tuple(feedback.shape)}"
        )
    through = F.linear(x, feedback.detach())
    return F.linear(x.detach(), weight, bias) + through - through.detach()
