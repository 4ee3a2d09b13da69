r"""One time step, linearised once: its outputs, its VJP and batched JVPs.

A step's surrogate spikes implement reverse mode only (:mod:`snnfunc.surrogate`), so a JVP is
taken as the transpose of the VJP (the "double-VJP" trick): the VJP
:math:`u \mapsto J^\top u` is linear in :math:`u`, and the VJP of that map at any :math:`u`
with cotangent :math:`v` is :math:`J v`. One linearisation per step serves the learning signal
(a VJP) and every eligibility-trace tangent (JVPs, batched with ``torch.func.vmap``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.func import vjp, vmap
from torch.utils._pytree import tree_map

Leaves = tuple[Tensor, ...]


class Linearization:
    """The step ``fn(state_leaves, param_leaves) -> (y, new_state_leaves)`` at one point.

    Attributes:
        y: the step's output (any pytree of tensors).
        state: the new state's leaves.
    """

    def __init__(
        self,
        fn: Callable[[Leaves, Leaves], tuple[Any, Leaves]],
        state: Leaves,
        params: Leaves,
    ) -> None:
        out, self._vjp = vjp(fn, state, params)  # type: ignore[misc]
        self.y: Any = out[0]
        self.state: Leaves = tuple(out[1])
        self.zeros_state: Leaves = tuple(torch.zeros_like(s) for s in state)
        self.zeros_params: Leaves = tuple(torch.zeros_like(p) for p in params)
        u = tree_map(torch.zeros_like, out)
        _, self._jvp = vjp(self._vjp, u)  # type: ignore[misc]

    def pullback(self, g_y: Any) -> tuple[Leaves, Leaves]:
        """``(dl/dstate_prev, dl/dparams)`` for a cotangent ``g_y`` of the output ``y``."""
        g_state = tuple(torch.zeros_like(s) for s in self.state)
        g_s, g_p = self._vjp((g_y, g_state))
        return tuple(g_s), tuple(g_p)

    def state_tangents(
        self, make: Callable[[Tensor], tuple[Leaves | None, Leaves | None]], index: Tensor
    ) -> Leaves:
        """The new state's tangents :math:`J v` for a batch of tangents ``v``.

        ``make(i) -> (v_state, v_params)`` builds one tangent from one entry of ``index``
        (``None`` for zeros); it runs under ``vmap`` over ``index``'s dim 0. Returns one tensor
        per state leaf, ``[len(index), *leaf.shape]``.
        """

        def one(i: Tensor) -> Leaves:
            v_state, v_params = make(i)
            cotangent = (
                self.zeros_state if v_state is None else v_state,
                self.zeros_params if v_params is None else v_params,
            )
            (tangent,) = self._jvp(cotangent)
            return tuple(tangent[1])

        out: Leaves = vmap(one)(index)
        return out
