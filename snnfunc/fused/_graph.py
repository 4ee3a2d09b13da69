r"""The graph executor: a traced :class:`~snnfunc.fused._trace.Plan` run with torch ops.

The fused algorithm without a generated kernel, for any device and dtype: the forward runs the
traced step graph ``T`` times; the backward recomputes the states (nothing but the inputs is
saved), then runs the traced VJP graph from ``t = T - 1`` down to 0::

    s_0 = state;  for t < T:  y_t, s_{t+1} = F(s_t, x_t, p)                 (forward)
    gs = gs_T;    for t = T-1 .. 0:  gs, gx_t, gp_t = VJP(s_t, x_t, p, gy_t, gs);  gp = sum_t gp_t

The graphs hold the very ATen ops the step ran, so the forward equals ``scan(step)`` bit for bit
on every device and dtype. Tensors here are plain (the custom op unwraps transforms), every leaf
has the element shape ``[*E]`` or is a 0-d scalar param.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, fx

from snnfunc.fused._trace import FACTORIES, Plan

__all__ = ["forward", "backward"]

_aten = torch.ops.aten
_RUNNABLE: dict[int, tuple[fx.GraphModule, fx.GraphModule]] = {}


def runnable(gm: fx.GraphModule) -> fx.GraphModule:
    """``gm`` with its element-shaped constants made 0-d (they broadcast to any ``[*E]``)."""
    cached = _RUNNABLE.get(id(gm))
    if cached is not None and cached[0] is gm:
        return cached[1]
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in gm.graph.nodes:
        packet = getattr(node.target, "overloadpacket", None)
        if node.op == "call_function" and packet in FACTORIES:
            val = node.meta["val"]
            fills: dict[Any, Any] = {_aten.zeros: 0, _aten.new_zeros: 0, _aten.ones: 1}
            fill = {**fills, _aten.new_ones: 1}.get(packet, node.args[-1])
            env[node] = graph.call_function(
                _aten.scalar_tensor.default, (fill,), {"dtype": val.dtype, "device": None}
            )
        elif node.op == "call_function" and packet is _aten.expand:
            env[node] = env[node.args[0]]  # broadcasting does it
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
    out = fx.GraphModule(gm, graph)
    _RUNNABLE[id(gm)] = (gm, out)
    return out


def _call(gm: fx.GraphModule, args: Sequence[Tensor], shape: torch.Size) -> list[Tensor]:
    device = args[0].device
    outs = runnable(gm)(*args)
    return [
        o.to(device).expand(shape) if o.shape != shape or o.device != device else o for o in outs
    ]


def _at(xs: Sequence[Tensor], t: int, static: bool) -> list[Tensor]:
    return list(xs) if static else [x[t] for x in xs]


def _run(
    plan: Plan,
    num_steps: int,
    static: bool,
    xs: Sequence[Tensor],
    state: Sequence[Tensor],
    params: Sequence[Tensor],
    *,
    keep_states: bool,
) -> tuple[list[list[Tensor]], list[list[Tensor]]]:
    """Every step's outputs ``y_t``, and the states ``s_0 .. s_T`` (lists of leaves) with
    ``keep_states``, else only ``[s_T]``."""
    ny, shape = plan.num_y, state[0].shape
    ys, ss = [], [list(state)]
    for t in range(num_steps):
        outs = _call(plan.forward, [*ss[-1], *_at(xs, t, static), *params], shape)
        ys.append(outs[:ny])
        ss.append(outs[ny:])
        if not keep_states:
            del ss[0]
    return ys, ss


def forward(
    plan: Plan,
    num_steps: int,
    static: bool,
    xs: Sequence[Tensor],
    state: Sequence[Tensor],
    params: Sequence[Tensor],
) -> list[Tensor]:
    """``(*ys [T, *E], *state_T [*E])``."""
    ys, ss = _run(plan, num_steps, static, xs, state, params, keep_states=False)
    return [*(torch.stack(column) for column in zip(*ys, strict=True)), *ss[-1]]


def backward(
    plan: Plan,
    num_steps: int,
    static: bool,
    xs: Sequence[Tensor],
    state: Sequence[Tensor],
    params: Sequence[Tensor],
    gys: Sequence[Tensor | None],
    gs_last: Sequence[Tensor | None],
) -> list[Tensor]:
    """``(*gxs, *gstate_0, *gparams)``; a param's gradient has the element shape ``[*E]``."""
    ns, nx, npar = plan.num_state, plan.num_x, plan.num_params
    shape = state[0].shape
    y_mask = tuple(g is not None for g in gys)
    masks = plan.mask_sequence(y_mask, tuple(g is not None for g in gs_last))
    s_all = _run(plan, num_steps, static, xs, state, params, keep_states=True)[1]  # s_0 .. s_T
    gs: list[Tensor | None] = list(gs_last)
    gps: list[Tensor] = [torch.zeros_like(state[0]) for _ in range(npar)]
    gx_rows: list[list[Tensor]] = [[] for _ in range(nx)]
    for t in range(num_steps - 1, -1, -1):
        s_mask = masks[min(num_steps - 1 - t, len(masks) - 1)]
        if not any(y_mask) and not any(s_mask):  # nothing reaches this step: no terms
            for rows in gx_rows:
                rows.append(torch.zeros_like(state[0]))
            continue
        gm = plan.backward(y_mask, s_mask)
        cot: list[Tensor] = [g[t] for g in gys if g is not None]
        cot += [g for g, m in zip(gs, s_mask, strict=True) if m and g is not None]
        outs = _call(gm, [*s_all[t], *_at(xs, t, static), *params, *cot], shape)
        before = plan.present_before(y_mask, s_mask)
        gs = [g if m else None for g, m in zip(outs[:ns], before, strict=True)]
        for rows, g in zip(gx_rows, outs[ns : ns + nx], strict=True):
            rows.append(g)
        gps = [a + b for a, b in zip(gps, outs[ns + nx :], strict=True)]
    gxs = [torch.stack(rows).sum(0) if static else torch.stack(rows[::-1]) for rows in gx_rows]
    return [*gxs, *(g if g is not None else torch.zeros_like(state[0]) for g in gs), *gps]
