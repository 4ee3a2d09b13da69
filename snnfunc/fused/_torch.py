r"""Pure-torch fused forward and backward: the reference for the C++ kernel, and its fallback.

Both model families are one recurrence (``i`` only for the synaptic model, ``beta = 1`` for IF)::

    i_t = alpha * i_{t-1} + x_t                      # synaptic only; otherwise i_t = x_t
    h_t = beta * v_{t-1} + i_t
    reset_delay=False:  z_t = H(h_t - thr),      v_t = R(h_t, z_t)
    reset_delay=True:   r_t = H(v_{t-1} - thr),  v_t = R(h_t, r_t),  z_t = H(v_t - thr)

``R`` is the reset rule of :mod:`snnfunc.reset`. Every operation is the one the step functions use,
in the same order, so spikes and states equal ``scan(step)`` bit for bit. The backward recomputes
the forward (nothing but the inputs is saved) and runs the hand-derived BPTT recurrence below,
with ``S' = spike_fn.derivative``, ``gv``/``gi`` the gradients carried back through ``v``/``i``::

    reset_delay=False (d = S'(h_t - thr)):
        gz' = gz_t + [not detach] gv * dR/dz          dR/dz: subtract -thr, zero -h_t, none 0
        gh  = gv * dR/dh + gz' * d                    dR/dh: zero 1 - z_t, otherwise 1
        gthr += -gz' * d - [subtract] z_t * gv
    reset_delay=True (d = S'(v_t - thr); gr = dL/dr_{t+1}, 0 when detached):
        gv' = gv + (gz_t + gr) * d;   gthr += -(gz_t + gr) * d - [subtract] r_t * gv'
        gh  = gv' * dR/dh;            gr  = [not detach] gv' * dR/dr     (dR/dr as dR/dz)
    then:  gbeta += gh * v_{t-1};  gv = beta * gh
           synaptic: gi' = gi + gh;  gx_t = gi';  galpha += gi' * i_{t-1};  gi = alpha * gi'
           otherwise: gx_t = gh
    after t = 0 with reset_delay=True:  gv += gr * S'(v_{-1} - thr),  gthr += -gr * S'(v_{-1} - thr)

Only out-of-place torch ops are used, so this path also runs under ``vmap`` and ``torch.compile``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from snnfunc.reset import reset_rule
from snnfunc.surrogate import step

Param = Tensor | float | None

__all__ = ["forward", "backward"]


def _recurrence(
    x: Tensor,
    v0: Tensor,
    i0: Tensor | None,
    alpha: Param,
    beta: Param,
    thr: Tensor | float,
    cfg: Any,
    *,
    record: bool,
) -> tuple[Tensor, Tensor, Tensor | None, list[Tensor], list[Tensor], list[Tensor]]:
    """Run the forward; with ``record`` also return every ``h_t``, ``v_t`` and ``i_t``."""
    xs = [x] * cfg.num_steps if cfg.static else list(x.unbind(0))
    v, i = v0, i0
    spikes, hs, vs, is_ = [], [], [], []
    for x_t in xs:
        if i is not None:
            assert alpha is not None
            i = alpha * i + x_t
            cur = i
        else:
            cur = x_t
        h = beta * v + cur if beta is not None else v + cur
        if cfg.reset_delay:
            r = step(v - thr)
            v = reset_rule(h, r, thr, cfg.reset)
            z = step(v - thr)
        else:
            z = step(h - thr)
            v = reset_rule(h, z, thr, cfg.reset)
        spikes.append(z)
        if record:
            hs.append(h)
            vs.append(v)
            if i is not None:
                is_.append(i)
    return torch.stack(spikes), v, i, hs, vs, is_


def forward(
    x: Tensor,
    v0: Tensor,
    i0: Tensor | None,
    alpha: Param,
    beta: Param,
    thr: Tensor | float,
    cfg: Any,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Spikes ``[T, ...]``, final ``v`` and final ``i`` (``None`` without a synaptic current)."""
    spikes, v, i, _, _, _ = _recurrence(x, v0, i0, alpha, beta, thr, cfg, record=False)
    return spikes, v, i


def _reduce(g: Tensor | None, like: Param) -> Tensor | None:
    if g is None or not isinstance(like, Tensor):
        return None
    return g.sum_to_size(like.shape) if like.dim() > 0 else g.sum()


def backward(
    x: Tensor,
    v0: Tensor,
    i0: Tensor | None,
    alpha: Param,
    beta: Param,
    thr: Tensor | float,
    cfg: Any,
    g_spikes: Tensor | None,
    g_v: Tensor | None,
    g_i: Tensor | None,
    needs: tuple[bool, ...],
) -> tuple[Tensor | None, ...]:
    """Gradients ``(x, v0, i0, alpha, beta, thr)`` (``None`` where not needed)."""
    _, _, _, hs, vs, is_ = _recurrence(x, v0, i0, alpha, beta, thr, cfg, record=True)
    d_fn = cfg.spike_fn.derivative
    reset, delay, detach = cfg.reset, cfg.reset_delay, cfg.detach_reset
    need_alpha, need_beta, need_thr = needs[3], needs[4], needs[5]
    zero = torch.zeros_like(v0)
    gv = g_v if g_v is not None else zero
    gi = (g_i if g_i is not None else zero) if i0 is not None else None
    gr: Tensor | float = 0.0
    g_alpha: Tensor | float = 0.0
    g_beta: Tensor | float = 0.0
    g_thr: Tensor | float = 0.0
    gxs: list[Tensor] = []
    for t in range(cfg.num_steps - 1, -1, -1):
        h = hs[t]
        v_prev = vs[t - 1] if t > 0 else v0
        gz = g_spikes[t] if g_spikes is not None else 0.0
        if delay:
            d = d_fn(vs[t] - thr)
            a = gz + gr
            gv = gv + a * d
            r = step(v_prev - thr)
            if need_thr:
                g_thr = g_thr - a * d - (r * gv if reset == "subtract" else 0.0)
            gh = gv * (1 - r) if reset == "zero" else gv
            if not detach:
                gr = gv * (-thr if reset == "subtract" else -h if reset == "zero" else 0.0)
        else:
            d = d_fn(h - thr)
            z = step(h - thr)
            gz_total = gz
            if not detach and reset != "none":
                gz_total = gz + gv * (-thr if reset == "subtract" else -h)
            gh = (gv * (1 - z) if reset == "zero" else gv) + gz_total * d
            if need_thr:
                g_thr = g_thr - gz_total * d - (z * gv if reset == "subtract" else 0.0)
        if need_beta:
            g_beta = g_beta + gh * v_prev
        gv = gh * beta if beta is not None else gh
        if gi is not None:
            gi = gi + gh
            gxs.append(gi)
            if need_alpha:
                g_alpha = g_alpha + gi * (is_[t - 1] if t > 0 else i0)
            gi = gi * alpha
        else:
            gxs.append(gh)
    if delay and not detach:
        d0 = d_fn(v0 - thr)
        gv = gv + gr * d0
        if need_thr:
            g_thr = g_thr - gr * d0
    g_x: Tensor | None = None
    if needs[0]:
        g_x = torch.stack(gxs[::-1]) if not cfg.static else torch.stack(gxs).sum(0)
    return (
        g_x,
        gv if needs[1] else None,
        gi if needs[2] else None,
        _reduce(g_alpha if isinstance(g_alpha, Tensor) else None, alpha) if need_alpha else None,
        _reduce(g_beta if isinstance(g_beta, Tensor) else None, beta) if need_beta else None,
        _reduce(g_thr if isinstance(g_thr, Tensor) else None, thr) if need_thr else None,
    )
